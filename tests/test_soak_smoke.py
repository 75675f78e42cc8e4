"""The soak harness (bench/soak.py) still runs: a tiny replay of the morning rush against gunicorn,
two RQ workers, the clock, a private PostgreSQL and Redis, producing every figure of its report."""

from __future__ import annotations

import math
import shutil
from datetime import timedelta

import pytest

from bench import services, soak
from bench.report import Results

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("initdb", "redis-server"))
    or not services.executable("gunicorn").exists(),
    reason="the soak needs initdb, redis-server and gunicorn",
)

PROCESSES = ("web", "worker1", "worker2", "clock", "postgresql", "redis")


@pytest.fixture
def redis_server():
    server = services.RedisServer()
    yield server
    server.close()


def test_a_tiny_soak_produces_every_figure(redis_server):
    # 06:40-07:20 UTC at x120: twenty seconds of replay holding 08:00 in Lagos and the broadcast.
    result = soak.run_soak(
        redis_server, 150, 120.0, timedelta(hours=6, minutes=40), timedelta(hours=7, minutes=20)
    )
    figures, arithmetic = soak.derive(result)

    assert result.questions > 0 and result.inbound, "students got questions and answered them"
    assert result.broadcast > 0, "the broadcast went to one country's students"
    assert all(i.status == 200 for i in result.inbound), "every signed webhook was accepted"
    assert result.failed_jobs == 0, "no job of the workers raised"
    for name in PROCESSES:
        assert f"cpu_ms_per_learner_day.{name}" in figures
        assert figures[f"rss_mib.{name}"] > 0
    for name in ("web", "worker1", "postgresql"):
        assert figures[f"cpu_ms_per_learner_day.{name}"] > 0
    for key in (
        "inbound_peak_per_s_wall",
        "reply_p50_ms",
        "reply_p99_ms",
        "lateness_p50_s",
        "lateness_p99_s",
        "carrier_wait_p50_s",
        "carrier_wait_p99_s",
        "disk_bytes_per_learner_day",
        "learners_by_cpu",
        "learners_by_tick",
        "learners_real_time_equivalent",
    ):
        assert math.isfinite(figures[key]) and figures[key] > 0, key
    assert "learners_per_2_core_server" in figures
    assert figures["peak_harness_cpu_seconds"] > 0, "the replay's own CPU is sampled apart from the server's"
    assert "harness" not in result.cpu, "and never counted as the server's"
    assert any(line.startswith("learners per 2-core server = min(") for line in arithmetic)

    results = Results()
    soak.report(results, result, figures, arithmetic)
    assert any(f.case.startswith("learners per 2-core server") for f in results.figures)
