"""Server-rendered SVG charts: bars, lines, scatter, heat map, histogram.

Plain SVG strings with a ``viewBox`` (they scale with the page and print
sharply), a title for screen readers, axis labels, and a legend where there
is more than one series. Colours are from a palette that stays distinct in
greyscale print order; every text is escaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

__all__ = ["bar_chart", "line_chart", "scatter", "heatmap", "histogram", "PALETTE"]

PALETTE = ["#1f5f8b", "#e07b39", "#5a9e4b", "#b8405e", "#7a5195", "#8c8c8c"]
W, H = 640, 300
L, R, T, B = 56, 16, 28, 56


def _step(value: float) -> float:
    """A round tick step giving four or five ticks up to ``value``."""
    raw = max(value, 1e-9) / 4
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def _nice_max(value: float) -> float:
    if value <= 0:
        return 4.0
    step = _step(value)
    return step * math.ceil(value / step)


def _frame(title: str, body: list[str], legend: Sequence[str] = (), height: int = H) -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" role="img" '
             f'class="chart" font-family="system-ui, sans-serif" font-size="11">',
             f"<title>{escape(title)}</title>"]
    parts.extend(body)
    x = L
    for i, name in enumerate(legend):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="17">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _y_axis(top: float, label: str, height: int = H) -> list[str]:
    out = []
    plot_h = height - T - B
    step = _step(top)
    ticks = int(round(top / step))
    for i in range(ticks + 1):
        value = step * i
        y = height - B - plot_h * value / top
        text = f"{value:g}" if value < 1000 else f"{value:,.0f}"
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                   f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    out.append(f'<text transform="translate(14 {T + plot_h / 2:.0f}) rotate(-90)" text-anchor="middle">'
               f"{escape(label)}</text>")
    return out


def _x_labels(labels: Sequence[str], centres: Sequence[float], height: int = H) -> list[str]:
    every = max(1, math.ceil(len(labels) / 14))
    return [f'<text x="{x:.1f}" y="{height - B + 16}" text-anchor="middle">{escape(str(lab))}</text>'
            for i, (lab, x) in enumerate(zip(labels, centres)) if i % every == 0]


def bar_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[float]], y_label: str,
              stacked: bool = True) -> str:
    """Bars per label; several series stacked (or side by side)."""
    names = list(series)
    n = max(1, len(labels))
    totals = [sum(series[s][i] or 0 for s in names) if stacked else max((series[s][i] or 0) for s in names)
              for i in range(len(labels))] or [0]
    top = _nice_max(max(totals))
    plot_w, plot_h = W - L - R, H - T - B
    slot = plot_w / n
    body = _y_axis(top, y_label)
    centres = []
    for i in range(len(labels)):
        x0 = L + slot * i + slot * 0.15
        width = slot * 0.7
        centres.append(x0 + width / 2)
        base = 0.0
        for k, name in enumerate(names):
            value = float(series[name][i] or 0)
            h = plot_h * value / top
            if stacked:
                y = H - B - plot_h * (base + value) / top
                body.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" '
                            f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(str(labels[i]))} '
                            f'{escape(name)}: {value:g}</title></rect>')
                base += value
            else:
                w = width / len(names)
                body.append(f'<rect x="{x0 + w * k:.1f}" y="{H - B - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                            f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(str(labels[i]))} '
                            f'{escape(name)}: {value:g}</title></rect>')
    body.extend(_x_labels(labels, centres))
    return _frame(title, body, names if len(names) > 1 else ())


def line_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], y_label: str,
               y_max: float | None = None) -> str:
    names = list(series)
    values = [v for s in names for v in series[s] if v is not None]
    top = y_max or _nice_max(max(values) if values else 1)
    plot_w, plot_h = W - L - R, H - T - B
    step = plot_w / max(1, len(labels))
    centres = [L + step * (i + 0.5) for i in range(len(labels))]
    body = _y_axis(top, y_label)
    for k, name in enumerate(names):
        points = [(x, H - B - plot_h * v / top) for x, v in zip(centres, series[name]) if v is not None]
        colour = PALETTE[k % len(PALETTE)]
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            body.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points)
    body.extend(_x_labels(labels, centres))
    return _frame(title, body, names if len(names) > 1 else ())


def scatter(title: str, groups: dict[str, Sequence[tuple[float, float]]], x_label: str, y_label: str,
            top: float) -> str:
    """Points per group on equal axes from 0 to ``top``, with the line of no change."""
    height = 360
    plot_w, plot_h = W - L - R, height - T - B
    side = min(plot_w, plot_h)

    def px(v):
        return L + side * v / top

    def py(v):
        return height - B - side * v / top
    body = [f'<line x1="{px(0):.1f}" y1="{py(0):.1f}" x2="{px(top):.1f}" y2="{py(top):.1f}" '
            f'stroke="#999" stroke-dasharray="4 3"/>',
            f'<rect x="{L}" y="{py(top):.1f}" width="{side}" height="{side}" fill="none" stroke="#ccc"/>']
    for i in range(5):
        v = top * i / 4
        body.append(f'<text x="{L - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:g}</text>'
                    f'<text x="{px(v):.1f}" y="{height - B + 16}" text-anchor="middle">{v:g}</text>')
    body.append(f'<text x="{L + side / 2:.0f}" y="{height - B + 34}" text-anchor="middle">{escape(x_label)}</text>')
    body.append(f'<text transform="translate(14 {T + side / 2:.0f}) rotate(-90)" text-anchor="middle">'
                f"{escape(y_label)}</text>")
    for k, (name, points) in enumerate(groups.items()):
        colour = PALETTE[k % len(PALETTE)]
        body.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}" fill-opacity="0.55"/>'
                    for x, y in points)
    return _frame(title, body, list(groups), height)


def heatmap(title: str, rows: Sequence[str], cols: Sequence[str], values: dict[tuple[str, str], float],
            low: float, high: float) -> str:
    """A cell per (row, col), shaded from ``low`` (light) to ``high`` (dark); blank where no value."""
    cell_h = 14 if len(rows) <= 24 else max(3, 336 // max(1, len(rows)))
    height = T + B + cell_h * len(rows)
    left = 90
    cell_w = (W - left - R) / max(1, len(cols))
    body = []
    for i, row in enumerate(rows):
        y = T + cell_h * i
        if cell_h >= 10:
            body.append(f'<text x="{left - 6}" y="{y + cell_h - 3}" text-anchor="end">{escape(row)}</text>')
        for j, col in enumerate(cols):
            value = values.get((row, col))
            if value is None:
                continue
            share = max(0.0, min(1.0, (value - low) / (high - low)))
            shade = int(235 - 190 * share)
            body.append(f'<rect x="{left + cell_w * j:.1f}" y="{y}" width="{cell_w - 1:.1f}" height="{cell_h - 1}" '
                        f'fill="rgb({shade},{shade + 10},{min(255, shade + 40)})"><title>{escape(row)} '
                        f'{escape(col)}: {value:g}</title></rect>')
    every = max(1, math.ceil(len(cols) / 12))
    body.extend(f'<text x="{left + cell_w * (j + 0.5):.1f}" y="{height - B + 16}" text-anchor="middle">'
                f"{escape(col)}</text>" for j, col in enumerate(cols) if j % every == 0)
    body.append(f'<text x="{W - R}" y="{height - 12}" text-anchor="end">lighter {low:g} … darker {high:g}</text>')
    return _frame(title, body, (), height)


def histogram(title: str, values: Sequence[float], bin_width: float, x_label: str) -> str:
    if not values:
        return _frame(title, [f'<text x="{L}" y="{H / 2}">no data</text>'])
    top_value = max(values)
    bins = max(1, int(top_value // bin_width) + 1)
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v // bin_width))] += 1
    labels = [f"{int(i * bin_width)}" for i in range(bins)]
    svg = bar_chart(title, labels, {"patients": counts}, "patients")
    return svg.replace("</svg>", f'<text x="{(W + L) / 2:.0f}" y="{H - 14}" text-anchor="middle">'
                                 f"{escape(x_label)}</text></svg>")
