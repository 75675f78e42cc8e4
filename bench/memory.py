"""Memory: resident size (VmRSS from /proc) of a gunicorn web worker and an RQ worker.

Read by the webhook and send benchmarks at the end of their runs, before each process stops;
this module turns those readings into figures.
"""

from __future__ import annotations

from bench import services
from bench.report import Figure, Results


def run(results: Results, quick: bool, redis: services.RedisServer, memory: dict[str, int]) -> None:
    if not memory:
        results.note("memory", "nothing to report: run it together with webhook and send, which read VmRSS")
        return
    for label, kib in memory.items():
        results.add(Figure("memory", label, "VmRSS", [kib / 1024], "MiB"))
