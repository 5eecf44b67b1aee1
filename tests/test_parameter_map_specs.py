"""Parameter map and product comparison (analytics/parameter_map.py) read the metric and the specs in one
statement: the points, the products left off the map and the comparison's NPS and rating frames must equal
what the per-product satisfaction frame merged with the ``products`` table gives (the reference below),
from the rollups and from the base tables, with missing specs (NULL, NaN, no ``products`` row) and scopes."""

from __future__ import annotations

import contextlib
import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from analytics.filters import Filters
from analytics.parameter_map import (
    POINT_COLUMNS,
    SMALL_SAMPLE,
    compare_products,
    parameter_map,
    product_satisfaction,
)
from analytics.rollup_source import base_tables_only, use_rollups
from data import rollups
from data.scope import Scope
from tests.analytics_fixture import annotated_store


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c, _fx = annotated_store()
    c.execute("UPDATE products SET weight_g = NULL WHERE product = 'Y100'")
    c.execute("UPDATE products SET thickness_mm = 'NaN'::DOUBLE WHERE product = '14'")
    c.execute("DELETE FROM products WHERE product = 'Redmi K70'")  # reviewed, but no specs row at all
    c.execute(  # specs of a product nobody reviewed: never on the map
        "INSERT INTO products (brand, product, weight_g, thickness_mm, is_ours)"
        " VALUES ('荣耀', 'X50', 185, 7.9, TRUE)"
    )
    rollups.rebuild(c)
    assert use_rollups(c)
    return c


def _reference(con: duckdb.DuckDBPyConnection, f: Filters, x: str, y: str, metric: str
               ) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Points and products without specs: the satisfaction frame merged with the scoped specs in pandas."""
    satisfaction = product_satisfaction(con, f, metric)
    scope_sql, scope_params = f.scope_where()
    specs = con.execute(
        f"SELECT brand, product, {x} AS x, {y} AS y, is_ours FROM products WHERE {scope_sql}", scope_params
    ).df()
    merged = satisfaction.merge(specs, on=["brand", "product"], how="left")
    has = merged["x"].notna() & merged["y"].notna()
    missing = tuple(sorted(f"{b} {p}" for b, p in zip(merged.loc[~has, "brand"], merged.loc[~has, "product"],
                                                         strict=True)))
    points = merged[has].copy()
    points["is_ours"] = points["is_ours"].fillna(False).astype(bool)
    points["small_sample"] = points["n"] < SMALL_SAMPLE
    return points[POINT_COLUMNS].sort_values(["brand", "product"]).reset_index(drop=True), missing


FILTERS = [
    Filters(),
    Filters(brands=("小米", "vivo")),
    Filters(date_from=dt.date(2025, 2, 11), date_to=dt.date(2025, 5, 20)),
    Filters(regions=("北京",)),
    Filters(scope=Scope(brands=("华为", "小米"))),
    Filters(scope=Scope(brands=("nobody",))),
]
METRICS = ["rating", "nps", "sentiment", "aspect:电池"]


@pytest.mark.parametrize("mode", ["rollups", "base tables"])
@pytest.mark.parametrize("metric", METRICS)
def test_points_and_missing_specs_equal_the_merge(con: duckdb.DuckDBPyConnection, metric: str, mode: str
                                                  ) -> None:
    context = base_tables_only() if mode == "base tables" else contextlib.nullcontext()
    with context:
        for f in FILTERS:
            for x, y in (("weight_g", "thickness_mm"), ("launch_price_cny", "screen_in")):
                result = parameter_map(con, f, x, y, metric)
                points, missing = _reference(con, f, x, y, metric)
                where = f"{metric} {x}/{y} {f.describe('en')}"
                assert result.products_without_specs == missing, where
                if points.empty:
                    assert result.points.empty and list(result.points.columns) == POINT_COLUMNS, where
                    assert result.points[["x", "y"]].dtypes.tolist() == [np.float64] * 2, where
                    continue
                pd.testing.assert_frame_equal(result.points, points, obj=where)
                centre = np.average(points["satisfaction"], weights=points["n"])
                assert result.centre == pytest.approx(centre), where


def test_missing_specs_are_named(con: duckdb.DuckDBPyConnection) -> None:
    result = parameter_map(con, Filters(), "weight_g", "thickness_mm")
    assert result.products_without_specs == ("vivo Y100", "小米 14", "小米 Redmi K70")
    assert set(result.points["product"]) == {"Mate 60", "nova 12", "X100 Pro"}


CHOICES = [
    [("华为", "Mate 60"), ("小米", "14"), ("vivo", "Y100"), ("荣耀", "X50")],
    [("华为", "14"), ("小米", "Mate 60")],  # the brands' and names' cross pairs have reviews, these do not
]


@pytest.mark.parametrize("mode", ["rollups", "base tables"])
@pytest.mark.parametrize("chosen", CHOICES, ids=["four", "crossed"])
def test_comparison_nps_and_rating_equal_product_satisfaction(
    con: duckdb.DuckDBPyConnection, mode: str, chosen: list[tuple[str, str]]
) -> None:
    context = base_tables_only() if mode == "base tables" else contextlib.nullcontext()
    with context:
        for f in FILTERS:
            result = compare_products(con, f, chosen)
            narrowed = f.with_(brands=tuple(b for b, _ in chosen), products=tuple(p for _, p in chosen))
            for metric, frame in (("nps", result.nps), ("rating", result.rating)):
                expected = product_satisfaction(con, narrowed, metric)
                pairs = zip(expected["brand"], expected["product"], strict=True)
                wanted = np.array([(b, p) in chosen for b, p in pairs], dtype=bool)
                expected = expected[wanted].reset_index(drop=True)
                if metric == "nps":
                    expected = expected.rename(columns={"satisfaction": "nps"})
                    expected["small_sample"] = expected["n"] < SMALL_SAMPLE
                pd.testing.assert_frame_equal(frame, expected, obj=f"{metric} {f.describe('en')}")
            assert "X50" not in set(result.rating["product"])  # specs, but no review
            assert len(result.rating) == 0 or chosen == CHOICES[0]
