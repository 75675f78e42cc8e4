"""Charts as inline SVG drawn on the server: no script, a few kilobytes each, readable on a slow link.

Colours come from classes styled in admin.css; each bar carries a <title> with its value.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 150, 34, 18, 8


def _nice_max(value: float) -> float:
    """A round top for the axis (1, 2, 5 x 10^n) so the gridline label reads well."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def bar_chart(title: str, days: Sequence[str], series: Sequence[tuple[str, Sequence[int], str]]) -> Markup:
    """Bars per day; several series stand side by side within a day. `series` = (name, values, css class)."""
    count = max(len(days), 1)
    top = _nice_max(max((max(values, default=0) for _, values, _ in series), default=0))
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    slot = plot_w / count
    bar = max(slot * 0.8 / max(len(series), 1), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - 4}" y2="{TOP}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 4}" y2="{TOP + plot_h}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{top:g}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>',
    ]
    for index, day in enumerate(days):
        x0 = LEFT + index * slot + slot * 0.1
        for number, (name, values, css) in enumerate(series):
            value = values[index] if index < len(values) else 0
            if value <= 0:
                continue  # an empty day draws nothing, which keeps sparse charts small
            height = plot_h * value / top
            x = x0 + number * bar
            parts.append(
                f'<rect class="{css}" x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}"><title>{escape(day)} {escape(name)}: {value}</title></rect>'
            )
    for index in (0, len(days) // 2, len(days) - 1) if days else ():
        x = LEFT + index * slot + slot / 2
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 4}" text-anchor="middle">{days[index][5:]}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def percent_bars(title: str, rows: Sequence[tuple[str, int, int]]) -> Markup:
    """Horizontal bars of a percentage per label: (label, percent, how many it is out of)."""
    line = 18
    height = max(len(rows), 1) * line + 6
    label_w = 130
    plot_w = WIDTH - label_w - 80  # room for '100% (12345)' after the bar
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, percent, out_of) in enumerate(rows):
        y = 3 + index * line
        width = plot_w * max(0, min(percent, 100)) / 100
        parts.append(
            f'<text class="label" x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(label)}</text>'
        )
        parts.append(f'<rect class="track" x="{label_w}" y="{y + 2}" width="{plot_w}" height="{line - 6}"/>')
        parts.append(
            f'<rect class="bar-a" x="{label_w}" y="{y + 2}" width="{width:.1f}" height="{line - 6}">'
            f"<title>{escape(label)}: {percent}% of {out_of}</title></rect>"
        )
        parts.append(
            f'<text class="tick" x="{label_w + plot_w + 6}" y="{y + 12}">{percent}% ({out_of})</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]]
) -> Markup:
    """Lines of percentages (0-100) over `labels`, one per series; a gap where a value is None.
    Series take the classes line-0, line-1, ... (admin.css colours the first six)."""
    count = max(len(labels) - 1, 1)
    plot_w, plot_h = WIDTH - LEFT - 90, HEIGHT - BOTTOM - TOP
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT + plot_w}" y2="{TOP}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">100%</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>',
    ]
    for number, (name, values) in enumerate(series[:6]):
        points, runs = [], []
        for index, value in enumerate(values):
            if value is None:
                if points:
                    runs.append(points)
                points = []
                continue
            x = LEFT + plot_w * index / count
            y = TOP + plot_h * (1 - max(0.0, min(value, 100.0)) / 100)
            points.append(f"{x:.1f},{y:.1f}")
        if points:
            runs.append(points)
        for run in runs:
            parts.append(
                f'<polyline class="line-{number}" fill="none" points="{" ".join(run)}">'
                f"<title>{escape(name)}</title></polyline>"
            )
        parts.append(
            f'<text class="label line-{number}" x="{LEFT + plot_w + 6}" y="{TOP + 12 + 14 * number}">'
            f"{escape(name)}</text>"
        )
    for index in range(0, len(labels), max(1, len(labels) // 6)):
        x = LEFT + plot_w * index / count
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 4}" text-anchor="middle">'
            f"{escape(labels[index])}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
