"""The overview page's figures: headline counts, NPS with its interval and trend, volume by channel.

Every function takes a connection (or cursor) and a :class:`Filters`; all values are bound parameters.
NPS always comes with the adjusted-Wald interval of :func:`analytics.metrics.nps_interval`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import pandas as pd

from analytics.filters import Filters
from analytics.metrics import NpsInterval, nps_interval

# Periods a trend may be grouped by -> DuckDB ``date_trunc`` part. A whitelist: never user text in SQL.
PERIODS: dict[str, str] = {"week": "week", "month": "month", "quarter": "quarter"}
KINDS: tuple[str, ...] = ("reviews", "survey")

# Fewer answers than this in one period make its NPS too uncertain to read on its own; charts flag them.
SMALL_SAMPLE = 30


@dataclass(frozen=True)
class OverviewKpis:
    """Headline figures for the rows selected by a filter."""

    feedback: int  # all selected rows
    reviews: int  # rows from datasets of kind "reviews"
    survey_responses: int  # rows from datasets of kind "survey"
    datasets: int
    brands: int
    products: int
    date_min: dt.date | None
    date_max: dt.date | None
    undated: int  # rows without a date (left out of trends)
    rating_mean: float  # NaN when no row has a rating
    rated: int
    nps: NpsInterval  # from rows with an NPS score (0–10)

    @property
    def is_empty(self) -> bool:
        return self.feedback == 0


def _period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"period {period!r} is not one of {sorted(PERIODS)}")
    return PERIODS[period]


def overview_kpis(con: duckdb.DuckDBPyConnection, filters: Filters) -> OverviewKpis:
    """Counts, date span, mean rating and NPS (with its 95% interval) for the selected rows."""
    where, params = filters.where(alias="f")
    row = con.execute(
        f"""
        SELECT count(*),
               count(*) FILTER (WHERE d.kind = 'reviews'),
               count(*) FILTER (WHERE d.kind = 'survey'),
               count(DISTINCT f.dataset_id),
               count(DISTINCT f.brand) FILTER (WHERE trim(f.brand) <> ''),
               count(DISTINCT f.product) FILTER (WHERE trim(f.product) <> ''),
               min(f.created_at), max(f.created_at),
               count(*) FILTER (WHERE f.created_at IS NULL),
               avg(f.rating), count(f.rating),
               count(*) FILTER (WHERE f.nps_score >= 9),
               count(*) FILTER (WHERE f.nps_score BETWEEN 7 AND 8),
               count(*) FILTER (WHERE f.nps_score <= 6)
        FROM feedback f JOIN datasets d ON d.dataset_id = f.dataset_id
        WHERE {where}
        """,
        params,
    ).fetchall()[0]
    (total, reviews, surveys, datasets, brands, products, first, last, undated, rating_mean, rated,
     promoters, passives, detractors) = row
    return OverviewKpis(
        feedback=int(total),
        reviews=int(reviews),
        survey_responses=int(surveys),
        datasets=int(datasets),
        brands=int(brands),
        products=int(products),
        date_min=first.date() if first is not None else None,
        date_max=last.date() if last is not None else None,
        undated=int(undated),
        rating_mean=float(rating_mean) if rating_mean is not None else math.nan,
        rated=int(rated),
        nps=nps_interval(int(promoters), int(passives), int(detractors)),
    )


NPS_TREND_COLUMNS = [
    "period", "n", "promoters", "passives", "detractors", "nps", "low", "high", "small_sample",
]


def nps_trend(con: duckdb.DuckDBPyConnection, filters: Filters, period: str = "month") -> pd.DataFrame:
    """NPS per period with its 95% adjusted-Wald interval and sample size ``n``.

    Only rows with both a date and an NPS score count. Periods without answers are absent (not zero).
    """
    part = _period(period)
    where, params = filters.where(alias="f")
    rows = con.execute(
        f"""
        SELECT date_trunc('{part}', f.created_at) AS period,
               count(*) FILTER (WHERE f.nps_score >= 9) AS promoters,
               count(*) FILTER (WHERE f.nps_score BETWEEN 7 AND 8) AS passives,
               count(*) FILTER (WHERE f.nps_score <= 6) AS detractors
        FROM feedback f
        WHERE {where} AND f.created_at IS NOT NULL AND f.nps_score IS NOT NULL
        GROUP BY 1 ORDER BY 1
        """,
        params,
    ).fetchall()
    records = []
    for start, promoters, passives, detractors in rows:
        interval = nps_interval(int(promoters), int(passives), int(detractors))
        records.append(
            {
                "period": pd.Timestamp(start),
                "n": interval.n,
                "promoters": interval.promoters,
                "passives": interval.passives,
                "detractors": interval.detractors,
                "nps": interval.nps,
                "low": interval.low,
                "high": interval.high,
                "small_sample": interval.n < SMALL_SAMPLE,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=NPS_TREND_COLUMNS)
    return frame.astype(
        {"n": "int64", "promoters": "int64", "passives": "int64", "detractors": "int64",
         "nps": "float64", "low": "float64", "high": "float64", "small_sample": "bool"}
    )


VOLUME_COLUMNS = ["period", "channel", "n"]


def volume_by_channel(
    con: duckdb.DuckDBPyConnection,
    filters: Filters,
    period: str = "month",
    kinds: tuple[str, ...] = ("reviews",),
) -> pd.DataFrame:
    """Number of rows per period and channel, for datasets of the given kinds.

    A missing channel is reported as ``None`` (the chart labels it). Rows without a date are left out.
    """
    part = _period(period)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {kinds!r}")
    where, params = filters.where(alias="f")
    frame = con.execute(
        f"""
        SELECT date_trunc('{part}', f.created_at) AS period,
               nullif(trim(f.channel), '') AS channel,
               count(*) AS n
        FROM feedback f JOIN datasets d ON d.dataset_id = f.dataset_id
        WHERE {where} AND f.created_at IS NOT NULL AND d.kind IN (SELECT unnest($kinds))
        GROUP BY ALL ORDER BY period, channel NULLS LAST
        """,
        {**params, "kinds": list(kinds)},
    ).df()
    if frame.empty:
        return pd.DataFrame({"period": pd.Series(dtype="datetime64[us]"),
                             "channel": pd.Series(dtype="object"), "n": pd.Series(dtype="int64")})
    frame["n"] = frame["n"].astype("int64")
    frame["channel"] = frame["channel"].astype("object").where(frame["channel"].notna(), None)
    return frame[VOLUME_COLUMNS]
