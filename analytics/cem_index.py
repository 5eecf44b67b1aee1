"""The CEM index: one 0–100 customer-experience score from aspect sentiment, with its 95% interval.

Aspect score ``s_a = 100 × (positive + ½·neutral) / mentions`` (= 50 + net sentiment / 2). The index is the
weighted mean ``Σ w_a s_a`` over the top-level aspects present, weights renormalised to sum 1 over them.
Weights come from key-driver importance (:func:`analytics.drivers.key_drivers`, positive importances of
aspects with enough data) or are equal when the data is too thin to estimate drivers. The standard error
treats aspect scores as independent given the weights: ``SE² = Σ w_a² · var(s_a)``. See docs/METRICS.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from duckdb import DuckDBPyConnection
from scipy.stats import norm

from analytics.aspects import mention_source
from analytics.drivers import key_drivers
from analytics.filters import Filters
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
    keys = GROUPS[by] if by else ()
    chosen = weights or cem_weights(con, filters)
    source, where, params, count_sql = mention_source(con, filters)
    key_sql = "".join(f"m.{k} AS {k}, " for k in keys)
    order_sql = ", ".join([*keys, "aspect"])
    counts = con.execute(
        f"""
        SELECT {key_sql}m.aspect_top AS aspect, {count_sql}
        FROM {source} WHERE {where} AND m.aspect_top IN (SELECT unnest($aspects))
        GROUP BY ALL ORDER BY {order_sql}
        """,
        {**params, "aspects": list(chosen.weights) or [""]},
    ).df()
    z = z_value(confidence)
    records: list[dict[str, object]] = []
    grouped = counts.groupby(list(keys), dropna=False, sort=True) if keys else [((), counts)]
    for key, part in grouped:
        key_tuple = key if isinstance(key, tuple) else (key,)
        records.append({**dict(zip(keys, key_tuple, strict=True)), **_index(part, chosen.weights, z)})
    frame = pd.DataFrame.from_records(records, columns=[*keys, *INDEX_COLUMNS])
    if not keys and frame.empty:
        frame = pd.DataFrame.from_records([_index(counts, chosen.weights, z)], columns=INDEX_COLUMNS)
    return frame.astype({"n": "int64", "aspects": "int64", "small_sample": "bool"})


def _index(part: pd.DataFrame, weights: Mapping[str, float], z: float) -> dict[str, object]:
    n = part["n"].to_numpy(dtype=float)
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
    positive = part["positive"].to_numpy(dtype=float)[present]
    neutral = part["neutral"].to_numpy(dtype=float)[present]
    w = np.array([weights[str(a)] for a in part["aspect"].to_numpy()[present]], dtype=float)
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
    now = cem_index(con, current, weights=weights).iloc[0]
    before = cem_index(con, previous, weights=weights).iloc[0]
    change = float(now["index"] - before["index"])
    se = math.hypot(float(now["standard_error"]), float(before["standard_error"]))
    z = change / se if se > 0 and not math.isnan(change) else math.nan
    p_value = float(2 * norm.sf(abs(z))) if not math.isnan(z) else math.nan
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
    windows = comparison_windows(con, filters, default_days)
    if windows is None:
        return None
    weights = weights or cem_weights(con, windows.current)
    now, before, change, z, p_value = compare_index(con, windows.current, windows.previous, weights)
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
