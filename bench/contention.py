"""Who else used the CPU during a run: a sampler over /proc, so RESULTS.md can say whether the
figures were taken on a quiet machine (other engineers' test suites share these 2 cores).

Ours: this process's descendants and PostgreSQL backends serving a rounds_bench_ database.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, float, str]]:
    """pid -> (parent pid, CPU seconds so far, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS, command)
    return found


class Sampler:
    """Samples every `interval` seconds; `others()` is CPU-seconds used outside the benchmark."""

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self.root = os.getpid()
        self.used: Counter[str] = Counter()
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._sample(count=False)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self._sample()

    def _ours(self, pid: int, table: dict[int, tuple[int, float, str]]) -> bool:
        if "rounds_bench_" in table[pid][2]:
            return True
        seen = 0
        while pid > 1 and seen < 64:
            if pid == self.root:
                return True
            pid, seen = table.get(pid, (0, 0.0, ""))[0], seen + 1
        return False

    def _sample(self, count: bool = True) -> None:
        table = _processes()
        for pid, (_parent, cpu, command) in table.items():
            before = self.last.get(pid, cpu if not count else 0.0)
            self.last[pid] = cpu
            if count and cpu > before and command and not self._ours(pid, table) and not _shared(command):
                self.used[_name(command)] += cpu - before

    def others(self) -> tuple[float, list[tuple[str, float]]]:
        return sum(self.used.values()), self.used.most_common(3)


# PostgreSQL's own processes (WAL writer, checkpointer...) work for every database, ours included.
_SHARED = (
    "checkpointer",
    "walwriter",
    "background writer",
    "autovacuum",
    "logical replication",
    "bin/postgres",
)


def _shared(command: str) -> bool:
    return command.startswith(("postgres", "/usr/lib/postgresql")) and any(w in command for w in _SHARED)


def _name(command: str) -> str:
    words = command.split()
    if "pytest" in command:
        return "pytest"
    if words and words[0].startswith("postgres"):
        return "postgres (other databases)"
    return Path(words[0]).name if words else "?"
