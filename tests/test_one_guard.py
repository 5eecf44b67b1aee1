"""One rollup guard per dashboard render (``analytics.rollup_source.one_guard``).

Inside the block the guard (``data.rollups.is_current``) is asked once and its answer reused by every
analytics call; outside, every call asks again (the guard itself is never cached across renders, see
``tests/test_rollups_layout2.py``). The results inside the block equal those outside it.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from analytics import aspects, nps, overview, rollup_source
from analytics.filters import Filters
from analytics.rollup_source import base_tables_only, one_guard, use_rollups
from data import rollups
from tests.analytics_fixture import annotated_store


@pytest.fixture(scope="module")
def store() -> duckdb.DuckDBPyConnection:
    con, _fx = annotated_store(n_reviews=300, n_survey=150)
    rollups.rebuild(con)
    return con


@pytest.fixture()
def guard_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = rollup_source.is_current

    def counting(con: duckdb.DuckDBPyConnection) -> bool:
        calls.append(1)
        return real(con)

    monkeypatch.setattr(rollup_source, "is_current", counting)
    return calls


def _page(con: duckdb.DuckDBPyConnection) -> tuple[object, ...]:
    f = Filters()
    return (
        overview.overview_kpis(con.cursor(), f),
        nps.nps_trend_by(con.cursor(), f, "month", None),
        aspects.aspect_summary(con.cursor(), f),
        aspects.aspect_heatmap(con.cursor(), f, "product", None),
    )


def test_the_guard_is_asked_once_inside_the_block(store: duckdb.DuckDBPyConnection,
                                                  guard_calls: list[int]) -> None:
    outside = _page(store)
    asked_outside = len(guard_calls)
    assert asked_outside >= 4  # every call asks
    guard_calls.clear()
    with one_guard():
        inside = _page(store)
    assert len(guard_calls) == 1
    assert inside[0] == outside[0]
    for a, b in zip(inside[1:], outside[1:], strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)  # type: ignore[arg-type]
    guard_calls.clear()
    _page(store)  # after the block every call asks again
    assert len(guard_calls) == asked_outside


def test_the_answer_lives_only_for_its_block(store: duckdb.DuckDBPyConnection) -> None:
    fresh = duckdb.connect(":memory:")  # no rollup tables at all: the guard says False
    with one_guard():
        assert use_rollups(store) is True
    with one_guard():
        assert use_rollups(fresh) is False
    assert use_rollups(store) is True
    with one_guard(), base_tables_only():
        assert use_rollups(store) is False  # switching the rollups off still wins inside the block


def test_a_false_answer_is_reused_too(store: duckdb.DuckDBPyConnection, guard_calls: list[int]) -> None:
    with base_tables_only():
        expected = aspects.aspect_summary(store.cursor(), Filters())
    store.execute("BEGIN")
    try:
        # A row written without the maintenance calls: the rollups no longer account for the base tables.
        store.execute("INSERT INTO feedback SELECT * REPLACE (feedback_id + 1000000 AS feedback_id, "
                      "content_hash || 'x' AS content_hash) FROM feedback LIMIT 1")
        with one_guard():
            assert use_rollups(store) is False
            got = aspects.aspect_summary(store, Filters())
            assert use_rollups(store) is False
        assert len(guard_calls) == 1
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    finally:
        store.execute("ROLLBACK")
    assert use_rollups(store) is True


def test_a_case_created_inside_the_block_leaves_the_answer_right(store: duckdb.DuckDBPyConnection) -> None:
    """The one write a dashboard page makes (创建工单 under a quote: ``cases``, ``case_events``) is not
    something the guard counts: the reused answer equals a fresh one after it."""
    from data import cases

    feedback_id = int(store.execute("SELECT min(feedback_id) FROM feedback").fetchall()[0][0])
    with one_guard():
        before = use_rollups(store)
        cases.create_case(store, title="来自原声", actor="test", feedback_id=feedback_id)
        assert use_rollups(store) is before is True
    assert rollups.is_current(store) is True
