"""Rollup layout 2 (migration 6) and the faster read paths of the overview, NPS and aspects pages.

- ``rollup_feedback_noregion_month``: carried over by migration 6, read when nothing touches ``region``;
- the readers' guard sees a write made through another cursor or connection at once (it is never cached);
- sources that read a partial month as the whole month minus the days outside the range give exactly the
  base tables' numbers for any date range (``tests/test_rollups.py`` holds the per-function comparisons).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analytics import aspects, cem_index, drivers, nps, overview
from analytics.filters import Filters
from analytics.rollup_source import aspect_source, base_tables_only, feedback_source, use_rollups
from data import rollups
from data.schema import LATEST_VERSION
from data.store import connect, migrate, schema_version
from tests import fixture_store
from tests.analytics_fixture import annotated_store
from tests.test_rollups import _same, assert_rollups_exact


@pytest.fixture(scope="module")
def store() -> duckdb.DuckDBPyConnection:
    con, _fx = annotated_store(n_reviews=400, n_survey=200)
    regions = ("广东", "北京", None)
    con.execute(
        "UPDATE feedback SET region = list_extract($r, (feedback_id % 3 + 1)::INTEGER)", {"r": list(regions)}
    )
    rollups.rebuild(con)
    return con


def test_month_source_without_region_unless_the_filter_or_the_query_needs_it() -> None:
    plain, _ = feedback_source(Filters())
    assert "rollup_feedback_noregion_month" in plain and "rollup_feedback_month " not in plain
    by_region, _ = feedback_source(Filters(), region=True)
    assert "rollup_feedback_month r" in by_region
    filtered, _ = feedback_source(Filters(regions=("广东",)))
    assert "rollup_feedback_month r" in filtered
    con = connect(":memory:")
    fixture_store.fill(con)
    source, params = feedback_source(Filters(date_from=dt.date(2025, 1, 9)))
    with pytest.raises(duckdb.BinderException):  # region is absent, never silently NULL
        con.execute(f"SELECT f.region FROM {source}", params).fetchall()


def test_nps_by_region_reads_the_region_table(store: duckdb.DuckDBPyConnection) -> None:
    for f in (Filters(), Filters(date_from=dt.date(2025, 1, 9))):
        got = nps.nps_by(store, f, "region"), nps.nps_trend_by(store, f, "month", "region")
        with base_tables_only():
            expected = nps.nps_by(store, f, "region"), nps.nps_trend_by(store, f, "month", "region")
        for a, b in zip(got, expected, strict=True):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert got[0]["segment"].notna().sum() == 2  # 广东, 北京 (and the rows without a region)


def test_guard_sees_a_write_made_through_another_cursor_or_connection(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    fixture_store.build_store(path)
    con = connect(path)
    try:
        reader = con.cursor()
        assert use_rollups(reader)
        before = overview.overview_kpis(reader, Filters())
        con.cursor().execute(
            "INSERT INTO feedback (feedback_id, dataset_id, content_hash, brand, created_at, nps_score)"
            " VALUES (99999, 1, 'direct', '华为', TIMESTAMP '2025-03-03', 0)"
        )
        assert not use_rollups(reader)  # the same reading cursor, right after another cursor's write
        after = overview.overview_kpis(reader, Filters())
        assert after.feedback == before.feedback + 1 and after.nps.detractors == before.nps.detractors + 1
        rollups.rebuild(con.cursor())
        assert use_rollups(reader)
        other = duckdb.connect(str(path))  # a second connection of this process to the same file
        try:
            other.execute("DELETE FROM feedback WHERE feedback_id = 99999")
            assert not use_rollups(reader)
            assert overview.overview_kpis(reader, Filters()) == before
        finally:
            other.close()
        writer = con.cursor()
        writer.execute("BEGIN TRANSACTION")
        rollups.rebuild(writer)
        assert not use_rollups(reader)  # uncommitted: the reader still sees stale totals
        writer.execute("COMMIT")
        assert use_rollups(reader)
        assert overview.overview_kpis(reader, Filters()) == before
    finally:
        con.close()


def test_migration_6_carries_current_rollups_and_the_guard_needs_layout_2() -> None:
    con, _fx = annotated_store(n_reviews=150, n_survey=80)
    rollups.rebuild(con)
    # The state of a store migrated to version 5: no region-less month table, layout 1.
    _back_to_version_6(con)
    con.execute("DROP TABLE rollup_feedback_noregion_month")
    con.execute("UPDATE rollup_meta SET value = 1 WHERE name = 'layout'")
    con.execute("DELETE FROM schema_version WHERE version = 6")
    assert schema_version(con) == 5
    assert not rollups.is_current(con)  # a reader of this code must not read a layout-1 store
    assert not rollups.status(con).layout_ok
    assert migrate(con) == LATEST_VERSION
    assert_rollups_exact(con)  # the new table equals the base tables' GROUP BY, the guard says current
    f = Filters(brands=("华为",))
    with base_tables_only():
        expected = overview.overview_kpis(con, f)
    assert overview.overview_kpis(con, f) == expected


def _back_to_version_6(con: duckdb.DuckDBPyConnection) -> None:
    """The state of a store migrated to version 6: no region-keyed driver tables, layout 2 (and no
    id_high_water of migration 8)."""
    con.execute("DROP TABLE id_high_water")
    con.execute("DELETE FROM schema_version WHERE version = 8")
    con.execute("DROP TABLE rollup_driver_region_aspects")
    con.execute("DROP TABLE rollup_driver_region_pairs")
    con.execute("UPDATE rollup_meta SET value = 2 WHERE name = 'layout'")
    con.execute("DELETE FROM schema_version WHERE version = 7")


def test_migration_7_carries_current_rollups_and_region_drivers_read_them() -> None:
    con, _fx = annotated_store(n_reviews=150, n_survey=80)
    rollups.rebuild(con)
    _back_to_version_6(con)
    assert schema_version(con) == 6 and not rollups.is_current(con)
    assert migrate(con) == LATEST_VERSION
    assert_rollups_exact(con)  # the region driver tables equal a rebuild's, the guard says current
    region = con.execute(
        "SELECT region FROM feedback WHERE region IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()[0][0]
    f = Filters(regions=(region,))
    assert drivers._driver_tables(f) == drivers._REGION_TABLES
    assert drivers._driver_tables(f.with_(brands=("华为",))) is None  # region and brand: base tables
    with base_tables_only():
        expected = drivers.key_drivers(con, f, "auto")
    _same(drivers.key_drivers(con, f, "auto"), expected, "key_drivers for one region")


def test_migration_4_stays_as_released() -> None:
    from data.schema import MIGRATIONS

    m4, m6 = (m for m in MIGRATIONS if m.version in (4, 6))
    assert "noregion" not in m4.sql and "('layout', 1)" in m4.sql
    assert "rollup_feedback_noregion_month" in m6.sql


def test_migration_6_leaves_rollups_of_another_layout_unreadable() -> None:
    con, _fx = annotated_store(n_reviews=60, n_survey=20)
    rollups.rebuild(con)
    _back_to_version_6(con)
    con.execute("DROP TABLE rollup_feedback_noregion_month")
    con.execute("UPDATE rollup_meta SET value = 99 WHERE name = 'layout'")  # a draft layout
    con.execute("DELETE FROM schema_version WHERE version = 6")
    migrate(con)
    assert con.execute("SELECT count(*) FROM rollup_feedback_noregion_month").fetchall() == [(0,)]
    assert not rollups.is_current(con)
    rollups.rebuild(con)
    assert_rollups_exact(con)


def _ranges(con: duckdb.DuckDBPyConnection) -> list[tuple[dt.date, dt.date]]:
    first, last = (
        d.date() for d in con.execute("SELECT min(created_at), max(created_at) FROM feedback").fetchall()[0]
    )
    spans = []
    for offset in (0, 1, 3, 14, 27, 29, 40, 58, 61, 75):
        for length in (0, 1, 2, 6, 20, 26, 27, 30, 33, 45, 89, 100):
            start = first + dt.timedelta(days=offset)
            if start <= last:
                spans.append((start, start + dt.timedelta(days=length)))
    return spans


def test_subtracting_sources_equal_the_base_tables_for_any_range(store: duckdb.DuckDBPyConnection) -> None:
    weights = cem_index.cem_weights(store, Filters())
    subtracted = 0
    for start, end in _ranges(store):
        for extra in ({}, {"regions": ("广东",)}):
            f = Filters(date_from=start, date_to=end, **extra)
            before = Filters(date_from=start - dt.timedelta(days=31), date_to=start - dt.timedelta(days=1))
            got = (
                aspects.aspect_change_table(store, f, before),
                cem_index.cem_index(store, f, weights=weights),
            )
            with base_tables_only():
                expected = (
                    aspects.aspect_change_table(store, f, before),
                    cem_index.cem_index(store, f, weights=weights),
                )
            for a, b in zip(got, expected, strict=True):
                pd.testing.assert_frame_equal(a, b, check_exact=True, obj=f.describe("en"))
            subtracted += "-r.n AS n" in aspect_source(f, subtract=True)[0]
    assert subtracted > 20  # the minus path was exercised, not only the plain edges


def test_subtracting_source_leaves_out_the_float_sum() -> None:
    window = Filters(date_from=dt.date(2025, 1, 3), date_to=dt.date(2025, 3, 30))
    source, _ = aspect_source(window, subtract=True)
    assert "-r.n AS n" in source and "confidence_sum" in source.split("EXCLUDE")[1]
    plain, _ = aspect_source(window)
    assert "-r.n" not in plain
