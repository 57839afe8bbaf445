"""Small server-side SVG charts: no script, nothing fetched, CSP-friendly.

Each function takes plain numbers and labels and returns an SVG string
whose every text node is escaped. They are cheap enough to draw a year of
weekly sessions on every dashboard view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Collection, Sequence

from markupsafe import Markup

__all__ = ["Series", "line_chart", "bar_chart", "presence_grid"]

W, H = 480, 180
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 10, 24


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[str, float | None]]  # (x label, y)


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _frame(y_min: float, y_max: float, title: str, ticks: int = 3) -> list[str]:
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}"/>',
    ]
    for i in range(ticks + 1):
        value = y_min + (y_max - y_min) * i / ticks
        y = _y(value, y_min, y_max)
        parts.append(f'<text x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{_fmt(value)}</text>')
    return parts


def _y(value: float, y_min: float, y_max: float) -> float:
    span = (y_max - y_min) or 1.0
    return TOP + (H - TOP - BOTTOM) * (1 - (value - y_min) / span)


def _x(i: int, n: int) -> float:
    if n <= 1:
        return (LEFT + W - RIGHT) / 2
    return LEFT + 6 + (W - LEFT - RIGHT - 12) * i / (n - 1)


CHAR_WIDTH = 5.6  # px per character at the charts' 10px font, generously
LABEL_GAP = 8


def _label_step(labels: Sequence[str], spacing: float) -> int:
    """Every how many-th label fits without two running into each other."""
    widest = max((len(label) for label in labels), default=0) * CHAR_WIDTH + LABEL_GAP
    return max(1, math.ceil(widest / max(spacing, 1e-6)))


def _axis_label(x: float, text: str, left: float, right: float) -> tuple[float, float, str, float]:
    """(first px, last px, anchor, anchor x) of a label centred on ``x``, kept inside the chart."""
    width = len(text) * CHAR_WIDTH
    if x - width / 2 < left:
        return left, left + width, "start", left
    if x + width / 2 > right:
        return right - width, right, "end", right
    return x - width / 2, x + width / 2, "middle", x


def _x_labels(labels: Sequence[str], positions: Sequence[float] | None = None, *, left: float = 0,
              right: float = W, y: float = H - 8) -> list[str]:
    """Labels under the x axis: as many as fit, none cut at the edge, none running into another."""
    n = len(labels)
    if not n:
        return []
    positions = positions if positions is not None else [_x(i, n) for i in range(n)]
    spacing = (positions[-1] - positions[0]) / (n - 1) if n > 1 else W
    step = _label_step(labels, spacing)
    out, last_end = [], -math.inf
    for i in range(0, n, step):
        start, end, anchor, x = _axis_label(positions[i], labels[i], left + 1, right - 1)
        if start < last_end + LABEL_GAP:
            continue
        last_end = end
        out.append(f'<text x="{x:.1f}" y="{y}" text-anchor="{anchor}">{escape(labels[i])}</text>')
    return out


def line_chart(series: Sequence[Series], *, y_min: float, y_max: float, title: str) -> Markup:
    """Lines over shared x labels (the union of every series' labels, in order)."""
    labels: list[str] = []
    for s in series:
        for label, _ in s.points:
            if label not in labels:
                labels.append(label)
    labels.sort()
    pos = {label: i for i, label in enumerate(labels)}
    parts = _frame(y_min, y_max, title)
    for k, s in enumerate(series):
        pts = [(pos[label], y) for label, y in s.points if y is not None]
        if len(pts) > 1:
            d = " ".join(f"{_x(i, len(labels)):.1f},{_y(y, y_min, y_max):.1f}" for i, y in pts)
            parts.append(f'<polyline class="s{k % 2}" points="{d}"/>')
        for i, y in pts:
            parts.append(
                f'<circle class="d{k % 2}" cx="{_x(i, len(labels)):.1f}" cy="{_y(y, y_min, y_max):.1f}" r="2.5">'
                f"<title>{escape(s.label)} {escape(labels[i])}: {_fmt(y)}</title></circle>"
            )
    parts.extend(_x_labels(labels))
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(labels: Sequence[str], series: Sequence[Series], *, title: str, marked: Collection[str] = (),
              mark: str = "entered by the patient") -> Markup:
    """Grouped bars: one group per label, one bar per series; ``marked`` labels get a dot above the bars."""
    y_max = max([y for s in series for _, y in s.points if y is not None] + [1])
    parts = _frame(0, y_max, title)
    n, k_count = len(labels), max(1, len(series))
    slot = (W - LEFT - RIGHT - 12) / max(1, n)
    width = max(1.0, slot * 0.8 / k_count)
    for k, s in enumerate(series):
        values = dict(s.points)
        for i, label in enumerate(labels):
            y = values.get(label)
            if y is None:
                continue
            x = LEFT + 6 + slot * i + width * k
            top = _y(y, 0, y_max)
            parts.append(
                f'<rect class="bar{k % 2}" x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{H - BOTTOM - top:.1f}">'
                f"<title>{escape(s.label)} {escape(label)}: {_fmt(y)}</title></rect>"
            )
    for i, label in enumerate(labels):
        if label in marked:
            parts.append(f'<circle class="mark" cx="{LEFT + 6 + slot * (i + 0.5):.1f}" cy="{TOP + 3}" r="2.5">'
                         f"<title>{escape(label)}: {escape(mark)}</title></circle>")
    parts.extend(_x_labels(list(labels), [LEFT + 6 + slot * (i + 0.5) for i in range(n)]))
    parts.append("</svg>")
    return Markup("".join(parts))


def presence_grid(columns: Sequence[str], rows: Sequence[tuple[str, set[str]]], *, title: str) -> Markup:
    """Which row categories were present in which column (e.g. modes per session)."""
    row_h = 22
    height = TOP + row_h * len(rows) + BOTTOM
    left = 140
    n = len(columns)
    cell = (W - left - RIGHT) / max(1, n)
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for r, (name, present) in enumerate(rows):
        y = TOP + row_h * r
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(name)}</text>')
        for c, column in enumerate(columns):
            if column in present:
                parts.append(
                    f'<rect class="cell" x="{left + cell * c:.1f}" y="{y + 3}" width="{max(cell - 1, 1):.1f}" height="{row_h - 6}">'
                    f"<title>{escape(name)}: {escape(column)}</title></rect>"
                )
    centres = [left + cell * (c + 0.5) for c in range(n)]
    parts.extend(_x_labels(list(columns), centres, left=left, right=W - RIGHT, y=height - 8))
    parts.append("</svg>")
    return Markup("".join(parts))
