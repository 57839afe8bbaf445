"""Small server-side SVG charts on a time axis: no script, nothing fetched, CSP-friendly.

    points (when, value, date as shown) ─► TimeAxis (month ticks) ─► line_chart / presence_grid ─► SVG

x is time, not the record's rank: three months without a record look like
three months. Each chart has one y scale. A line is broken where a value is
missing and where two records are much further apart than usual
(:data:`GAP_FACTOR` times the median interval), so a gap shows as a gap.
Two records of one day get distinct x (:data:`SAME_DAY_SEP` apart). Every
point is a focusable element whose ``<title>`` says "2 Mar 2026: 3"; hovering
or focusing it shows the same words in the chart (CSS only, see
``static/dashboard.css``). Every text node is escaped. Pure functions of their
arguments: the caller turns records into points and local dates.
"""

from __future__ import annotations

import datetime as _dt
import math
import statistics
from dataclasses import dataclass
from html import escape
from typing import Sequence

from markupsafe import Markup

__all__ = ["Point", "Series", "TimeAxis", "line_chart", "presence_grid", "positions", "segments",
           "GAP_FACTOR", "fmt"]

W, H = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 14, 16, 30
#: px per character at the charts' 13 px font, generously (labels must never collide).
CHAR_WIDTH = 7.4
LABEL_GAP = 10
#: A line is broken between two points more than this many times the series' median interval apart
#: (weekly records: two missing in a row; one missing record is bridged).
GAP_FACTOR = 2.5
#: The least x distance between two records of the same day.
SAME_DAY_SEP = 3.0
MONTH_STEPS = (1, 2, 3, 6, 12, 24)


@dataclass(frozen=True)
class Point:
    """One record's value: where it sits in time (local), its value, its date as shown."""

    at: _dt.datetime
    value: float | None
    label: str
    #: Drawn with a mark above the chart (e.g. entered by the patient).
    marked: bool = False


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[Point]


def fmt(v: float) -> str:
    """A value as shown: at most two decimals, no trailing zeros."""
    return f"{v:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class TimeAxis:
    """The time span drawn, the same for every chart of a page so that they line up."""

    start: _dt.datetime
    end: _dt.datetime

    @classmethod
    def spanning(cls, moments: Sequence[_dt.datetime]) -> "TimeAxis":
        """From a little before the first moment to a little after the last (a fortnight each way for one)."""
        if not moments:
            today = _dt.datetime.combine(_dt.date.today(), _dt.time(12))
            return cls(today - _dt.timedelta(days=14), today + _dt.timedelta(days=14))
        first, last = min(moments), max(moments)
        span = last - first
        pad = max(span * 0.02, _dt.timedelta(days=2)) if span else _dt.timedelta(days=14)
        return cls(first - pad, last + pad)

    def x(self, at: _dt.datetime, left: float = LEFT, right: float = W - RIGHT) -> float:
        total = (self.end - self.start).total_seconds() or 1.0
        return left + (right - left) * (at - self.start).total_seconds() / total

    def ticks(self, left: float = LEFT, right: float = W - RIGHT) -> list[tuple[float, str]]:
        """(x, label) of the first day of each month shown, every 1, 2, 3, 6, 12 or 24 months: as many as fit."""
        days = max((self.end - self.start).days, 1)
        month_px = (right - left) * 30.44 / days
        step = next((s for s in MONTH_STEPS if month_px * s >= 8 * CHAR_WIDTH + LABEL_GAP), MONTH_STEPS[-1])
        year, month = self.start.year, self.start.month
        out = []
        while True:
            month += 1
            if month > 12:
                year, month = year + 1, 1
            day = _dt.datetime(year, month, 1)
            if day > self.end:
                return out
            if (year * 12 + month - 1) % step:
                continue
            if step >= 12:
                label = str(year)
            else:
                label = day.strftime("%b %Y") if month == 1 or not out else day.strftime("%b")
            out.append((self.x(day, left, right), label))


def positions(points: Sequence[Point], axis: TimeAxis, left: float = LEFT, right: float = W - RIGHT) -> list[float]:
    """x of each point (in time order), two records of one day kept :data:`SAME_DAY_SEP` apart."""
    xs: list[float] = []
    for i, p in enumerate(points):
        x = axis.x(p.at, left, right)
        if i:
            sep = SAME_DAY_SEP if p.at.date() == points[i - 1].at.date() else 0.0
            x = max(x, xs[-1] + sep)
        xs.append(x)
    return xs


def segments(points: Sequence[Point]) -> list[list[int]]:
    """Runs of point indexes to join with a line: broken at a missing value and at an unusually long gap."""
    valued = [p for p in points if p.value is not None]
    gaps = [(b.at - a.at).total_seconds() for a, b in zip(valued, valued[1:])]
    usual = max(statistics.median(gaps) if gaps else 0.0, 86400.0)
    runs: list[list[int]] = []
    current: list[int] = []
    for i, p in enumerate(points):
        if p.value is None:
            if current:
                runs.append(current)
            current = []
            continue
        if current and (p.at - points[current[-1]].at).total_seconds() > GAP_FACTOR * usual:
            runs.append(current)
            current = []
        current.append(i)
    if current:
        runs.append(current)
    return runs


def _open(title: str, height: int, kind: str) -> list[str]:
    return [f'<svg class="chart {kind}" viewBox="0 0 {W} {height}" role="group" aria-label="{escape(title)}" '
            f'xmlns="http://www.w3.org/2000/svg">']


def _label_box(x: float, text: str, left: float, right: float) -> tuple[float, float, str, float]:
    """(first px, last px, anchor, anchor x) of a label centred on ``x``, kept inside the chart."""
    width = len(text) * CHAR_WIDTH
    if x - width / 2 < left:
        return left, left + width, "start", left
    if x + width / 2 > right:
        return right - width, right, "end", right
    return x - width / 2, x + width / 2, "middle", x


def _time_axis(axis: TimeAxis, left: float, right: float, top: float, bottom: float) -> list[str]:
    """Month ticks and labels under the plot, none cut at the edge, none running into another."""
    parts = [f'<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>']
    last_end = -math.inf
    for x, label in axis.ticks(left, right):
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom + 4}"/>')
        start, end, anchor, ax = _label_box(x, label, left - 2, W - 1)
        if start < last_end + LABEL_GAP:
            continue
        last_end = end
        parts.append(f'<text class="tick" x="{ax:.1f}" y="{bottom + 17}" text-anchor="{anchor}">{escape(label)}</text>')
    return parts


def _tip(x: float, y: float, text: str) -> str:
    """The words of a point, drawn beside it (shown on hover and focus by the stylesheet)."""
    width = len(text) * CHAR_WIDTH + 10
    tx = min(max(x - width / 2, 2), W - 2 - width)
    ty = y - 30 if y - 30 >= 1 else y + 10
    return (f'<g class="tip" aria-hidden="true"><rect x="{tx:.1f}" y="{ty:.1f}" width="{width:.1f}" height="21" rx="3"/>'
            f'<text x="{tx + 5:.1f}" y="{ty + 15:.1f}">{escape(text)}</text></g>')


def line_chart(series: Sequence[Series], *, axis: TimeAxis, y_min: float, y_max: float, ticks: Sequence[float],
               title: str, mark: str = "entered by the patient") -> Markup:
    """Lines on a time axis and one y scale; each series' points in time order (see the module docstring)."""
    bottom = H - BOTTOM
    left, right = LEFT, W - RIGHT
    span = (y_max - y_min) or 1.0

    def y_of(v: float) -> float:
        return TOP + (bottom - TOP) * (1 - (min(max(v, y_min), y_max) - y_min) / span)

    parts = _open(title, H, "line")
    for t in ticks:
        y = y_of(t)
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(t)}</text>')
    parts.extend(_time_axis(axis, left, right, TOP, bottom))
    marks: dict[str, float] = {}
    named = len(series) > 1
    for k, s in enumerate(series):
        xs = positions(s.points, axis, left, right)
        for run in segments(s.points):
            if len(run) > 1:
                d = " ".join(f"{xs[i]:.1f},{y_of(s.points[i].value):.1f}" for i in run)
                parts.append(f'<polyline class="s{k % 2}" points="{d}"/>')
        for i, p in enumerate(s.points):
            if p.marked:
                marks.setdefault(p.label + f"@{xs[i]:.1f}", xs[i])
            if p.value is None:
                continue
            y = y_of(p.value)
            words = f"{p.label}: {s.label} {fmt(p.value)}" if named else f"{p.label}: {fmt(p.value)}"
            parts.append(
                f'<g class="pt d{k % 2}" tabindex="0" role="img" data-date="{p.at.date().isoformat()}" '
                f'data-value="{fmt(p.value)}"><title>{escape(words)}</title>'
                f'<circle cx="{xs[i]:.1f}" cy="{y:.1f}" r="4"/>{_tip(xs[i], y, words)}</g>'
            )
    for key, x in marks.items():
        label = key.rsplit("@", 1)[0]
        parts.append(f'<circle class="mark" cx="{x:.1f}" cy="{TOP - 8}" r="2.5"><title>{escape(label)}: '
                     f'{escape(mark)}</title></circle>')
    parts.append("</svg>")
    return Markup("".join(parts))


def presence_grid(columns: Sequence[Point], rows: Sequence[tuple[str, set[int]]], *, axis: TimeAxis,
                  title: str) -> Markup:
    """Which row categories were present in which column (e.g. modes per session), columns placed in time."""
    row_h = 26
    left, right = 150, W - RIGHT
    top = TOP
    bottom = top + row_h * len(rows)
    height = bottom + BOTTOM
    xs = positions(columns, axis, left, right)
    spacing = min((b - a for a, b in zip(xs, xs[1:]) if b > a), default=12.0)
    width = min(max(spacing * 0.8, 2.0), 10.0)
    parts = _open(title, height, "grid")
    for r, (name, present) in enumerate(rows):
        y = top + row_h * r
        parts.append(f'<line class="grid" x1="{left}" y1="{y + row_h:.1f}" x2="{right}" y2="{y + row_h:.1f}"/>'
                     f'<text class="tick" x="{left - 8}" y="{y + 17}" text-anchor="end">{escape(name)}</text>')
        for c, column in enumerate(columns):
            if c in present:
                parts.append(
                    f'<rect class="cell" x="{xs[c] - width / 2:.1f}" y="{y + 4}" width="{width:.1f}" '
                    f'height="{row_h - 8}" data-date="{column.at.date().isoformat()}">'
                    f"<title>{escape(column.label)}: {escape(name)}</title></rect>"
                )
    parts.extend(_time_axis(axis, left, right, top, bottom))
    parts.append("</svg>")
    return Markup("".join(parts))
