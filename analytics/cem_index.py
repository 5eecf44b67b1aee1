"""The CEM index: one 0–100 customer-experience score from aspect sentiment, with its 95% interval.

Aspect score ``s_a = 100 × (positive + ½·neutral) / mentions`` (= 50 + net sentiment / 2). The index is the
weighted mean ``Σ w_a s_a`` over the top-level aspects present, weights renormalised to sum 1 over them.
Weights come from key-driver importance (:func:`analytics.drivers.key_drivers`, positive importances of
aspects with enough data) or are equal when the data is too thin to estimate drivers. The standard error
treats aspect scores as independent given the weights: ``SE² = Σ w_a² · var(s_a)``. See docs/METRICS.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from duckdb import DuckDBPyConnection
from scipy.special import ndtr

from analytics.aspects import mention_source, mention_source_of, renamed_params
from analytics.drivers import key_drivers
from analytics.filters import Filters
from analytics.rollup_source import use_rollups
from analytics.stats import SMALL_SAMPLE, comparison_windows, z_value

GROUPS: dict[str, tuple[str, ...]] = {"brand": ("brand",), "product": ("brand", "product")}


@dataclass(frozen=True)
class CemWeights:
    """Aspect weights of the index and where they came from (``drivers`` or ``equal``)."""

    weights: Mapping[str, float]
    method: str
    outcome: str | None  # outcome of the driver model when method == "drivers"
    n: int  # reviews behind the driver model


def cem_weights(con: DuckDBPyConnection, filters: Filters) -> CemWeights:
    """Weights from key-driver importance, or equal weights over the aspects present when data is thin."""
    drivers = key_drivers(con, filters, outcome="auto")
    table = drivers.table
    if not drivers.too_small and float(table["weight"].sum()) > 0:
        weights = {str(a): float(w) for a, w in zip(table["aspect"], table["weight"], strict=True) if w > 0}
        return CemWeights(weights, "drivers", drivers.outcome, drivers.n)
    aspects = [str(a) for a in table["aspect"]] or _aspects(con, filters)
    equal = {a: 1.0 / len(aspects) for a in aspects} if aspects else {}
    return CemWeights(equal, "equal", None, drivers.n)


def _aspects(con: DuckDBPyConnection, filters: Filters) -> list[str]:
    source, where, params, _ = mention_source(con, filters)
    sql = f"SELECT DISTINCT m.aspect_top FROM {source} WHERE {where} ORDER BY 1"
    rows = con.execute(sql, params).fetchall()
    return [str(r[0]) for r in rows]


INDEX_COLUMNS = ["index", "low", "high", "standard_error", "n", "aspects", "small_sample"]


def cem_index(
    con: DuckDBPyConnection,
    filters: Filters,
    by: str | None = None,
    weights: CemWeights | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The index for the selection (one row) or per ``brand``/``product``, with interval and mention count.

    Pass the same ``weights`` to compare groups or periods on one scale; by default they are estimated from
    ``filters`` (for competitor brands, call with the brand filter cleared so all brands are in the data).
    ``aspects`` = number of weighted aspects present; ``small_sample`` when fewer than ``SMALL_SAMPLE``
    mentions. A group without any weighted aspect gets NaN.
    """
    if by is not None and by not in GROUPS:
        raise ValueError(f"by {by!r} is not one of {sorted(GROUPS)}")
    chosen = weights or cem_weights(con, filters)
    return _cem_index(con, filters, by, chosen, confidence, use_rollups(con))


def _cem_index(
    con: DuckDBPyConnection,
    filters: Filters,
    by: str | None,
    weights: CemWeights,
    confidence: float,
    rollups: bool,
) -> pd.DataFrame:
    keys = GROUPS[by] if by else ()
    z = z_value(confidence)
    if not keys:
        record = _overall_indexes(con, [filters], weights, z, rollups)[0]
        return pd.DataFrame({c: np.array([record[c]], dtype=_INDEX_DTYPES.get(c)) for c in INDEX_COLUMNS})
    source, where, params, count_sql = mention_source_of(filters, rollups)
    key_sql = "".join(f"m.{k} AS {k}, " for k in keys)
    order_sql = ", ".join([*keys, "aspect"])
    # Every aspect's counts; the aspects without a weight are dropped here (``IN (SELECT unnest(…))`` in the
    # statement cost ~1.4 ms at 1M). The order (keys, aspect) is kept, so the sums run in the same order.
    rows = con.execute(
        f"""
        SELECT {key_sql}m.aspect_top AS aspect, {count_sql}
        FROM {source} WHERE {where}
        GROUP BY ALL ORDER BY {order_sql}
        """,
        params,
    ).fetchall()
    width = len(keys)
    rows = [r for r in rows if r[width] in weights.weights]
    records: list[dict[str, object]] = []
    for key, part in itertools.groupby(rows, key=lambda r: r[:width]):
        # A missing key is NaN, as the group-by of a DataFrame read from DuckDB gave it.
        named = {k: math.nan if v is None else v for k, v in zip(keys, key, strict=True)}
        records.append({**named, **_index(_arrays(list(part), width), weights.weights, z)})
    frame = pd.DataFrame.from_records(records, columns=[*keys, *INDEX_COLUMNS])
    return frame.astype(_INDEX_DTYPES)


_INDEX_DTYPES = {"n": "int64", "aspects": "int64", "small_sample": "bool"}


def _overall_indexes(
    con: DuckDBPyConnection, selections: list[Filters], weights: CemWeights, z: float, rollups: bool
) -> list[dict[str, object]]:
    """The index of each selection (no grouping), all counted in one statement.

    Aspects whose counts cancel to zero are dropped by :func:`_index` (n > 0), so a month partly inside a
    selection's dates may be read as the whole month less its days outside them (``subtract``: fewer day
    rows). Every aspect is counted; those without a weight are dropped here (``IN (SELECT unnest(…))`` in
    the statement cost ~1.4 ms at 1M). Rows keep the aspect order, so the sums run in the same order."""
    parts, params = [], {}
    for i, selection in enumerate(selections):
        source, where, own, count_sql = mention_source_of(selection, rollups, subtract=True)
        select = f"SELECT {i} AS part, m.aspect_top AS aspect, {count_sql} FROM {source} WHERE {where}"
        sql, named = renamed_params(f"{select} GROUP BY ALL", own, f"s{i}_")
        parts.append(sql)
        params.update(named)
    rows = con.execute("\nUNION ALL\n".join(parts) + "\nORDER BY part, aspect", params).fetchall()
    by_part: list[list[tuple]] = [[] for _ in selections]
    for row in rows:
        if row[1] in weights.weights:
            by_part[row[0]].append(row[1:])
    return [_index(_arrays(part, 0), weights.weights, z) for part in by_part]


def _arrays(rows: list[tuple], width: int) -> dict[str, np.ndarray]:
    """Columns ``aspect``, ``n``, ``positive``, ``neutral``, ``negative`` of rows (after ``width`` keys)."""
    return {
        "aspect": np.array([r[width] for r in rows], dtype=object),
        **{c: np.array([r[width + i] for r in rows], dtype=float) for i, c in enumerate(_COUNTS, start=1)},
    }


_COUNTS = ("n", "positive", "neutral", "negative")


def _index(part: Mapping[str, np.ndarray], weights: Mapping[str, float], z: float) -> dict[str, object]:
    """The index of one group from its per-aspect counts (arrays ``aspect``, ``n``, ``positive``,
    ``neutral``, ``negative``)."""
    n = np.asarray(part["n"], dtype=float)
    present = n > 0
    if not present.any():
        return {
            "index": math.nan,
            "low": math.nan,
            "high": math.nan,
            "standard_error": math.nan,
            "n": 0,
            "aspects": 0,
            "small_sample": True,
        }
    n = n[present]
    positive = np.asarray(part["positive"], dtype=float)[present]
    neutral = np.asarray(part["neutral"], dtype=float)[present]
    w = np.array([weights[str(a)] for a in np.asarray(part["aspect"])[present]], dtype=float)
    w = w / w.sum()
    mean = (positive + 0.5 * neutral) / n
    second = (positive + 0.25 * neutral) / n
    variance = np.clip(second - mean**2, 0.0, None) / n
    index = 100.0 * float(w @ mean)
    se = 100.0 * math.sqrt(float((w**2) @ variance))
    total = int(n.sum())
    return {
        "index": index,
        "low": max(0.0, index - z * se),
        "high": min(100.0, index + z * se),
        "standard_error": se,
        "n": total,
        "aspects": int(present.sum()),
        "small_sample": total < SMALL_SAMPLE,
    }


@dataclass(frozen=True)
class CemIndexChange:
    """The index in the selected window and in the window of the same length before it (same weights)."""

    current: float
    current_low: float
    current_high: float
    current_n: int
    previous: float
    previous_n: int
    change: float
    z: float
    p_value: float
    significant: bool
    weighting: str  # "drivers" or "equal"
    windows: tuple[str, str, str, str]  # current from/to, previous from/to (ISO dates)


def compare_index(
    con: DuckDBPyConnection, current: Filters, previous: Filters, weights: CemWeights
) -> tuple[pd.Series, pd.Series, float, float, float]:
    """The index rows of two selections with the same weights, the change and its two-sided z-test:
    ``(now, before, change, z, p_value)``; z and p are NaN when either side has no standard error."""
    return _compare_index(con, current, previous, weights, use_rollups(con))


def _compare_index(
    con: DuckDBPyConnection, current: Filters, previous: Filters, weights: CemWeights, rollups: bool
) -> tuple[pd.Series, pd.Series, float, float, float]:
    records = _overall_indexes(con, [current, previous], weights, z_value(0.95), rollups)
    now, before = (
        pd.DataFrame({c: np.array([r[c]], dtype=_INDEX_DTYPES.get(c)) for c in INDEX_COLUMNS}).iloc[0]
        for r in records
    )
    change = float(now["index"] - before["index"])
    se = math.hypot(float(now["standard_error"]), float(before["standard_error"]))
    z = change / se if se > 0 and not math.isnan(change) else math.nan
    p_value = float(2 * ndtr(-abs(z))) if not math.isnan(z) else math.nan  # = 2 norm.sf(|z|)
    return now, before, change, z, p_value


def cem_index_change(
    con: DuckDBPyConnection,
    filters: Filters,
    default_days: int = 90,
    alpha: float = 0.05,
    weights: CemWeights | None = None,
) -> CemIndexChange | None:
    """Index now against the previous period: change, two-sided z-test, both n. None without dated data.

    ``weights`` default to :func:`cem_weights` of the current window (the key-driver fit is the slow part:
    pass cached weights when showing several figures).
    """
    rollups = use_rollups(con)  # asked once, for the windows and both indexes
    windows = comparison_windows(con, filters, default_days, rollups=rollups)
    if windows is None:
        return None
    weights = weights or cem_weights(con, windows.current)
    now, before, change, z, p_value = _compare_index(con, windows.current, windows.previous, weights, rollups)
    return CemIndexChange(
        current=float(now["index"]),
        current_low=float(now["low"]),
        current_high=float(now["high"]),
        current_n=int(now["n"]),
        previous=float(before["index"]),
        previous_n=int(before["n"]),
        change=change,
        z=z,
        p_value=p_value,
        significant=bool(p_value < alpha) if not math.isnan(p_value) else False,
        weighting=weights.method,
        windows=(
            windows.current_from.isoformat(),
            windows.current_to.isoformat(),
            windows.previous_from.isoformat(),
            windows.previous_to.isoformat(),
        ),
    )
