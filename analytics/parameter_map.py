"""Competitor parameter map: products in a plane of two specs, and a satisfaction surface behind them.

Each product (``products`` table, joined to feedback on brand + product) is a point at its two specs, sized
by its volume and coloured by satisfaction. The surface is a Nadaraya–Watson (Gaussian-kernel) average of the
products' satisfaction on axes standardised by the products' mean and standard deviation, each product
weighted by ``kernel × n / (n + SHRINK_N)`` so thinly reviewed products count less. Grid cells farther than
``unknown_distance`` standardised units from every product are NaN (unknown). See docs/METRICS.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from duckdb import DuckDBPyConnection

from analytics.aspects import aspect_condition, aspect_heatmap, mention_source, mention_where
from analytics.filters import Filters
from analytics.metrics import nps_interval
from analytics.rollup_source import feedback_source, use_rollups
from analytics.stats import SMALL_SAMPLE, net_sentiment

# Product parameters a map may use (a whitelist of ``products`` columns) and their units.
PARAMETERS: dict[str, str] = {
    "launch_price_cny": "¥",
    "weight_g": "g",
    "thickness_mm": "mm",
    "battery_mah": "mAh",
    "screen_in": "in",
}
SHRINK_N = 30  # a product with n reviews weighs n / (n + SHRINK_N) in the surface
BANDWIDTH = 0.6  # Gaussian kernel bandwidth in standardised units
UNKNOWN_DISTANCE = 1.5  # grid cells farther than this (standardised) from every product are unknown

POINT_COLUMNS = [
    "brand",
    "product",
    "x",
    "y",
    "is_ours",
    "n",
    "satisfaction",
    "low",
    "high",
    "small_sample",
]


def _parameter(name: str) -> str:
    if name not in PARAMETERS:
        raise ValueError(f"parameter {name!r} is not one of {sorted(PARAMETERS)}")
    return name


# (n, a, b, c) per product from the feedback rollups, for each feedback-level metric.
_ROLLUP_METRICS: dict[str, str] = {
    "rating": "sum(f.rated) AS n, sum(f.rating_sum) AS a, sum(f.rating_sq_sum) AS b, 0 AS c",
    "nps": ("sum(f.promoters + f.passives + f.detractors) AS n, sum(f.promoters) AS a, sum(f.passives) AS b,"
            " sum(f.detractors) AS c"),
    "sentiment": ("sum(f.annotated) AS n, sum(f.sentiment_positive) AS a, sum(f.sentiment_neutral) AS b,"
                  " sum(f.sentiment_negative) AS c"),
}


def _metric_sql(
    metric: str, filters: Filters, con: DuckDBPyConnection | None = None
) -> tuple[str, dict[str, object]]:
    """SQL giving (brand, product, n, a, b, c) per product for ``metric`` (rollups when ``con`` has current
    ones, else the base tables), ordered by brand and product."""
    rollups = con is not None and use_rollups(con)
    if rollups and metric in _ROLLUP_METRICS:
        source, params = feedback_source(filters, "f")
        return (
            f"SELECT f.brand, f.product, {_ROLLUP_METRICS[metric]} FROM {source} GROUP BY ALL"
            " ORDER BY f.brand, f.product",
            params,
        )
    if rollups and metric.startswith("aspect:") and len(metric) > len("aspect:"):
        source, _, params, _ = mention_source(con, filters)  # type: ignore[arg-type]
        aspect_sql, aspect_params = aspect_condition(metric[len("aspect:") :])
        return (
            f"""SELECT m.brand, m.product, sum(m.n) AS n, sum(m.positive) AS a, sum(m.neutral) AS b,
                       sum(m.negative) AS c
                FROM {source} WHERE {aspect_sql} GROUP BY ALL ORDER BY m.brand, m.product""",
            {**params, **aspect_params},
        )
    if metric in ("rating", "nps"):
        where, params = filters.where(alias="f")
        if metric == "rating":
            select = "count(f.rating) AS n, sum(f.rating) AS a, sum(f.rating * f.rating) AS b, 0 AS c"
            present = "f.rating IS NOT NULL"
        else:
            select = (
                "count(*) AS n, count(*) FILTER (WHERE f.nps_score >= 9) AS a,"
                " count(*) FILTER (WHERE f.nps_score BETWEEN 7 AND 8) AS b,"
                " count(*) FILTER (WHERE f.nps_score <= 6) AS c"
            )
            present = "f.nps_score IS NOT NULL"
        return (
            f"SELECT f.brand, f.product, {select} FROM feedback f WHERE {where} AND {present} GROUP BY ALL"
            " ORDER BY f.brand, f.product",
            params,
        )
    if metric == "sentiment":
        where, params = filters.where(alias="f")
        return (
            f"""SELECT f.brand, f.product, count(*) AS n,
                       count(*) FILTER (WHERE s.sentiment = 'positive') AS a,
                       count(*) FILTER (WHERE s.sentiment = 'neutral') AS b,
                       count(*) FILTER (WHERE s.sentiment = 'negative') AS c
                FROM feedback f JOIN feedback_sentiment s USING (dataset_id, feedback_id)
                WHERE {where} GROUP BY ALL ORDER BY f.brand, f.product""",
            params,
        )
    if metric.startswith("aspect:") and len(metric) > len("aspect:"):
        where, params = mention_where(filters)
        aspect_sql, aspect_params = aspect_condition(metric[len("aspect:") :])
        return (
            f"""SELECT m.brand, m.product, count(*) AS n,
                       count(*) FILTER (WHERE m.polarity = 'positive') AS a,
                       count(*) FILTER (WHERE m.polarity = 'neutral') AS b,
                       count(*) FILTER (WHERE m.polarity = 'negative') AS c
                FROM aspect_mentions m WHERE {where} AND {aspect_sql} GROUP BY ALL
                ORDER BY m.brand, m.product""",
            {**params, **aspect_params},
        )
    raise ValueError(f"metric {metric!r} must be 'rating', 'nps', 'sentiment' or 'aspect:<aspect>'")


def _interval(metric: str, n: int, a: Any, b: Any, c: Any) -> tuple[float, float, float]:
    """(satisfaction, low, high) of one product from its (n, a, b, c) sums (see :func:`_metric_sql`)."""
    if metric == "rating":
        mean = float(a) / n
        variance = max(float(b) / n - mean**2, 0.0) * n / max(n - 1, 1)
        half = 1.96 * math.sqrt(variance / n)
        return mean, mean - half, mean + half
    if metric == "nps":
        i = nps_interval(int(a), int(b), int(c))
        return i.nps, i.low, i.high
    s = net_sentiment(int(a), int(b), int(c))
    return s.net, s.low, s.high


SATISFACTION_COLUMNS = ["brand", "product", "n", "satisfaction", "low", "high"]


def _satisfaction_frame(rows: list[tuple], metric: str) -> pd.DataFrame:
    """``rows`` of (brand, product, n, a, b, c) as :func:`product_satisfaction`'s frame (n = 0 left out)."""
    records = []
    for brand, product, n, a, b, c in rows:
        n = int(n)
        if n == 0:
            continue
        records.append((brand, product, n, *_interval(metric, n, a, b, c)))
    return pd.DataFrame.from_records(records, columns=SATISFACTION_COLUMNS)


def product_satisfaction(con: DuckDBPyConnection, filters: Filters, metric: str = "rating") -> pd.DataFrame:
    """Per product: ``n`` and ``satisfaction`` with a 95% interval.

    ``rating``: mean star rating (1–5, t-free normal interval); ``nps``: NPS (adjusted Wald);
    ``sentiment``: net overall sentiment of reviews; ``aspect:<top or path>``: net sentiment of that aspect's
    mentions (both −100…100, adjusted Wald).
    """
    sql, params = _metric_sql(metric, filters, con)
    return _satisfaction_frame(con.execute(sql, params).fetchall(), metric)


@dataclass(frozen=True)
class ParameterMap:
    """Points and the interpolated surface.

    ``surface[i, j]`` is the estimate at ``(grid_x[j], grid_y[i])`` (NaN: unknown, too far from any product).
    ``centre`` is the volume-weighted mean satisfaction of the points: colour above it green, below it red.
    """

    x: str
    y: str
    metric: str
    points: pd.DataFrame
    grid_x: np.ndarray
    grid_y: np.ndarray
    surface: np.ndarray
    centre: float
    bandwidth: float
    unknown_distance: float
    products_without_specs: tuple[str, ...]  # reviewed products lacking x or y (not on the map)

    def value_at(self, x: float, y: float) -> float:
        """The surface at a point (nearest grid cell)."""
        j = int(np.argmin(np.abs(self.grid_x - x)))
        i = int(np.argmin(np.abs(self.grid_y - y)))
        return float(self.surface[i, j])


def parameter_map(
    con: DuckDBPyConnection,
    filters: Filters,
    x: str,
    y: str,
    metric: str = "rating",
    grid_size: int = 40,
    bandwidth: float = BANDWIDTH,
    unknown_distance: float = UNKNOWN_DISTANCE,
) -> ParameterMap:
    """Products at their ``x``/``y`` specs coloured by ``metric`` (see :func:`product_satisfaction`)."""
    x_col, y_col = _parameter(x), _parameter(y)
    if x_col == y_col:
        raise ValueError("choose two different parameters")
    if not 5 <= grid_size <= 200 or bandwidth <= 0 or unknown_distance <= 0:
        raise ValueError("need 5 <= grid_size <= 200, bandwidth > 0 and unknown_distance > 0")
    # One statement: the metric per product with its specs (the user's scope reaches the specs too).
    metric_sql, params = _metric_sql(metric, filters, con)
    scope_sql, scope_params = filters.scope_where(alias="p")
    rows = con.execute(
        f"""SELECT s.brand, s.product, s.n, s.a, s.b, s.c, p.{x_col} AS x, p.{y_col} AS y, p.is_ours
            FROM ({metric_sql}) s
            LEFT JOIN products p ON p.brand = s.brand AND p.product = s.product AND {scope_sql}
            ORDER BY s.brand, s.product""",
        {**params, **scope_params},
    ).fetchall()
    records, lacking = [], []
    for brand, product, n, a, b, c, px_, py_, ours in rows:
        n = int(n)
        if n == 0:
            continue
        if px_ is None or py_ is None or math.isnan(px_) or math.isnan(py_):
            lacking.append(f"{brand} {product}")
            continue
        value, low, high = _interval(metric, n, a, b, c)
        small = n < SMALL_SAMPLE
        records.append((brand, product, float(px_), float(py_), bool(ours), n, value, low, high, small))
    missing = tuple(sorted(lacking))
    points = pd.DataFrame.from_records(records, columns=POINT_COLUMNS)
    if not records:  # the dtypes an empty merge of the specs gave
        points = points.astype({"x": float, "y": float, "is_ours": bool, "small_sample": bool})
    empty = np.array([], dtype=float)
    if points.empty:
        return ParameterMap(
            x,
            y,
            metric,
            points,
            empty,
            empty,
            np.empty((0, 0)),
            math.nan,
            bandwidth,
            unknown_distance,
            missing,
        )
    px, py = points["x"].to_numpy(float), points["y"].to_numpy(float)
    values, n = points["satisfaction"].to_numpy(float), points["n"].to_numpy(float)
    grid_x, grid_y = _axis(px, grid_size), _axis(py, grid_size)
    surface = kernel_surface(px, py, values, n, grid_x, grid_y, bandwidth, unknown_distance)
    centre = float(np.average(values, weights=n))
    return ParameterMap(
        x, y, metric, points, grid_x, grid_y, surface, centre, bandwidth, unknown_distance, missing
    )


def _axis(values: np.ndarray, size: int) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    pad = 0.05 * (high - low) if high > low else max(abs(low) * 0.05, 1.0)
    return np.linspace(low - pad, high + pad, size)


def _standardise(values: np.ndarray) -> tuple[float, float]:
    sd = float(values.std())
    return float(values.mean()), sd if sd > 0 else 1.0


def kernel_surface(
    px: np.ndarray,
    py: np.ndarray,
    values: np.ndarray,
    n: np.ndarray,
    grid_x: np.ndarray,
    grid_y: np.ndarray,
    bandwidth: float,
    unknown_distance: float,
) -> np.ndarray:
    """Gaussian-kernel weighted average of ``values`` on the grid (rows: ``grid_y``), NaN where unknown."""
    mx, sx = _standardise(px)
    my, sy = _standardise(py)
    zx, zy = (px - mx) / sx, (py - my) / sy
    gx, gy = np.meshgrid((grid_x - mx) / sx, (grid_y - my) / sy)
    d2 = (gx[..., None] - zx) ** 2 + (gy[..., None] - zy) ** 2  # grid_y × grid_x × products
    weights = np.exp(-d2 / (2 * bandwidth**2)) * (n / (n + SHRINK_N))
    total = weights.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        surface = (weights * values).sum(axis=-1) / total
    surface[np.sqrt(d2.min(axis=-1)) > unknown_distance] = np.nan
    surface[~np.isfinite(surface)] = np.nan
    return surface


COMPARISON_SPEC_COLUMNS = ["brand", "product", *PARAMETERS, "release_date", "is_ours"]


@dataclass(frozen=True)
class ProductComparison:
    specs: pd.DataFrame  # one row per chosen product (specs NaN where unknown)
    aspects: pd.DataFrame  # brand, product, aspect, n, net, low, high, small_sample
    nps: pd.DataFrame  # brand, product, n, nps, low, high, small_sample (only products with answers)
    rating: pd.DataFrame  # brand, product, n, satisfaction (mean rating), low, high


def compare_products(
    con: DuckDBPyConnection, filters: Filters, products: list[tuple[str, str]]
) -> ProductComparison:
    """Side-by-side figures for chosen ``(brand, product)`` pairs: specs, aspect scores, NPS, rating."""
    if not products:
        raise ValueError("choose at least one product to compare")
    brands = tuple(sorted({b for b, _ in products}))
    names = tuple(sorted({p for _, p in products}))
    wanted = set(products)
    narrowed = filters.with_(brands=brands, products=names)

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        # A boolean array, not a list: ``frame[[]]`` on an empty frame selects no columns (KeyError later).
        mask = np.fromiter(((b, p) in wanted for b, p in zip(frame["brand"], frame["product"], strict=True)),
                           dtype=bool, count=len(frame))
        return frame[mask].reset_index(drop=True)

    def chosen(rows: list[tuple], metric: str) -> pd.DataFrame:
        # The chosen pairs' rows only; none of them: the empty frame with the dtypes all the rows give.
        frame = _satisfaction_frame([r for r in rows if (r[0], r[1]) in wanted], metric)
        return frame if not frame.empty else _satisfaction_frame(rows, metric).iloc[0:0]

    scope_sql, scope_params = filters.scope_where()
    # list_contains, not IN (SELECT unnest(...)): on a table of a few hundred rows the semi-join's set-up
    # costs more than the scan (~0.8 ms of ~2.5 ms).
    specs = con.execute(
        f"""SELECT {", ".join(COMPARISON_SPEC_COLUMNS)} FROM products
            WHERE list_contains($brands, brand) AND list_contains($names, product) AND {scope_sql}
            ORDER BY brand, product""",
        {"brands": list(brands), "names": list(names), **scope_params},
    ).df()
    aspects = keep(aspect_heatmap(con, narrowed, rows="product"))
    sql, params = _nps_and_rating_sql(narrowed, use_rollups(con))
    rows = con.execute(sql, params).fetchall()  # one scan for both metrics
    nps = chosen([(r[0], r[1], *r[6:]) for r in rows], "nps").rename(columns={"satisfaction": "nps"})
    nps["small_sample"] = nps["n"] < SMALL_SAMPLE
    rating = chosen([r[:6] for r in rows], "rating")
    return ProductComparison(keep(specs), aspects, nps, rating)


def _nps_and_rating_sql(filters: Filters, rollups: bool) -> tuple[str, dict[str, object]]:
    """(brand, product, then the rating's n, a, b, 0, then the NPS's n, a, b, c) per product: the sums of
    :func:`_metric_sql` for both metrics in one statement, ordered by brand and product."""
    rating, nps = _ROLLUP_METRICS["rating"], _ROLLUP_METRICS["nps"]
    if rollups:
        source, params = feedback_source(filters, "f")
        return f"SELECT f.brand, f.product, {rating}, {nps} FROM {source} GROUP BY ALL ORDER BY 1, 2", params
    where, params = filters.where(alias="f")
    return (
        "SELECT f.brand, f.product, count(f.rating), sum(f.rating), sum(f.rating * f.rating), 0,"
        " count(f.nps_score), count(*) FILTER (WHERE f.nps_score >= 9),"
        " count(*) FILTER (WHERE f.nps_score BETWEEN 7 AND 8), count(*) FILTER (WHERE f.nps_score <= 6)"
        f" FROM feedback f WHERE {where} GROUP BY ALL ORDER BY 1, 2",
        params,
    )
