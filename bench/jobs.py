"""Jobs only the benchmarks enqueue: the no-op that RQ's own per-job cost is measured with."""


def noop() -> None:
    """Does nothing, so a worker running these shows RQ's overhead per job."""
