"""ROUNDS_WORKER_NICE: `rounds worker` runs below the web processes of its host, so a student's
reply is not kept waiting behind a scheduling pass or a send job (bench/FINDINGS.md, the soak).

A real `rounds worker` process, its niceness read back from the kernel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from redis import Redis
from rq import Worker

from store.settings import Settings
from tests.test_faults import _die_with_the_test

pytestmark = pytest.mark.slow


def start_worker(app_settings, **extra: str) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=app_settings.database_url, REDIS_URL=app_settings.redis_url)
    env.pop("ROUNDS_WORKER_NICE", None)
    env.update(extra)
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker", "--without-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_die_with_the_test,
    )


def niceness_once_working(app_settings, process: subprocess.Popen) -> int:
    redis = Redis.from_url(app_settings.redis_url)
    deadline = time.monotonic() + 60
    try:
        while not Worker.all(connection=redis):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.1)
        return os.getpriority(os.PRIO_PROCESS, process.pid)
    finally:
        process.terminate()
        process.wait(30)
        redis.close()


def test_a_worker_runs_below_the_web_processes_by_the_setting(app_settings):
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    process = start_worker(app_settings, ROUNDS_WORKER_NICE="7")
    assert niceness_once_working(app_settings, process) == min(19, ours + 7)


def test_without_the_setting_a_worker_keeps_the_priority_it_was_started_with(app_settings):
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    process = start_worker(app_settings)
    assert niceness_once_working(app_settings, process) == ours


@pytest.mark.parametrize("raw", ["-5", "20", "ten"])
def test_a_niceness_out_of_range_is_refused_with_the_range(raw):
    with pytest.raises(ValueError, match="ROUNDS_WORKER_NICE must be"):
        Settings.from_env({"ROUNDS_WORKER_NICE": raw})


def test_the_default_is_the_web_processes_own_priority():
    assert Settings.from_env({}).worker_nice == 0
    assert Settings.from_env({"ROUNDS_WORKER_NICE": "10"}).worker_nice == 10
