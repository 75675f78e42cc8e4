"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks, print the table, and rewrite
bench/RESULTS.md. Needs wrk (Debian: apt-get install wrk), PostgreSQL at ROUNDS_BENCH_PG_URL
(default postgresql://postgres@127.0.0.1:5432/test) and redis-server; each run starts its own Redis.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    contention,
    cost,
    fanout,
    impact,
    itemstats,
    memory,
    prune,
    report,
    routing,
    rush,
    search,
    send,
    services,
    soak,
    tick,
    webhook,
    weekly,
    window,
)

BENCHMARKS = {
    "webhook": webhook.run,
    "send": send.run,
    "fanout": fanout.run,
    "tick": tick.run,
    "rush": rush.run,  # 100,000 due in one minute, 1 to 3 scheduling passes
    "weekly": weekly.run,
    "cost": cost.run,
    "languages": cost.run_languages,  # French and Spanish students' segments (bench/cost.py)
    "search": search.run,
    "routing": routing.run,  # cost per student-day, SMS only against two channels, by country
    "prune": prune.run,
    "itemstats": itemstats.run,
    "impact": impact.run,
    "window": window.run,  # WhatsApp pushes inside the free 24 h window
    "soak": soak.run,  # one simulated day against the Procfile's processes (bench/soak.py)
    "memory": memory.run,  # last: it reports what webhook and send read
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Run the benchmarks, print the table, rewrite bench/RESULTS.md."
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes and shorter runs (a few minutes)")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    args = parser.parse_args(argv)
    chosen = [name for name in BENCHMARKS if not args.only or name in args.only]
    command = (
        "python -m bench"
        + (" --quick" if args.quick else "")
        + "".join(f" --only {n}" for n in args.only or [])
    )
    if os.environ.get("MAKELEVEL") and not args.quick and not args.only:
        command = "make bench"
    started, clock = datetime.now(UTC), time.perf_counter()
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"{command}: {', '.join(chosen)} (load average before: {' '.join(load)})", flush=True)
    results = report.Results()
    readings: dict[str, int] = {}
    redis = services.RedisServer()
    servers = {"Redis server": redis.version()}
    if services.postgres_available():
        servers["PostgreSQL server"] = services.postgres_version()
    sampler = contention.Sampler().__enter__()
    try:
        for name in chosen:
            print(f"== {name}", flush=True)
            began = time.perf_counter()
            try:
                BENCHMARKS[name](results, args.quick, redis, readings)
            except services.Unavailable as exc:
                results.note(name, f"skipped: {exc}")
            except Exception as exc:  # one broken benchmark should not lose the others' figures
                traceback.print_exc()
                results.note(name, f"failed: {type(exc).__name__}: {exc}")
            finally:
                redis.flush()
            results.note(name, f"took {time.perf_counter() - began:.0f} s")
    finally:
        redis.close()
        sampler.__exit__()
    elapsed = time.perf_counter() - clock
    used, top = sampler.others()
    others = f"{used:.0f} CPU-seconds ({used / elapsed:.2f} of a core on average)" + (
        ": " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in top) if top else ""
    )
    print()
    print(report.table(results.figures, markdown=False))
    if args.only:  # a partial run updates its own section and keeps the full run's figures
        report.write_partial(results, command, started, elapsed, load, others, args.quick)
    else:
        report.write(results, command, servers, started, elapsed, load, others, args.quick)
    print(f"\nwrote {report.RESULTS} in {elapsed / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
