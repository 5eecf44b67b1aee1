"""Sidebar option lists (analytics/options.py): two small statements plus Python sorting give exactly the
lists of the plain per-list SQL (one DISTINCT ... ORDER BY per list on ``feedback``), from the rollups and
from the base tables, for awkward values: blank names (spaces DuckDB's ``trim`` strips, ideographic and
no-break spaces), NULLs, a product without brand, undated rows, a dataset without rows, scopes."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from analytics.filters import Filters
from analytics.options import DatasetOption, FilterOptions, filter_options
from analytics.rollup_source import base_tables_only, use_rollups
from data import rollups
from data.scope import Scope
from data.store import connect

# (dataset_id, brand, product, channel, region, created_at)
ROWS: list[tuple[int, str | None, str | None, str | None, str | None, dt.datetime | None]] = [
    (1, "华为", "P60", "京东", "广东", dt.datetime(2025, 1, 3, 8)),
    (1, "华为", "Mate 60", "天猫", "北京", dt.datetime(2025, 2, 9, 23, 59)),
    (1, "Apple", "iPhone 15", "京东", "上海", dt.datetime(2024, 12, 31, 12)),
    (1, None, "iPhone 15", "抖音", None, dt.datetime(2025, 1, 20)),  # a product whose brand is missing
    (1, "小米", None, "", "\u2003", dt.datetime(2025, 3, 1)),  # no product, blank channel and region
    (2, " ", "  ", "\u00a0", "广东", None),  # blanks everywhere, undated
    (2, "\u3000", "Z", None, "", dt.datetime(2023, 7, 1)),  # ideographic-space brand
    (2, "vivo", "X100", " 微博", "四川", dt.datetime(2025, 6, 30, 23, 59, 59)),  # leading space kept
    (2, "OPPO", "Reno10", "微博", "\u3000浙江", dt.datetime(2024, 5, 5)),
    (2, "apple", "iPhone 15", "Weibo", "Zhejiang", dt.datetime(2024, 5, 6)),  # case and script order
]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = connect(":memory:")
    c.execute(
        "INSERT INTO datasets (dataset_id, name, kind, is_demo) VALUES"
        " (1, '评论', 'reviews', FALSE), (2, '问卷', 'survey', TRUE), (3, '空的', 'reviews', FALSE)"
    )
    for i, (dataset, brand, product, channel, region, created) in enumerate(ROWS, start=1):
        c.execute(
            "INSERT INTO feedback (feedback_id, dataset_id, content_hash, brand, product, channel, region,"
            " created_at, rating) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 4)",
            [i, dataset, f"h{i}", brand, product, channel, region, created],
        )
    rollups.rebuild(c)
    assert use_rollups(c)
    return c


def _reference(con: duckdb.DuckDBPyConnection, scope: Scope | None) -> FilterOptions:
    """The lists as one plain query each on ``feedback`` (what the page showed before the rewrite)."""
    where, params = Filters(scope=scope or Scope()).where(alias="f")

    def strings(column: str) -> tuple[str, ...]:
        rows = con.execute(
            f"SELECT DISTINCT f.{column} FROM feedback f WHERE f.{column} IS NOT NULL"
            f" AND trim(f.{column}) <> '' AND {where} ORDER BY 1",
            params,
        ).fetchall()
        return tuple(r[0] for r in rows)

    low, high = con.execute(f"SELECT min(created_at), max(created_at) FROM feedback f WHERE {where}", params
                            ).fetchall()[0]
    products = con.execute(
        f"SELECT DISTINCT f.brand, f.product FROM feedback f WHERE f.product IS NOT NULL"
        f" AND trim(f.product) <> '' AND {where} ORDER BY f.product, f.brand",
        params,
    ).fetchall()
    datasets = con.execute(
        "SELECT dataset_id, name, kind, is_demo FROM datasets WHERE dataset_id IN"
        f" (SELECT f.dataset_id FROM feedback f WHERE {where}) ORDER BY dataset_id",
        params,
    ).fetchall()
    return FilterOptions(
        date_min=low.date() if low else None,
        date_max=high.date() if high else None,
        brands=strings("brand"),
        products=tuple((b, p) for b, p in products),
        channels=strings("channel"),
        datasets=tuple(DatasetOption(*d) for d in datasets),
        regions=strings("region"),
    )


SCOPES = [
    None,
    Scope(brands=("华为",)),
    Scope(brands=("Apple", "apple")),
    Scope(products=("iPhone 15",)),
    Scope(regions=("广东",)),
    Scope(regions=("广东", "四川"), brands=("vivo",)),
    Scope(brands=("nobody",)),
    Scope.nothing(),
]


@pytest.mark.parametrize("scope", SCOPES, ids=str)
def test_lists_equal_the_plain_queries_from_rollups_and_base_tables(
    con: duckdb.DuckDBPyConnection, scope: Scope | None
) -> None:
    expected = _reference(con, scope)
    assert filter_options(con, scope) == expected
    with base_tables_only():
        assert filter_options(con, scope) == expected


def test_awkward_values_are_sorted_and_blank_names_dropped(con: duckdb.DuckDBPyConnection) -> None:
    options = filter_options(con)
    assert options.brands == ("Apple", "OPPO", "apple", "vivo", "华为", "小米")  # code-point order
    # by product, then brand, a missing brand last
    assert options.products[-3:] == (("Apple", "iPhone 15"), ("apple", "iPhone 15"), (None, "iPhone 15"))
    assert ("\u3000", "Z") in options.products  # a blank brand still names a product
    assert options.channels == (" 微博", "Weibo", "京东", "天猫", "微博", "抖音")
    assert options.regions == ("Zhejiang", "\u3000浙江", "上海", "北京", "四川", "广东")
    assert (options.date_min, options.date_max) == (dt.date(2023, 7, 1), dt.date(2025, 6, 30))
    assert options.dataset_ids == (1, 2)  # the dataset without rows is not offered


def test_rows_written_without_rollups_are_listed_from_the_base_tables(con: duckdb.DuckDBPyConnection) -> None:
    c = con.cursor()
    c.execute("BEGIN TRANSACTION")
    try:
        c.execute(
            "INSERT INTO feedback (feedback_id, dataset_id, content_hash, brand, product, channel, region)"
            " VALUES (99, 3, 'x', '荣耀', 'Magic6', '官网', '西藏')"
        )
        assert not use_rollups(c)  # the guard sees rows the rollups do not account for
        options = filter_options(c)
        assert "荣耀" in options.brands and "西藏" in options.regions and options.dataset_ids == (1, 2, 3)
        assert options == _reference(c, None)
    finally:
        c.execute("ROLLBACK")
