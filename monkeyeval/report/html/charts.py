"""Charts as SVG strings (pure functions, deterministic output, every label escaped).

Values are on the display scale (66.5, 514); `maximum` is the outer ring / top of the axis (100 for mean
metrics, 1000 for OCRBench-style sums; see `axis_maximum`), one number for every axis or one per axis.
Values beyond [0, maximum] are clamped to the chart. The SVGs carry no `xmlns` so that they can be
inlined in HTML without any URL; `svg_document` turns one into a standalone .svg file.

Radar: axis i points at angle -90° + 360°·i/n (the first axis straight up, then clockwise); a value v lies at
radius R·v/maximum from the centre. A missing value (None) is drawn AT THE CENTRE (radius 0) and gets no dot,
so each series is one closed polygon with one point per axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
"""Okabe-Ito colours (distinguishable with the common colour-vision deficiencies); cycled."""
DASHES = ("", "6 3", "2 2", "8 3 2 3")
"""Line styles for the second, third, ... pass through the palette (more series than colours)."""
RING_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
REFERENCE_COLOUR, REFERENCE_DASH = "#555555", "4 3"  # published reference outlines on a radar
SVG_NS = "http://www.w3.org/2000/svg"

Series = Sequence[tuple[str, Sequence[float | None]]]


@dataclass(frozen=True)
class RadarGeometry:
    """Where a radar chart's centre is and how long its axes are (in SVG user units)."""

    cx: float
    cy: float
    radius: float

    def point(self, index: int, count: int, fraction: float) -> tuple[float, float]:
        """The point at `fraction` of the radius (1: the outer ring) along axis `index` of `count`."""
        angle = -math.pi / 2 + 2 * math.pi * index / count
        r = self.radius * fraction
        return self.cx + r * math.cos(angle), self.cy + r * math.sin(angle)


def series_style(index: int) -> tuple[str, str]:
    """(colour, dash pattern) of the `index`-th series."""
    return PALETTE[index % len(PALETTE)], DASHES[(index // len(PALETTE)) % len(DASHES)]


def axis_maximum(aggregation: str, values: Sequence[float | None] = ()) -> float:
    """100 for mean/corpus metrics, 1000 for sums; raised to the next multiple of 50 (100 for sums) when a
    display-scale value lies above it (CIDEr above 100, a sum above 1000)."""
    base = 1000.0 if aggregation == "sum" else 100.0
    step = 100.0 if aggregation == "sum" else 50.0
    top = max([v for v in values if v is not None], default=0.0)
    return base if top <= base else math.ceil(top / step) * step


def radar_geometry(size: float = 420.0) -> RadarGeometry:
    """The geometry `radar_svg` uses for a chart `size` units wide (title above, legend below)."""
    radius = size / 2 - 90
    return RadarGeometry(cx=size / 2, cy=radius + 56, radius=radius)


def radar_svg(
    axes: Sequence[str],
    series: Series,
    *,
    maximum: float | Sequence[float],
    title: str,
    size: float = 420.0,
    references: Series = (),
) -> str:
    """A radar chart: one closed polygon per (name, values) series over `axes`, rings, labels, legend.

    `references` (published numbers, a value on every axis) are drawn as grey dashed outlines, unfilled,
    and listed last in the legend.
    """
    count = len(axes)
    if count < 3:
        raise ValueError("a radar chart needs at least 3 axes")
    maxima = _maxima(maximum, count)
    geo = radar_geometry(size)
    legend_top = geo.cy + geo.radius + 40
    height = legend_top + 18 * (len(series) + len(references)) + 10
    out = [_open(size, height, title), _title(size, title)]
    for fraction in RING_FRACTIONS:
        ring = [geo.point(i, count, fraction) for i in range(count)]
        out.append(f'<polygon class="ring" points="{_points(ring)}" fill="none" stroke="#ccc"/>')
    for i, axis in enumerate(axes):
        x, y = geo.point(i, count, 1.0)
        out.append(
            f'<line class="axis" x1="{_n(geo.cx)}" y1="{_n(geo.cy)}" x2="{_n(x)}" y2="{_n(y)}" '
            'stroke="#bbb"/>'
        )
        lx, ly = geo.point(i, count, 1.0 + 20 / geo.radius)
        cos = math.cos(-math.pi / 2 + 2 * math.pi * i / count)
        anchor = "middle" if abs(cos) < 0.3 else ("start" if cos > 0 else "end")
        label = axis if _uniform(maxima) else f"{axis} (/{_n(maxima[i])})"
        out.append(
            f'<text class="axis-label" x="{_n(lx)}" y="{_n(ly + 4)}" text-anchor="{anchor}" '
            f'font-size="11">{escape(label)}</text>'
        )
    if _uniform(maxima):
        for fraction in RING_FRACTIONS:
            x, y = geo.point(0, count, fraction)
            out.append(
                f'<text class="ring-label" x="{_n(x + 3)}" y="{_n(y - 2)}" font-size="9" '
                f'fill="#777">{escape(_n(maxima[0] * fraction))}</text>'
            )
    for index, (name, values) in enumerate(series):
        colour, dash = series_style(index)
        fractions = [None if v is None else v / maxima[i] for i, v in enumerate(_pad(values, count))]
        vertices = [geo.point(i, count, _clamp(f or 0.0)) for i, f in enumerate(fractions)]
        out.append(
            f'<polygon class="series" data-series="{escape(name)}" points="{_points(vertices)}" '
            f'fill="{colour}" fill-opacity="0.12" stroke="{colour}" stroke-width="2"'
            f"{_dash(dash)}/>"
        )
        for i, (measured, (x, y)) in enumerate(zip(fractions, vertices, strict=True)):
            if measured is None:
                continue
            shown = _pad(values, count)[i] or 0.0
            out.append(
                f'<circle class="dot" data-series="{escape(name)}" data-axis="{escape(axes[i])}" '
                f'cx="{_n(x)}" cy="{_n(y)}" r="3" fill="{colour}"><title>'
                f"{escape(f'{name} — {axes[i]}: {_n(shown)}')}</title></circle>"
            )
    for name, values in references:
        vertices = [
            geo.point(i, count, _clamp((v or 0.0) / maxima[i])) for i, v in enumerate(_pad(values, count))
        ]
        out.append(
            f'<polygon class="reference" data-series="{escape(name)}" points="{_points(vertices)}" '
            f'fill="none" stroke="{REFERENCE_COLOUR}" stroke-width="1.5"{_dash(REFERENCE_DASH)}>'
            f"<title>{escape(name)} (published)</title></polygon>"
        )
    out.append(_legend([name for name, _ in series], 16, legend_top, [name for name, _ in references]))
    out.append("</svg>")
    return "\n".join(out)


def bars_svg(
    categories: Sequence[str],
    series: Series,
    *,
    maximum: float | Sequence[float],
    title: str,
    intervals: Sequence[Sequence[tuple[float, float] | None]] | None = None,
    width: float = 720.0,
) -> str:
    """Grouped bars: one group per category, one bar per series, 95% CI whiskers from `intervals`
    (parallel to `series`' values). With different maxima per category the y axis reads as % of each
    category's maximum (shown in its label)."""
    count = len(categories)
    if count == 0:
        raise ValueError("a bar chart needs at least one category")
    maxima = _maxima(maximum, count)
    left, top, plot_h = 48.0, 40.0, 220.0
    plot_w = width - left - 16
    base = top + plot_h
    legend_top = base + 70
    height = legend_top + 18 * len(series) + 10
    out = [_open(width, height, title), _title(width, title)]
    for fraction in (0.0, *RING_FRACTIONS):
        y = base - plot_h * fraction
        tick = _n(maxima[0] * fraction) if _uniform(maxima) else f"{round(fraction * 100)}%"
        out.append(
            f'<line class="grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(left + plot_w)}" '
            f'y2="{_n(y)}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{_n(left - 4)}" y="{_n(y + 3)}" text-anchor="end" font-size="10" '
            f'fill="#555">{tick}</text>'
        )
    group_w = plot_w / count
    bar_w = group_w * 0.8 / max(len(series), 1)
    for c, category in enumerate(categories):
        gx = left + group_w * c + group_w * 0.1
        label = category if _uniform(maxima) else f"{category} (/{_n(maxima[c])})"
        lx = gx + group_w * 0.4
        out.append(
            f'<text class="category" x="{_n(lx)}" y="{_n(base + 14)}" text-anchor="end" '
            f'font-size="10" transform="rotate(-30 {_n(lx)} {_n(base + 14)})">{escape(label)}</text>'
        )
        for s, (name, values) in enumerate(series):
            colour, _ = series_style(s)
            value = _pad(values, count)[c]
            x = gx + bar_w * s
            if value is None:
                continue
            h = plot_h * _clamp(value / maxima[c])
            out.append(
                f'<rect class="bar" data-series="{escape(name)}" data-category="{escape(category)}" '
                f'x="{_n(x)}" y="{_n(base - h)}" width="{_n(bar_w * 0.9)}" height="{_n(h)}" '
                f'fill="{colour}"><title>{escape(f"{name} — {category}: {_n(value)}")}</title></rect>'
            )
            ci = intervals[s][c] if intervals and c < len(intervals[s]) else None
            if ci is not None:
                mid = x + bar_w * 0.45
                y_low = base - plot_h * _clamp(ci[0] / maxima[c])
                y_high = base - plot_h * _clamp(ci[1] / maxima[c])
                out.append(
                    f'<path class="whisker" d="M{_n(mid)} {_n(y_low)}V{_n(y_high)}'
                    f'M{_n(mid - 3)} {_n(y_low)}h6M{_n(mid - 3)} {_n(y_high)}h6" stroke="#222"/>'
                )
    out.append(_legend([name for name, _ in series], 16, legend_top))
    out.append("</svg>")
    return "\n".join(out)


def whisker_svg(
    score: float, interval: tuple[float, float] | None, maximum: float, width: float = 80.0
) -> str:
    """A small 0..maximum scale with a dot at `score` and a line from low to high (display scale)."""
    x = _n(width * _clamp(score / maximum))
    parts = [
        f'<svg class="ci" width="{_n(width)}" height="8" viewBox="0 0 {_n(width)} 8" aria-hidden="true">',
        f'<line class="scale" x1="0" y1="4" x2="{_n(width)}" y2="4"/>',
    ]
    if interval is not None:
        low, high = (_n(width * _clamp(v / maximum)) for v in interval)
        parts.append(f'<line class="range" x1="{low}" y1="4" x2="{high}" y2="4"/>')
    parts.append(f'<circle class="point" cx="{x}" cy="4" r="2.5"/></svg>')
    return "".join(parts)


def svg_document(svg: str) -> str:
    """A standalone SVG file from an inline chart: XML prolog and the SVG namespace."""
    body = svg.replace("<svg ", f'<svg xmlns="{SVG_NS}" ', 1)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _open(width: float, height: float, title: str) -> str:
    return (
        f'<svg class="chart" width="{_n(width)}" height="{_n(height)}" viewBox="0 0 {_n(width)} '
        f'{_n(height)}" role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif">'
    )


def _title(width: float, title: str) -> str:
    return (
        f'<text class="title" x="{_n(width / 2)}" y="18" text-anchor="middle" font-size="14" '
        f'font-weight="bold">{escape(title)}</text>'
    )


def _legend(names: Sequence[str], x: float, top: float, references: Sequence[str] = ()) -> str:
    rows = ['<g class="legend">']
    styles = [series_style(index) for index in range(len(names))]
    styles += [(REFERENCE_COLOUR, REFERENCE_DASH)] * len(references)
    for index, (name, (colour, dash)) in enumerate(zip([*names, *references], styles, strict=True)):
        y = top + 18 * index
        rows.append(
            f'<line x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x + 22)}" y2="{_n(y)}" stroke="{colour}" '
            f'stroke-width="3"{_dash(dash)}/>'
        )
        rows.append(f'<text x="{_n(x + 28)}" y="{_n(y + 4)}" font-size="11">{escape(name)}</text>')
    rows.append("</g>")
    return "".join(rows)


def _maxima(maximum: float | Sequence[float], count: int) -> list[float]:
    maxima = [float(maximum)] * count if isinstance(maximum, int | float) else [float(m) for m in maximum]
    if len(maxima) != count or any(m <= 0 for m in maxima):
        raise ValueError("maximum must be one positive number or one per axis")
    return maxima


def _uniform(maxima: Sequence[float]) -> bool:
    return len(set(maxima)) == 1


def _pad(values: Sequence[float | None], count: int) -> list[float | None]:
    if len(values) != count:
        raise ValueError(f"expected {count} values per series, got {len(values)}")
    return list(values)


def _clamp(fraction: float) -> float:
    return min(max(fraction, 0.0), 1.0)


def _dash(dash: str) -> str:
    return f' stroke-dasharray="{dash}"' if dash else ""


def _points(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in points)


def _n(value: float) -> str:
    """A coordinate with at most 2 decimals, no trailing zeros (`12.5`, `80`, never `-0`)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
