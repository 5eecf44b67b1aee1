"""Shared statistics helpers for the dashboards: intervals, small-sample flags, comparison windows.

Net sentiment (positive share − negative share) has the same structure as NPS (promoters − detractors over
all answers), so it reuses the adjusted-Wald interval of :func:`analytics.metrics.nps_interval` and the
z-test of :func:`analytics.metrics.nps_change_test`. See docs/METRICS.md.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
from scipy.stats import norm

from analytics.filters import Filters
from analytics.metrics import NpsChange, NpsInterval, nps_change_test, nps_interval
from analytics.rollup_source import feedback_source, use_rollups

# Fewer observations than this make a figure too uncertain to read on its own: it is flagged, not hidden.
SMALL_SAMPLE = 30

# Trend periods -> DuckDB ``date_trunc`` part. A whitelist: never user text in SQL.
PERIODS: dict[str, str] = {"week": "week", "month": "month", "quarter": "quarter"}


def period_part(period: str) -> str:
    """The ``date_trunc`` part for ``period``; a clear error for anything else."""
    if period not in PERIODS:
        raise ValueError(f"period {period!r} is not one of {sorted(PERIODS)}")
    return PERIODS[period]


def z_value(confidence: float = 0.95) -> float:
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (0…1); ``(nan, nan)`` when ``n`` is 0."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return math.nan, math.nan
    z = z_value(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class NetSentiment:
    """Net sentiment in points (−100…100 = 100 × (positive − negative) / n) with its 95% interval."""

    net: float
    low: float
    high: float
    n: int
    positive: int
    neutral: int
    negative: int

    @property
    def small_sample(self) -> bool:
        return self.n < SMALL_SAMPLE

    def as_nps(self) -> NpsInterval:
        """The same counts as an :class:`NpsInterval` (for :func:`net_sentiment_change`)."""
        return nps_interval(self.positive, self.neutral, self.negative)


def net_sentiment(positive: int, neutral: int, negative: int, confidence: float = 0.95) -> NetSentiment:
    """Net sentiment with the adjusted-Wald interval (NPS interval on positive/neutral/negative)."""
    interval = nps_interval(int(positive), int(neutral), int(negative), confidence)
    return NetSentiment(
        interval.nps, interval.low, interval.high, interval.n, int(positive), int(neutral), int(negative)
    )


def net_sentiment_change(a: NetSentiment, b: NetSentiment, alpha: float = 0.05) -> NpsChange:
    """z-test of ``b`` against ``a`` (difference of adjusted net sentiments, as for NPS)."""
    return nps_change_test(a.as_nps(), b.as_nps(), alpha)


@dataclass(frozen=True)
class Windows:
    """The selected date window and the window of the same length just before it."""

    current: Filters
    previous: Filters
    current_from: dt.date
    current_to: dt.date
    previous_from: dt.date
    previous_to: dt.date


def comparison_windows(
    con: duckdb.DuckDBPyConnection, filters: Filters, default_days: int = 90, rollups: bool | None = None
) -> Windows | None:
    """Current and previous windows for "change against the previous period".

    The current window is the filter's dates; an open end is closed at the newest (and an open start at
    ``default_days`` before the end of) the feedback selected by the other filters. The previous window has
    the same length and ends the day before. ``None`` when the selection holds no dated feedback.
    ``rollups``: the caller's ``use_rollups(con)`` answer (None: asked here).
    """
    if default_days < 1:
        raise ValueError("default_days must be at least 1")
    end, start = filters.date_to, filters.date_from
    if end is None or start is None:
        undated = filters.with_(date_from=None, date_to=None)
        if use_rollups(con) if rollups is None else rollups:
            source, params = feedback_source(undated, "f")
            sql = f"SELECT min(f.first_at), max(f.last_at) FROM {source}"
        else:
            where, params = undated.where(alias="f")
            sql = f"SELECT min(f.created_at), max(f.created_at) FROM feedback f WHERE {where}"
        row = con.execute(sql, params).fetchall()[0]
        if row[1] is None:
            return None
        if end is None:
            end = row[1].date()
        if start is None:
            start = end - dt.timedelta(days=default_days - 1)
    length = (end - start).days + 1
    previous_to = start - dt.timedelta(days=1)
    previous_from = previous_to - dt.timedelta(days=length - 1)
    return Windows(
        current=filters.with_(date_from=start, date_to=end),
        previous=filters.with_(date_from=previous_from, date_to=previous_to),
        current_from=start,
        current_to=end,
        previous_from=previous_from,
        previous_to=previous_to,
    )
