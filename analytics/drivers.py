"""Key drivers: which aspects move NPS (or the star rating) — importance against performance.

Per annotated review, each aspect is coded +1 (net positive mentions), −1 (net negative) or 0 (not mentioned,
or mentions that cancel out). The outcome is the NPS group (+100 promoter, 0 passive, −100 detractor) or the
rating (1–5). A ridge regression of the outcome on the codes, on standardised variables, gives each aspect's
importance. It is fitted from sufficient statistics computed in SQL (sums, cross-products), so no review rows
leave DuckDB. See docs/METRICS.md for the formulas and the thresholds behind ``too_small``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

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


def _check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES and outcome != "auto":
        raise ValueError(f"outcome {outcome!r} is not one of {[*OUTCOMES, 'auto']}")


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
    _check_outcome(outcome)
    chosen, rows = _statistics(con, filters, outcome, parent)
    totals = next(r for r in rows if r[0] == "T")
    n, sum_y, sum_yy = int(totals[3]), totals[4], totals[5]
    # numpy on ~15 aspects: pandas column by column cost more than the SQL behind it
    per = sorted(
        (r[1], int(r[3]), int(r[6]), int(r[7]), float(r[4]), float(r[5])) for r in rows if r[0] == "A"
    )
    aspects = [p[0] for p in per]
    counts, positive, negative = (np.array([p[i] for p in per], dtype=np.int64) for i in (1, 2, 3))
    sx, sxy = (np.array([p[i] for p in per], dtype=float) for i in (4, 5))
    pairs = [(r[1], r[2], float(r[4])) for r in rows if r[0] == "P"]
    with np.errstate(invalid="ignore", divide="ignore"):
        performance = np.where(counts > 0, 100.0 * (positive - negative) / counts, np.nan)
    importance, std_error, coefficient = _ridge(
        n, float(sum_y or 0.0), float(sum_yy or 0.0), aspects, sx, sxy, pairs, ridge_lambda
    )
    too_small_all = n < MIN_REVIEWS
    too_small = (counts < MIN_MENTIONS) | too_small_all
    usable = np.where(~too_small & (importance > 0), importance, 0.0)
    total = float(usable.sum())
    weight = usable / total if total > 0 else np.zeros(len(per))
    order = _descending_nan_last(importance)
    columns = {
        # a list, so pandas infers the string dtype it always gave; no aspect at all: an object column
        "aspect": [aspects[i] for i in order] if per else np.array([], dtype=object),
        "n": counts[order],
        "positive": positive[order],
        "negative": negative[order],
        "performance": performance[order],
        "importance": importance[order],
        "std_error": std_error[order],
        "coefficient": coefficient[order],
        "weight": weight[order],
        "too_small": too_small[order],
    }
    table = pd.DataFrame(columns)
    return KeyDrivers(
        outcome=chosen,
        n=n,
        outcome_mean=float(sum_y) / n if n else float("nan"),
        too_small=too_small_all,
        table=table[DRIVER_COLUMNS],
    )


def _descending_nan_last(values: np.ndarray) -> np.ndarray:
    """The order of ``sort_values(ascending=False, na_position="last", kind="stable")`` (ties keep their
    order), as pandas computes it: the non-NaN values reversed, sorted stably, reversed back."""
    index = np.arange(len(values))
    nan = np.isnan(values)
    kept, kept_index = values[~nan][::-1], index[~nan][::-1]
    return np.concatenate([kept_index[kept.argsort(kind="stable")][::-1], index[nan]]).astype(np.intp)


Row = tuple  # (kind "T"/"A"/"P", aspect a, aspect b, n, s1, s2, positive, negative)


def _statistics(
    con: DuckDBPyConnection, filters: Filters, outcome: str, parent: str | None
) -> tuple[str, list[Row]]:
    """The chosen outcome and its sufficient statistics (kind T: totals of y; A: per-aspect sums; P:
    cross-products of codes).

    Top-level aspects come from the driver rollups for whole months (the region-keyed ones for a region
    filter without brand, product or channel: :func:`_driver_tables`), plus the base tables for the days at
    either edge of the date range (statistics of disjoint sets of reviews add up); anything else (child
    aspects, region with brand/product/channel) from the base tables. ``outcome="auto"`` counts the
    annotated NPS answers of the range: on the rollup path from the driver rollups' totals
    (:func:`_rollup_statistics`), on the base path inside the base statement (from the rows it reads anyway,
    so no extra scan of ``feedback``).
    """
    if parent is not None or not use_rollups(con):
        return _base_statistics(con, filters, outcome, parent)
    tables = _driver_tables(filters)
    if tables is None:
        return _base_statistics(con, filters, outcome, parent)
    if filters.date_from is None and filters.date_to is None:
        return _rollup_statistics(con, filters, outcome, None, None, tables=tables)
    start, month_from, month_to, end = split_months(filters)
    if month_from is not None and month_to is not None and month_from >= month_to:
        return _base_statistics(con, filters, outcome, parent)
    whole = (start is None or start == month_from) and (end is None or end == month_to)
    chosen, rows = _rollup_statistics(con, filters, outcome, month_from, month_to, whole, tables)
    edges = []  # [first day, day after the last) of the partial months at either end
    if start is not None and month_from is not None and start < month_from:
        edges.append((start, month_from))
    if end is not None and month_to is not None and end > month_to:
        edges.append((month_to, end))
    if not edges:
        return chosen, rows
    # both edges in one base statement: each base statement scans the base tables once
    return chosen, _merge([rows, _base_statistics(con, filters, chosen, None, edges)[1]])


_PLAIN_TABLES = ("rollup_driver_aspects", "rollup_driver_pairs")
_REGION_TABLES = ("rollup_driver_region_aspects", "rollup_driver_region_pairs")


def _driver_tables(filters: Filters) -> tuple[str, str] | None:
    """The driver rollups that can answer ``filters`` (user scope included): the brand/product/channel-keyed
    ones without a region condition, the region-keyed ones when the filter constrains region but none of
    brand, product and channel; None: only the base tables can (region with brand, product or channel)."""
    if not needs_region(filters):
        return _PLAIN_TABLES
    where, _ = filters.with_(date_from=None, date_to=None).where(alias="r")
    if any(f"r.{column}" in where for column in ("brand", "product", "channel")):
        return None
    return _REGION_TABLES


def _merge(parts: list[list[Row]]) -> list[Row]:
    merged: dict[tuple, list] = {}
    for rows in parts:
        for kind, a, b, *values in rows:
            slot = merged.setdefault((kind, a, b), [None] * len(values))
            for i, value in enumerate(values):
                if value is not None:
                    slot[i] = value if slot[i] is None else slot[i] + value
    return [(kind, a, b, *values) for (kind, a, b), values in merged.items()]


def _split_choice(rows: list[Row]) -> tuple[str, list[Row]]:
    """The outcome a statement chose (its row of kind "O") and the statistics rows."""
    chosen = next(r[1] for r in rows if r[0] == "O")
    return str(chosen), [r for r in rows if r[0] != "O"]


def _rollup_where(
    filters: Filters, month_from: dt.date | None, month_to: dt.date | None
) -> tuple[str, dict[str, object]]:
    where, params = filters.with_(date_from=None, date_to=None).where(alias="r")
    if month_from is not None or month_to is not None:
        where += " AND r.month IS NOT NULL"
    if month_from is not None:
        where += " AND r.month >= $_dr_from"
        params["_dr_from"] = dt.datetime.combine(month_from, dt.time.min)
    if month_to is not None:
        where += " AND r.month < $_dr_to"
        params["_dr_to"] = dt.datetime.combine(month_to, dt.time.min)
    return where, params


def _rollup_statistics(
    con: DuckDBPyConnection,
    filters: Filters,
    outcome: str,
    month_from: dt.date | None,
    month_to: dt.date | None,
    whole_range: bool = True,
    tables: tuple[str, str] = _PLAIN_TABLES,
) -> tuple[str, list[Row]]:
    """The whole months' statistics from the driver rollups ``tables`` (aspects, pairs), in two
    statements: the per-aspect sums of both outcomes (one scan of the small table; its ``aspect IS NULL``
    rows are the totals of y), then the pairs of the chosen outcome.

    ``auto`` over whole months (``whole_range``) reads its count from the first statement: the driver
    rollups' NPS totals count exactly the annotated reviews with a score. With edge days the count must
    include them: the feedback rollups give it (day table for the edges), one small statement more."""
    where, params = _rollup_where(filters, month_from, month_to)
    sums = con.execute(
        f"""SELECT r.outcome, r.aspect, sum(r.n)::BIGINT, sum(r.sx), sum(r.sxy), sum(r.sy), sum(r.syy),
                   sum(r.positive)::BIGINT, sum(r.negative)::BIGINT
            FROM {tables[0]} r WHERE {where} GROUP BY r.outcome, r.aspect""",
        params,
    ).fetchall()
    if outcome != "auto":
        chosen = outcome
    elif whole_range:
        answers = sum(int(r[2]) for r in sums if r[0] == "nps" and r[1] is None)
        chosen = "nps" if answers >= MIN_REVIEWS else "rating"
    else:
        source, source_params = feedback_source(filters, "f")
        count = con.execute(f"SELECT coalesce(sum(f.annotated_nps), 0) FROM {source}", source_params)
        chosen = "nps" if count.fetchall()[0][0] >= MIN_REVIEWS else "rating"
    total = next((r for r in sums if r[0] == chosen and r[1] is None), None)
    rows: list[Row] = [("T", None, None, int(total[2]) if total else 0, total[5] if total else None,
                        total[6] if total else None, None, None)]
    rows += [("A", r[1], None, r[2], r[3], r[4], r[7], r[8]) for r in sums
             if r[0] == chosen and r[1] is not None and r[2] != 0]
    params["_dr_outcome"] = chosen
    rows += con.execute(
        f"""SELECT 'P', r.a, r.b, NULL, sum(r.xx), NULL, NULL, NULL FROM {tables[1]} r
            WHERE {where} AND r.outcome = $_dr_outcome GROUP BY r.a, r.b""",
        params,
    ).fetchall()
    return chosen, rows


_NPS_Y = "CASE WHEN nps_score >= 9 THEN 100.0 WHEN nps_score <= 6 THEN -100.0 ELSE 0.0 END"


def _windows_sql(column: str, windows: list[tuple[dt.date, dt.date]]) -> str:
    """``column`` inside one of the ``[first, end)`` day windows (parameters ``$_dw{i}_from/_to``)."""
    return "(" + " OR ".join(
        f"{column} >= $_dw{i}_from AND {column} < $_dw{i}_to" for i in range(len(windows))
    ) + ")"


def _base_statistics(
    con: DuckDBPyConnection,
    filters: Filters,
    outcome: str,
    parent: str | None,
    windows: list[tuple[dt.date, dt.date]] | None = None,
) -> tuple[str, list[Row]]:
    """The statistics from the base tables in one statement.

    The reviews matching ``filters`` with an outcome are read once; only those with an annotation count.
    ``feedback_id`` alone (one integer key) first narrows ``feedback_sentiment`` and ``aspect_mentions`` to
    candidate rows, the exact (dataset_id, feedback_id) match then runs on those few rows. A region filter
    is applied to the reviews only: a mention counts only when its review does, so the semi-join on
    ``feedback`` that :func:`analytics.aspects.mention_where` adds for regions would repeat it.

    ``windows`` (``[first day, end)`` pairs) replaces the filter's date range: the reviews and mentions of
    any of those days (the edge days of a range whose whole months come from the rollups).
    """
    if windows:
        filters = filters.with_(date_from=None, date_to=None)
    where, params = filters.where(alias="f")
    unregioned = filters.with_(regions=(), scope=replace(filters.scope, regions=()))
    m_where, m_params = mention_where(unregioned)
    if windows:
        where += " AND " + _windows_sql("f.created_at", windows)
        m_where += " AND " + _windows_sql("m.created_at", windows)
        for i, (first, end) in enumerate(windows):
            params[f"_dw{i}_from"] = dt.datetime.combine(first, dt.time.min)
            params[f"_dw{i}_to"] = dt.datetime.combine(end, dt.time.min)
    aspect_col, level_sql, level_params = aspect_level(parent)
    all_params = {**params, **m_params, **level_params}
    if outcome == "auto":  # both outcomes' columns; the choice and y follow from them
        columns, present = "f.nps_score, f.rating", "(f.nps_score IS NOT NULL OR f.rating IS NOT NULL)"
        choice = (
            f"SELECT CASE WHEN count(nps_score) >= {MIN_REVIEWS} THEN 'nps' ELSE 'rating' END AS outcome"
            " FROM ann"
        )
        y_sql = f"""SELECT dataset_id, feedback_id,
                       CASE WHEN c.outcome = 'nps' THEN {_NPS_Y} ELSE rating::DOUBLE END AS y
                FROM ann, choice c
                WHERE CASE WHEN c.outcome = 'nps' THEN nps_score IS NOT NULL ELSE rating IS NOT NULL END"""
    else:
        columns, present = f"{OUTCOMES[outcome]} AS y", _OUTCOME_PRESENT[outcome]
        all_params["_dr_outcome"] = outcome
        choice = "SELECT $_dr_outcome::VARCHAR AS outcome"
        y_sql = "SELECT dataset_id, feedback_id, y FROM ann"
    rows = con.execute(
        f"""
        WITH f0 AS MATERIALIZED (
            SELECT f.dataset_id, f.feedback_id, {columns} FROM feedback f WHERE {where} AND {present}
        ),
        s0 AS MATERIALIZED (
            SELECT s.dataset_id, s.feedback_id FROM feedback_sentiment s
            WHERE s.feedback_id IN (SELECT feedback_id FROM f0)
        ),
        ann AS MATERIALIZED (
            SELECT * FROM f0 WHERE (dataset_id, feedback_id) IN (SELECT dataset_id, feedback_id FROM s0)
        ),
        choice AS MATERIALIZED ({choice}),
        y AS MATERIALIZED ({y_sql}),
        m0 AS MATERIALIZED (
            SELECT m.dataset_id, m.feedback_id, {aspect_col} AS aspect, m.polarity FROM aspect_mentions m
            WHERE {m_where} AND {level_sql} AND m.feedback_id IN (SELECT feedback_id FROM y)
        ),
        codes AS (
            SELECT dataset_id, feedback_id, aspect,
                   sign(count(*) FILTER (WHERE polarity = 'positive')
                        - count(*) FILTER (WHERE polarity = 'negative'))::DOUBLE AS x
            FROM m0 WHERE (dataset_id, feedback_id) IN (SELECT dataset_id, feedback_id FROM y)
            GROUP BY ALL
        ),
        xy AS MATERIALIZED (SELECT c.*, y.y FROM codes c JOIN y USING (dataset_id, feedback_id))
        SELECT 'O' AS kind, outcome AS a, NULL::VARCHAR AS b, NULL::BIGINT AS n, NULL::DOUBLE AS s1,
               NULL::DOUBLE AS s2, NULL::BIGINT AS positive, NULL::BIGINT AS negative
        FROM choice
        UNION ALL
        SELECT 'T', NULL, NULL, count(*), sum(y), sum(y * y), NULL, NULL FROM y
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
    return _split_choice(rows)


def _ridge(
    n: int,
    sum_y: float,
    sum_yy: float,
    aspects: list[str],
    sum_x: np.ndarray,
    sum_xy: np.ndarray,
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
    mean_x = sum_x / n
    mean_y = sum_y / n
    cov_xx = sxx / n - np.outer(mean_x, mean_x)
    cov_xy = sum_xy / n - mean_x * mean_y
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
