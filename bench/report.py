"""Figures, the results table and bench/RESULTS.md: machine, versions, command, every median.

A Figure holds every run; its value is the median, and speeds carry a ratio to the
baseline measured in the same run.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


@dataclass
class Figure:
    bench: str
    case: str
    metric: str
    runs: list[float]
    unit: str = ""
    baseline: str = ""  # what `ratio` divides by, in words
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def value(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    def compare(self, baseline: Figure, name: str = "") -> Figure:
        """Set the ratio of this figure's median to `baseline`'s (same run)."""
        if baseline.value:
            self.ratio = self.value / baseline.value
        self.baseline = name or baseline.case
        return self


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)  # e.g. query plans, by title

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(
            f"  {figure.bench:8} {figure.case:52} {figure.metric:12} {_number(figure.value):>10} "
            f"{figure.unit}  runs={','.join(_number(r) for r in figure.runs)}",
            flush=True,
        )
        return figure

    def note(self, bench: str, text: str) -> None:
        self.notes.setdefault(bench, []).append(text)
        print(f"  note: {text}", flush=True)


def _number(value: float) -> str:
    if value != value:  # NaN
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _met(figure: Figure) -> str:
    return "" if figure.met is None else ("yes" if figure.met else "**no**")


def table(figures: list[Figure], markdown: bool) -> str:
    header = ["Benchmark", "Case", "Metric", "Median", "Runs", "vs baseline", "Target", "Met"]
    rows = []
    for f in figures:
        ratio = f"{f.ratio:.2f}x {f.baseline}" if f.ratio is not None else ""
        rows.append(
            [
                f.bench,
                f.case,
                f.metric,
                f"{_number(f.value)} {f.unit}".strip(),
                ", ".join(_number(r) for r in f.runs),
                ratio,
                f.target,
                _met(f),
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    widths[4] = min(widths[4], 28)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    for row in rows:
        row[4] = row[4] if len(row[4]) <= 28 else row[4][:25] + "..."
        out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(out)


def machine() -> dict[str, str]:
    """Cores, memory and CPU model from /proc."""
    info = {"cores": str(os.cpu_count())}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["kernel"] = platform.release()
    return info


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions(servers: dict[str, str]) -> dict[str, str]:
    found = {"Python": platform.python_version()}
    for name, dist in (
        ("Flask", "flask"),
        ("SQLAlchemy", "sqlalchemy"),
        ("rq", "rq"),
        ("redis-py", "redis"),
        ("twilio", "twilio"),
        ("gunicorn", "gunicorn"),
        ("psycopg", "psycopg"),
    ):
        found[name] = _package(dist)
    try:
        first = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()
        found["wrk"] = first[0].split()[1] if first else "unknown"
    except OSError:
        found["wrk"] = "not installed"
    found.update(servers)
    return found


def _run_line(started: datetime, elapsed: float, load: list[str], others: str) -> str:
    """When the run was, how long it took and how busy the machine was: full and partial runs alike."""
    return (
        f"- Run: {started.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}, {elapsed / 60:.1f} minutes; "
        f"load average before it started: {' '.join(load)}; CPU used by other processes during it "
        f"(not this benchmark's servers, workers or databases): {others}"
    )


def write(
    results: Results,
    command: str,
    servers: dict[str, str],
    started: datetime,
    elapsed: float,
    load: list[str],
    others: str,
    quick: bool,
) -> None:
    """Rewrite bench/RESULTS.md with everything measured in this run (a `--only` run goes to
    `write_partial` instead)."""
    host = machine()
    found = versions(servers)
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench`); every figure is the median of the runs shown, "
        "and every speed is also given as a ratio to its baseline measured in the same run. "
        "Do not edit by hand: run it again.",
        "",
        f"- Command: `{command}`" + (" (quick sizes: smaller populations, shorter runs)" if quick else ""),
        _run_line(started, elapsed, load, others),
        f"- Machine: {host.get('cores')} cores ({host.get('cpu', 'unknown CPU')}), "
        f"{host.get('memory', '?')} memory, Linux {host.get('kernel')}; load generator, servers and "
        "databases all on this one machine",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in found.items()),
        "- What the profiles showed, what was changed (with before/after figures) and what is proposed: "
        "[FINDINGS.md](FINDINGS.md)",
        "",
        "## Figures",
        "",
        table(results.figures, markdown=True),
        "",
    ]
    for bench, notes in results.notes.items():
        lines += [f"## Notes: {bench}", ""] + [f"- {n}" for n in notes] + [""]
    for title, body in results.extra.items():
        lines += [f"## {title}", "", "```", body.rstrip(), "```", ""]
    RESULTS.write_text("\n".join(lines))


def write_partial(
    results: Results,
    command: str,
    started: datetime,
    elapsed: float,
    load: list[str],
    others: str,
    quick: bool,
) -> None:
    """Put a `--only` run's figures in their own section of bench/RESULTS.md, replacing that
    command's earlier section and leaving the rest (the last full run) as it was."""
    begin, end = f"<!-- partial: {command} -->", f"<!-- end partial: {command} -->"
    host = machine()
    lines = [
        begin,
        f"## Partial run: `{command}`" + (" (quick sizes)" if quick else ""),
        "",
        _run_line(started, elapsed, load, others),
        f"- Machine: {host.get('cores')} cores ({host.get('cpu', 'unknown CPU')}), "
        f"Python {platform.python_version()}",
        "",
        table(results.figures, markdown=True),
        "",
    ]
    for bench, notes in results.notes.items():
        lines += [f"- {bench}: {n}" for n in notes]
    lines.append(end)
    section = "\n".join(lines)
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)
