"""Key drivers: which aspects move NPS (or the star rating) — importance against performance.

Per annotated review, each aspect is coded +1 (net positive mentions), −1 (net negative) or 0 (not mentioned,
or mentions that cancel out). The outcome is the NPS group (+100 promoter, 0 passive, −100 detractor) or the
rating (1–5). A ridge regression of the outcome on the codes, on standardised variables, gives each aspect's
importance. It is fitted from sufficient statistics computed in SQL (sums, cross-products), so no review rows
leave DuckDB. See docs/METRICS.md for the formulas and the thresholds behind ``too_small``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from duckdb import DuckDBPyConnection

from analytics.aspects import aspect_level, mention_where
from analytics.filters import Filters
from analytics.rollup_source import feedback_source, needs_region, split_months, use_rollups

OUTCOMES: dict[str, str] = {
    "nps": "CASE WHEN f.nps_score >= 9 THEN 100.0 WHEN f.nps_score <= 6 THEN -100.0 ELSE 0.0 END",
    "rating": "f.rating::DOUBLE",
}
_OUTCOME_PRESENT: dict[str, str] = {"nps": "f.nps_score IS NOT NULL", "rating": "f.rating IS NOT NULL"}

MIN_REVIEWS = 100  # fewer annotated reviews with an outcome: the model as a whole is too small to say
MIN_MENTIONS = 30  # fewer reviews mentioning an aspect: that aspect's importance is too small to say
RIDGE_LAMBDA = 0.05  # penalty on the correlation scale: shrinks unstable estimates of rare aspects

DRIVER_COLUMNS = [
    "aspect",
    "n",
    "positive",
    "negative",
    "performance",
    "importance",
    "std_error",
    "coefficient",
    "weight",
    "too_small",
]


@dataclass(frozen=True)
class KeyDrivers:
    """Importance (standardised ridge coefficient) and performance (net sentiment) per aspect.

    ``table`` columns: ``aspect``; ``n`` reviews mentioning it; ``positive``/``negative`` reviews coded ±1;
    ``performance`` = 100 × (positive − negative) / n; ``importance`` (standardised coefficient, NaN when the
    aspect does not vary); ``std_error`` of it (approximate); ``coefficient`` = outcome change per unit of
    code (NPS points or stars); ``weight`` = positive importances normalised to sum 1 (0 when too small);
    ``too_small`` (n < ``MIN_MENTIONS`` or the whole sample too small).
    """

    outcome: str  # "nps" or "rating"
    n: int  # annotated reviews with the outcome
    outcome_mean: float
    too_small: bool  # n < MIN_REVIEWS: read nothing into the importances
    table: pd.DataFrame


def _choose_outcome(con: DuckDBPyConnection, filters: Filters, outcome: str) -> str:
    if outcome in OUTCOMES:
        return outcome
    if outcome != "auto":
        raise ValueError(f"outcome {outcome!r} is not one of {[*OUTCOMES, 'auto']}")
    if use_rollups(con):
        source, params = feedback_source(filters, "f")
        sql = f"SELECT coalesce(sum(f.annotated_nps), 0) FROM {source}"
    else:
        where, params = filters.where(alias="f")
        sql = f"""SELECT count(*) FROM feedback f
            WHERE {where} AND f.nps_score IS NOT NULL
              AND (f.dataset_id, f.feedback_id) IN
                  (SELECT dataset_id, feedback_id FROM feedback_sentiment)"""
    count = con.execute(sql, params).fetchall()[0][0]
    return "nps" if count >= MIN_REVIEWS else "rating"


def key_drivers(
    con: DuckDBPyConnection,
    filters: Filters,
    outcome: str = "auto",
    parent: str | None = None,
    ridge_lambda: float = RIDGE_LAMBDA,
) -> KeyDrivers:
    """Key-driver analysis of top-level aspects (or the children of ``parent``) against ``outcome``.

    ``outcome`` is ``nps``, ``rating`` or ``auto`` (NPS when at least ``MIN_REVIEWS`` annotated answers
    have a score, else rating). Only annotated reviews with the outcome count.
    """
    if ridge_lambda < 0:
        raise ValueError("ridge_lambda must be non-negative")
    chosen = _choose_outcome(con, filters, outcome)
    rows = _statistics(con, filters, chosen, parent)
    totals = next(r for r in rows if r[0] == "T")
    n, sum_y, sum_yy = int(totals[3]), totals[4], totals[5]
    per_aspect = pd.DataFrame(
        sorted(
            (r[1], int(r[3]), int(r[6]), int(r[7]), float(r[4]), float(r[5])) for r in rows if r[0] == "A"
        ),
        columns=["aspect", "n", "positive", "negative", "sx", "sxy"],
    )
    pairs = [(r[1], r[2], float(r[4])) for r in rows if r[0] == "P"]
    aspects = list(per_aspect["aspect"])
    table = per_aspect[["aspect", "n", "positive", "negative"]].copy()
    table = table.astype({"n": "int64", "positive": "int64", "negative": "int64"})
    table["performance"] = 100.0 * (table["positive"] - table["negative"]) / table["n"].where(table["n"] > 0)
    importance, std_error, coefficient = _ridge(
        n, float(sum_y or 0.0), float(sum_yy or 0.0), aspects, per_aspect, pairs, ridge_lambda
    )
    table["importance"] = importance
    table["std_error"] = std_error
    table["coefficient"] = coefficient
    too_small_all = n < MIN_REVIEWS
    table["too_small"] = (table["n"] < MIN_MENTIONS) | too_small_all
    usable = table["importance"].where(~table["too_small"] & (table["importance"] > 0), 0.0).fillna(0.0)
    total = float(usable.sum())
    table["weight"] = usable / total if total > 0 else 0.0
    table = table.sort_values("importance", ascending=False, na_position="last", kind="stable")
    return KeyDrivers(
        outcome=chosen,
        n=n,
        outcome_mean=float(sum_y) / n if n else float("nan"),
        too_small=too_small_all,
        table=table[DRIVER_COLUMNS].reset_index(drop=True),
    )


Row = tuple  # (kind "T"/"A"/"P", aspect a, aspect b, n, s1, s2, positive, negative)


def _statistics(con: DuckDBPyConnection, filters: Filters, chosen: str, parent: str | None) -> list[Row]:
    """The sufficient statistics (kind T: totals of y; A: per-aspect sums; P: cross-products of codes).

    Top-level aspects without a region filter come from the driver rollups for whole months, plus the base
    tables for the days at either edge of the date range (statistics of disjoint sets of reviews add up);
    anything else from the base tables.
    """
    if parent is not None or needs_region(filters) or not use_rollups(con):
        return _base_statistics(con, filters, chosen, parent)
    if filters.date_from is None and filters.date_to is None:
        return _rollup_statistics(con, filters, chosen, None, None)
    start, month_from, month_to, end = split_months(filters)
    if month_from is not None and month_to is not None and month_from >= month_to:
        return _base_statistics(con, filters, chosen, parent)
    parts = [_rollup_statistics(con, filters, chosen, month_from, month_to)]
    day = dt.timedelta(days=1)
    if start is not None and month_from is not None and start < month_from:
        edge = filters.with_(date_from=start, date_to=month_from - day)
        parts.append(_base_statistics(con, edge, chosen, None))
    if end is not None and month_to is not None and end > month_to:
        edge = filters.with_(date_from=month_to, date_to=end - day)
        parts.append(_base_statistics(con, edge, chosen, None))
    return _merge(parts)


def _merge(parts: list[list[Row]]) -> list[Row]:
    merged: dict[tuple, list] = {}
    for rows in parts:
        for kind, a, b, *values in rows:
            slot = merged.setdefault((kind, a, b), [None] * len(values))
            for i, value in enumerate(values):
                if value is not None:
                    slot[i] = value if slot[i] is None else slot[i] + value
    return [(kind, a, b, *values) for (kind, a, b), values in merged.items()]


def _rollup_statistics(
    con: DuckDBPyConnection,
    filters: Filters,
    chosen: str,
    month_from: dt.date | None,
    month_to: dt.date | None,
) -> list[Row]:
    where, params = filters.with_(date_from=None, date_to=None).where(alias="r")
    if month_from is not None or month_to is not None:
        where += " AND r.month IS NOT NULL"
    if month_from is not None:
        where += " AND r.month >= $_dr_from"
        params["_dr_from"] = dt.datetime.combine(month_from, dt.time.min)
    if month_to is not None:
        where += " AND r.month < $_dr_to"
        params["_dr_to"] = dt.datetime.combine(month_to, dt.time.min)
    params["_dr_outcome"] = chosen
    rows = con.execute(
        f"""
        SELECT 'T' AS kind, NULL::VARCHAR AS a, NULL::VARCHAR AS b, coalesce(sum(r.n), 0)::BIGINT AS n,
               sum(r.sy) AS s1, sum(r.syy) AS s2, NULL::BIGINT AS positive, NULL::BIGINT AS negative
        FROM rollup_driver_aspects r WHERE {where} AND r.outcome = $_dr_outcome AND r.aspect IS NULL
        UNION ALL
        SELECT 'A', r.aspect, NULL, sum(r.n)::BIGINT, sum(r.sx), sum(r.sxy), sum(r.positive)::BIGINT,
               sum(r.negative)::BIGINT
        FROM rollup_driver_aspects r WHERE {where} AND r.outcome = $_dr_outcome AND r.aspect IS NOT NULL
        GROUP BY r.aspect
        UNION ALL
        SELECT 'P', r.a, r.b, NULL, sum(r.xx), NULL, NULL, NULL
        FROM rollup_driver_pairs r WHERE {where} AND r.outcome = $_dr_outcome GROUP BY r.a, r.b
        """,
        params,
    ).fetchall()
    return [r for r in rows if r[0] == "T" or r[3] != 0 or r[0] == "P"]


def _base_statistics(con: DuckDBPyConnection, filters: Filters, chosen: str, parent: str | None) -> list[Row]:
    where, params = filters.where(alias="f")
    m_where, m_params = mention_where(filters)
    aspect_col, level_sql, level_params = aspect_level(parent)
    all_params = {**params, **m_params, **level_params}
    # One round trip: the per-review codes are materialised once and feed three aggregates
    # (kind T: totals of y; A: per-aspect sums; P: cross-products of aspect codes).
    return con.execute(
        f"""
        WITH y AS MATERIALIZED (
            SELECT f.dataset_id, f.feedback_id, {OUTCOMES[chosen]} AS y
            FROM feedback f
            WHERE {where} AND {_OUTCOME_PRESENT[chosen]}
              AND (f.dataset_id, f.feedback_id) IN (SELECT dataset_id, feedback_id FROM feedback_sentiment)
        ),
        codes AS (
            SELECT m.dataset_id, m.feedback_id, {aspect_col} AS aspect,
                   sign(count(*) FILTER (WHERE m.polarity = 'positive')
                        - count(*) FILTER (WHERE m.polarity = 'negative'))::DOUBLE AS x
            FROM aspect_mentions m
            WHERE {m_where} AND {level_sql}
              -- only reviews in y count (xy joins them); filtering before the GROUP BY halves the time
              AND (m.dataset_id, m.feedback_id) IN (SELECT dataset_id, feedback_id FROM y)
            GROUP BY ALL
        ),
        xy AS MATERIALIZED (SELECT c.*, y.y FROM codes c JOIN y USING (dataset_id, feedback_id))
        SELECT 'T' AS kind, NULL::VARCHAR AS a, NULL::VARCHAR AS b, count(*) AS n,
               sum(y) AS s1, sum(y * y) AS s2, NULL::BIGINT AS positive, NULL::BIGINT AS negative FROM y
        UNION ALL
        SELECT 'A', aspect, NULL, count(*), sum(x), sum(x * y), count(*) FILTER (WHERE x > 0),
               count(*) FILTER (WHERE x < 0)
        FROM xy GROUP BY aspect
        UNION ALL
        SELECT 'P', a.aspect, b.aspect, NULL, sum(a.x * b.x), NULL, NULL, NULL
        FROM xy a JOIN xy b USING (dataset_id, feedback_id) GROUP BY a.aspect, b.aspect
        """,
        all_params,
    ).fetchall()


def _ridge(
    n: int,
    sum_y: float,
    sum_yy: float,
    aspects: list[str],
    per_aspect: pd.DataFrame,
    pairs: list[tuple[str, str, float]],
    ridge_lambda: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised ridge coefficients, approximate standard errors and raw-unit coefficients."""
    k = len(aspects)
    nan = np.full(k, np.nan)
    if n < 3 or k == 0:
        return nan, nan.copy(), nan.copy()
    index = {a: i for i, a in enumerate(aspects)}
    sxx = np.zeros((k, k))
    for a, b, value in pairs:
        sxx[index[a], index[b]] = float(value)
    mean_x = per_aspect["sx"].to_numpy(dtype=float) / n
    mean_y = sum_y / n
    cov_xx = sxx / n - np.outer(mean_x, mean_x)
    cov_xy = per_aspect["sxy"].to_numpy(dtype=float) / n - mean_x * mean_y
    var_y = sum_yy / n - mean_y**2
    sd_x = np.sqrt(np.clip(np.diag(cov_xx), 0.0, None))
    varies = sd_x > 1e-12
    if var_y <= 1e-12 or not varies.any():
        return nan, nan.copy(), nan.copy()
    idx = np.flatnonzero(varies)
    sd = sd_x[idx]
    corr_xx = cov_xx[np.ix_(idx, idx)] / np.outer(sd, sd)
    corr_xy = cov_xy[idx] / (sd * np.sqrt(var_y))
    inverse = np.linalg.inv(corr_xx + ridge_lambda * np.eye(len(idx)))
    beta = inverse @ corr_xy
    residual = max(1.0 - float(beta @ corr_xy), 0.0)
    se = np.sqrt(residual * np.clip(np.diag(inverse), 0.0, None) / max(n - len(idx) - 1, 1))
    importance, std_error, coefficient = nan.copy(), nan.copy(), nan.copy()
    importance[idx] = beta
    std_error[idx] = se
    coefficient[idx] = beta * np.sqrt(var_y) / sd
    return importance, std_error, coefficient
