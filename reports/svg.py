"""Small inline SVG charts for the self-contained HTML report (no scripts, no external resources).

Every label that may come from data is escaped; numbers are formatted here, never taken from user text.
"""

from __future__ import annotations

import math
from html import escape

import pandas as pd

from reports.text import is_missing, num

_GOOD, _BAD, _INK, _MUTED = "#1a7f37", "#cf222e", "#24292f", "#8c959f"


def _x(value: float, low: float, high: float, width: float, pad: float = 4.0) -> float:
    span = high - low or 1.0
    return pad + (min(max(value, low), high) - low) / span * (width - 2 * pad)


def interval_bar(value: float, low: float, high: float, lo: float, hi: float, width: int = 120) -> str:
    """A dot at ``value`` with a whisker from ``low`` to ``high`` on the scale ``lo``…``hi``."""
    if is_missing(value):
        return ""
    height = 14
    parts = [
        f'<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(num(value))}">',
        f'<line x1="4" y1="7" x2="{width - 4}" y2="7" stroke="#d0d7de" stroke-width="1"/>',
    ]
    if not is_missing(low) and not is_missing(high):
        parts.append(
            f'<line x1="{_x(low, lo, hi, width):.1f}" y1="7" x2="{_x(high, lo, hi, width):.1f}" y2="7" '
            f'stroke="{_MUTED}" stroke-width="3"/>'
        )
    parts.append(f'<circle cx="{_x(value, lo, hi, width):.1f}" cy="7" r="3.5" fill="{_INK}"/>')
    parts.append("</svg>")
    return "".join(parts)


def change_bar(change: float, limit: float, width: int = 120) -> str:
    """A horizontal bar from zero to ``change`` (green up, red down) on ``-limit``…``limit``."""
    if is_missing(change) or limit <= 0:
        return ""
    height = 14
    zero = _x(0.0, -limit, limit, width)
    end = _x(change, -limit, limit, width)
    colour = _GOOD if change >= 0 else _BAD
    return (
        f'<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(num(change, signed=True))}">'
        f'<rect x="{min(zero, end):.1f}" y="3" width="{abs(end - zero):.1f}" height="8" fill="{colour}"/>'
        f'<line x1="{zero:.1f}" y1="0" x2="{zero:.1f}" y2="{height}" stroke="{_MUTED}"/></svg>'
    )


def trend_chart(trend: pd.DataFrame, label_format: str, width: int = 640, height: int = 200) -> str:
    """NPS per period: a line with its 95% band; hollow points for small samples; n in each point's title."""
    if trend.empty:
        return ""
    left, right, top, bottom = 40, 36, 10, 30
    values = [v for column in ("low", "high", "nps") for v in trend[column] if not is_missing(v)]
    lo = math.floor(min([*values, 0.0]) / 20) * 20
    hi = math.ceil(max([*values, 0.0]) / 20) * 20
    if hi <= lo:
        hi = lo + 20
    count = len(trend)
    step = (width - left - right) / max(count - 1, 1)

    def px(i: int) -> float:
        return left + i * step if count > 1 else (left + width - right) / 2

    def py(v: float) -> float:
        return top + (hi - v) / (hi - lo) * (height - top - bottom)

    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
    ]
    for tick in range(int(lo), int(hi) + 1, 20):
        parts.append(
            f'<line x1="{left}" y1="{py(tick):.1f}" x2="{width - right}" y2="{py(tick):.1f}" '
            f'stroke="{"#8c959f" if tick == 0 else "#eaeef2"}"/>'
            f'<text x="{left - 6}" y="{py(tick) + 4:.1f}" text-anchor="end" class="tick">{tick}</text>'
        )
    rows = list(trend.itertuples(index=False))
    band = [(px(i), py(r.high)) for i, r in enumerate(rows) if not is_missing(r.high)]
    band += [(px(i), py(r.low)) for i, r in reversed(list(enumerate(rows))) if not is_missing(r.low)]
    if len(band) > 2:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in band)
        parts.append(f'<polygon points="{points}" fill="#0969da" fill-opacity="0.15" stroke="none"/>')
    line = " ".join(f"{px(i):.1f},{py(r.nps):.1f}" for i, r in enumerate(rows))
    parts.append(f'<polyline points="{line}" fill="none" stroke="#0969da" stroke-width="2"/>')
    every = max(1, math.ceil(count / 8))
    for i, r in enumerate(rows):
        fill = "#ffffff" if r.small_sample else "#0969da"
        label = pd.Timestamp(r.period).strftime(label_format)
        title = f"{label}: NPS {num(r.nps)} [{num(r.low)}, {num(r.high)}], n = {num(int(r.n))}"
        parts.append(
            f'<circle cx="{px(i):.1f}" cy="{py(r.nps):.1f}" r="4" fill="{fill}" stroke="#0969da" '
            f'stroke-width="2"><title>{escape(title)}</title></circle>'
        )
        if i % every == 0 or i == count - 1:
            parts.append(
                f'<text x="{px(i):.1f}" y="{height - 10}" text-anchor="middle" class="tick">'
                f"{escape(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
