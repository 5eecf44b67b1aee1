"""The overview page's figures: headline counts, NPS with its interval and trend, volume by channel.

Every function takes a connection (or cursor) and a :class:`Filters`; all values are bound parameters.
NPS always comes with the adjusted-Wald interval of :func:`analytics.metrics.nps_interval`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from analytics.filters import Filters
from analytics.metrics import NpsInterval, nps_interval
from analytics.rollup_source import feedback_source, grain_for, use_rollups

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
    row = _kpis_from_rollups(con, filters) if use_rollups(con) else _kpis_from_base(con, filters)
    (total, reviews, surveys, datasets, brands, products, first, last, undated, rating_mean, rated,
     promoters, passives, detractors) = row
    return OverviewKpis(
        feedback=int(total or 0),
        reviews=int(reviews or 0),
        survey_responses=int(surveys or 0),
        datasets=int(datasets),
        brands=int(brands),
        products=int(products),
        date_min=first.date() if first is not None else None,
        date_max=last.date() if last is not None else None,
        undated=int(undated or 0),
        rating_mean=float(rating_mean) if rating_mean is not None else math.nan,
        rated=int(rated or 0),
        nps=nps_interval(int(promoters or 0), int(passives or 0), int(detractors or 0)),
    )


def _kpis_from_rollups(con: duckdb.DuckDBPyConnection, filters: Filters) -> tuple:
    """The same tuple as :func:`_kpis_from_base`, from the rollups: one grouped read (a few dozen rows per
    dataset, brand and product) folded here; three ``count(DISTINCT …)`` in SQL cost twice as much."""
    source, params = feedback_source(filters, "f")
    groups = con.execute(
        f"""
        SELECT d.kind, f.dataset_id, f.brand, trim(f.brand) <> '' AS brand_named, f.product,
               trim(f.product) <> '' AS product_named, sum(f.n) AS n,
               sum(f.n) FILTER (WHERE f.created_at IS NULL) AS undated, min(f.first_at) AS first_at,
               max(f.last_at) AS last_at, sum(f.rating_sum) AS rating_sum, sum(f.rated) AS rated,
               sum(f.promoters) AS promoters, sum(f.passives) AS passives, sum(f.detractors) AS detractors
        FROM {source} JOIN datasets d ON d.dataset_id = f.dataset_id
        GROUP BY ALL
        """,
        params,
    ).fetchall()
    if not groups:
        return (None, None, None, 0, 0, 0, None, None, None, None, None, None, None, None)
    by_kind = {"reviews": 0, "survey": 0}
    datasets, brands, products = set(), set(), set()
    total = undated = rating_sum = rated = promoters = passives = detractors = 0
    firsts, lasts = [], []
    for kind, dataset, brand, brand_named, product, product_named, n, *rest in groups:
        (undated_n, first, last, r_sum, r_n, p, a, d) = rest
        total += int(n)
        if kind in by_kind:
            by_kind[kind] += int(n)
        if n > 0:
            datasets.add(dataset)
            if brand_named:
                brands.add(brand)
            if product_named:
                products.add(product)
        undated += int(undated_n or 0)
        rating_sum += int(r_sum)
        rated += int(r_n)
        promoters, passives, detractors = promoters + int(p), passives + int(a), detractors + int(d)
        if first is not None:
            firsts.append(first)
        if last is not None:
            lasts.append(last)
    return (
        total,
        by_kind["reviews"],
        by_kind["survey"],
        len(datasets),
        len(brands),
        len(products),
        min(firsts, default=None),
        max(lasts, default=None),
        undated,
        float(rating_sum) / rated if rated else None,
        rated,
        promoters,
        passives,
        detractors,
    )


def _kpis_from_base(con: duckdb.DuckDBPyConnection, filters: Filters) -> tuple:
    where, params = filters.where(alias="f")
    return con.execute(
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


NPS_TREND_COLUMNS = [
    "period", "n", "promoters", "passives", "detractors", "nps", "low", "high", "small_sample",
]


def nps_trend(con: duckdb.DuckDBPyConnection, filters: Filters, period: str = "month") -> pd.DataFrame:
    """NPS per period with its 95% adjusted-Wald interval and sample size ``n``.

    Only rows with both a date and an NPS score count. Periods without answers are absent (not zero).
    """
    part = _period(period)
    if use_rollups(con):
        source, params = feedback_source(filters, "f", grain_for(part))
        sql = f"""
        SELECT date_trunc('{part}', f.created_at) AS period, sum(f.promoters) AS promoters,
               sum(f.passives) AS passives, sum(f.detractors) AS detractors
        FROM {source}
        WHERE f.created_at IS NOT NULL
        GROUP BY 1 HAVING sum(f.promoters + f.passives + f.detractors) > 0 ORDER BY 1
        """
    else:
        where, params = filters.where(alias="f")
        sql = f"""
        SELECT date_trunc('{part}', f.created_at) AS period,
               count(*) FILTER (WHERE f.nps_score >= 9) AS promoters,
               count(*) FILTER (WHERE f.nps_score BETWEEN 7 AND 8) AS passives,
               count(*) FILTER (WHERE f.nps_score <= 6) AS detractors
        FROM feedback f
        WHERE {where} AND f.created_at IS NOT NULL AND f.nps_score IS NOT NULL
        GROUP BY 1 ORDER BY 1
        """
    rows = con.execute(sql, params).fetchall()
    dtypes = {"n": "int64", "promoters": "int64", "passives": "int64", "detractors": "int64",
              "nps": "float64", "low": "float64", "high": "float64", "small_sample": "bool"}
    if not rows:
        return pd.DataFrame.from_records([], columns=NPS_TREND_COLUMNS).astype(dtypes)
    intervals = [nps_interval(int(p), int(a), int(d)) for _, p, a, d in rows]
    # Built column by column: per-column astype of a frame of records cost a few ms a call.
    return pd.DataFrame(
        {
            "period": np.array([pd.Timestamp(r[0]) for r in rows], dtype="datetime64[us]"),
            "n": np.array([i.n for i in intervals], dtype="int64"),
            "promoters": np.array([i.promoters for i in intervals], dtype="int64"),
            "passives": np.array([i.passives for i in intervals], dtype="int64"),
            "detractors": np.array([i.detractors for i in intervals], dtype="int64"),
            "nps": np.array([i.nps for i in intervals], dtype="float64"),
            "low": np.array([i.low for i in intervals], dtype="float64"),
            "high": np.array([i.high for i in intervals], dtype="float64"),
            "small_sample": np.array([i.n < SMALL_SAMPLE for i in intervals], dtype="bool"),
        }
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
    if use_rollups(con):
        source, params = feedback_source(filters, "f", grain_for(part))
        count_sql, having = "sum(f.n)::BIGINT", "HAVING sum(f.n) > 0"
        where = "TRUE"
    else:
        where, params = filters.where(alias="f")
        source, count_sql, having = "feedback f", "count(*)", ""
    rows = con.execute(
        f"""
        SELECT date_trunc('{part}', f.created_at) AS period,
               nullif(trim(f.channel), '') AS channel,
               {count_sql} AS n
        FROM {source}
        WHERE {where} AND f.created_at IS NOT NULL
          AND f.dataset_id IN (SELECT dataset_id FROM datasets WHERE list_contains($kinds, kind))
        GROUP BY ALL {having} ORDER BY period, channel NULLS LAST
        """,
        {**params, "kinds": list(kinds)},
    ).fetchall()
    if not rows:
        return pd.DataFrame({"period": pd.Series(dtype="datetime64[us]"),
                             "channel": pd.Series(dtype="object"), "n": pd.Series(dtype="int64")})
    return pd.DataFrame(
        {
            "period": np.array([r[0] for r in rows], dtype="datetime64[us]"),
            "channel": pd.Series([r[1] for r in rows], dtype="object"),
            "n": np.array([r[2] for r in rows], dtype="int64"),
        }
    )
