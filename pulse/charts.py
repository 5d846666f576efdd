"""Charts as SVG, drawn when a report is exported: the portal needs no chart library, no
CDN and no JavaScript to show them, and they scale to any width (viewBox).

Three shapes, which is what the report marts need: lines over time (one or more series),
ranked horizontal bars, and a histogram of one measure.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

WIDTH, HEIGHT = 800, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
# Colour-blind-safe (Okabe and Ito), in the order series are drawn.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis values covering [low, high]: 0, 250, 500, ... not 0, 237.4, ..."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high == low:
        high = low + 1
    step = 10 ** math.floor(math.log10((high - low) / count))
    for multiple in (1, 2, 2.5, 5, 10):
        if (high - low) / (step * multiple) <= count:
            step *= multiple
            break
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int(math.ceil((high - first) / step)) + 1)]


def number_text(value: float) -> str:
    """A tick or bar label: 1.2M, 35k, 0.25, 1,234."""
    size = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e4, "k")):
        if size >= limit:
            return f"{value / limit:,.3g}{suffix}"
    if size and size < 1:
        return f"{value:.3g}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _svg(title: str, body: str, height: int = HEIGHT, width: int = WIDTH) -> str:
    t = html.escape(title)
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{t}" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" '
            f'font-size="12"><title>{t}</title>{body}</svg>')


def line_chart(title: str, x_labels: Sequence[str], series: dict[str, Sequence[float | None]]
               ) -> str:
    """Lines over `x_labels` (already in order), one per series; a series without a value
    at an x (None) is drawn straight on to its next value."""
    values = [v for ys in series.values() for v in ys if v is not None]
    if not x_labels or not values:
        return empty_chart(title)
    ticks = nice_ticks(min(0.0, min(values)), max(values))
    low, high = ticks[0], ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (len(x_labels) - 1) if len(x_labels) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - low) / (high - low))

    parts = _y_axis(ticks, y)
    step = max(1, math.ceil(len(x_labels) / 8))
    for i in range(0, len(x_labels), step):
        parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
                     f'fill="#566074">{html.escape(x_labels[i])}</text>')
    for n, (name, ys) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = [f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(ys) if v is not None]
        if len(points) == 1:
            cx, cy = points[0].split(",")
            parts.append(f'<circle class="mark" cx="{cx}" cy="{cy}" r="3" fill="{colour}">'
                         f'<title>{html.escape(name)}</title></circle>')
        elif points:
            parts.append(f'<polyline class="mark" fill="none" stroke="{colour}" '
                         f'stroke-width="2" points="{" ".join(points)}">'
                         f'<title>{html.escape(name)}</title></polyline>')
    return _svg(title, "".join(parts)) + legend(list(series))


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float]) -> str:
    """Horizontal bars, in the order given (largest first for a ranking)."""
    if not labels:
        return empty_chart(title)
    row, label_w = 22, min(260, 8 + 7 * max(len(label) for label in labels))
    height = TOP + BOTTOM + row * len(labels)
    ticks = nice_ticks(min(0.0, min(values)), max(values))
    low, high = ticks[0], ticks[-1]
    plot_w = WIDTH - label_w - RIGHT - 60

    def x(v: float) -> float:
        return label_w + plot_w * (v - low) / (high - low)

    parts = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        top = TOP + i * row
        start, end = sorted((x(0.0), x(value)))
        parts.append(f'<text x="{label_w - 6}" y="{top + 15}" text-anchor="end">'
                     f'{html.escape(_clip(label, 36))}</text>')
        parts.append(f'<rect class="mark" x="{start:.1f}" y="{top + 3}" width="{max(end - start, 1):.1f}" '
                     f'height="{row - 6}" fill="{PALETTE[0]}"><title>{html.escape(label)}: '
                     f'{number_text(value)}</title></rect>')
        parts.append(f'<text x="{end + 4:.1f}" y="{top + 15}" fill="#566074">'
                     f'{number_text(value)}</text>')
    return _svg(title, "".join(parts), height=height)


def histogram(title: str, values: Sequence[float], bins: int = 20, unit: str = "") -> str:
    """How `values` spread: counts in `bins` equal ranges."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return empty_chart(title)
    low, high = min(values), max(values)
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / width))] += 1
    ticks = nice_ticks(0, max(counts))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / ticks[-1])

    parts = _y_axis(ticks, y)
    bar = plot_w / bins
    for i, count in enumerate(counts):
        edge = low + i * width
        parts.append(f'<rect class="mark" x="{LEFT + i * bar + 1:.1f}" y="{y(count):.1f}" '
                     f'width="{bar - 2:.1f}" height="{y(0) - y(count):.1f}" fill="{PALETTE[0]}">'
                     f'<title>{number_text(edge)} to {number_text(edge + width)}{unit}: '
                     f'{count}</title></rect>')
    for i in range(0, bins + 1, max(1, bins // 5)):
        parts.append(f'<text x="{LEFT + i * bar:.1f}" y="{HEIGHT - BOTTOM + 18}" '
                     f'text-anchor="middle" fill="#566074">{number_text(low + i * width)}'
                     f'{html.escape(unit)}</text>')
    return _svg(title, "".join(parts))


def empty_chart(title: str) -> str:
    return _svg(title, f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                f'fill="#566074">No rows to chart yet.</text>', height=HEIGHT // 2)


def legend(names: Sequence[str]) -> str:
    if len(names) < 2:
        return ""
    items = "".join(f'<li><span style="background:{PALETTE[n % len(PALETTE)]}"></span>'
                    f'{html.escape(name)}</li>' for n, name in enumerate(names))
    return f'<ul class="legend">{items}</ul>'


def _y_axis(ticks: Sequence[float], y) -> list[str]:
    parts = []
    for tick in ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#e3e7ee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
                     f'fill="#566074">{number_text(tick)}</text>')
    return parts


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
