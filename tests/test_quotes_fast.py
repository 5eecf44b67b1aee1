"""Row reads on date-sorted storage: the search reads the newest rows in date slices
(analytics/newest.py) and counts only when that is free or asked; results equal the plain full query.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re

import duckdb
import pandas as pd
import pytest

from analytics import newest, quotes
from analytics.filters import Filters
from analytics.newest import newest_rows
from analytics.quotes import count_matches, search_feedback, typical_quotes
from analytics.rollup_source import base_tables_only
from data import rollups
from data.scope import Scope
from data.store import connect
from tests.analytics_fixture import annotated_store

BRANDS = ("华为", "小米", "苹果")
WORDS = ("电池", "发热", "物流", "屏幕", "Camera", "续航")
REGIONS = ("广东", "北京", "四川")
FULL_ORDER = "ORDER BY f.created_at DESC NULLS LAST, f.feedback_id DESC"


def _store(
    seed: int, imports: int = 3, rows: int = 400, sort: bool = True
) -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    """Several imports, each stored sorted by date (undated last) as the import does, with date ties;
    ``sort=False``: stored in a random order (a store written before sorted imports)."""
    rng = random.Random(seed)
    con = connect(":memory:")
    frames = []
    next_id = 1
    for dataset in range(1, imports + 1):
        con.execute("INSERT INTO datasets (name, kind) VALUES (?, 'reviews')", [f"d{dataset}"])
        batch = []
        for _ in range(rows):
            day = dt.datetime(2024, 1, 1) + dt.timedelta(hours=rng.randrange(0, 24 * 400, 6))  # ties
            text = None if rng.random() < 0.05 else "，".join(rng.sample(WORDS, rng.randint(1, 3)))
            batch.append({
                "feedback_id": next_id, "dataset_id": dataset, "content_hash": f"h{next_id}",
                "brand": rng.choice(BRANDS), "product": "P", "channel": "京东",
                "region": REGIONS[next_id % 3],
                "created_at": None if rng.random() < 0.04 else day, "text": text,
            })
            next_id += 1
        frame = pd.DataFrame(batch)
        frame["created_at"] = pd.to_datetime(frame["created_at"])
        con.register("batch", frame)
        order = "created_at NULLS LAST, feedback_id" if sort else "hash(feedback_id)"
        con.execute(f"INSERT INTO feedback BY NAME SELECT * FROM batch ORDER BY {order}")
        con.unregister("batch")
        frames.append(frame)
    return con, pd.concat(frames, ignore_index=True)


FILTERS = (
    Filters(),
    Filters(brands=("华为",)),
    Filters(date_from=dt.date(2024, 3, 1), date_to=dt.date(2024, 9, 30)),
    Filters(brands=("苹果",), date_to=dt.date(2024, 6, 30)),
    Filters(date_from=dt.date(2024, 12, 1)),
)
# Filters that restrict more than the dates, the user's scope included (search tests the text late).
NARROW = (
    Filters(regions=("广东",)),
    Filters(brands=("华为",), regions=("北京", "四川"), date_from=dt.date(2024, 6, 1)),
    Filters(scope=Scope(brands=("小米",))),
    Filters(brands=("华为",), scope=Scope(regions=("广东",))),
    Filters(scope=Scope.nothing()),
)


@pytest.mark.parametrize(("seed", "sort"), [(0, True), (1, True), (2, False)])
@pytest.mark.parametrize("first_factor", [1, 16])
@pytest.mark.parametrize("narrow", [False, True])
def test_newest_rows_equal_the_full_query(
    seed: int, sort: bool, first_factor: int, narrow: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(newest, "FIRST_SLICE_FACTOR", first_factor)  # 1: many small slices on small data
    con, _ = _store(seed, sort=sort)
    for f in (*FILTERS, *NARROW):
        scope, scope_params = f.where(alias="f")
        for term in ("电池", "Camera", "电池，发热", "没有"):
            match, match_params = "contains(f.text, $t)", {"t": term}
            full = con.execute(
                f"SELECT f.feedback_id FROM feedback f WHERE {scope} AND {match} {FULL_ORDER}",
                {**scope_params, **match_params},
            ).fetchall()
            # ``expected`` (a count of hits, right or wrong) sizes only the first slice.
            for need, expected in ((1, None), (7, None), (60, None), (2000, None), (60, 3), (60, 10**6)):
                got = newest_rows(
                    con, "f.feedback_id", scope, scope_params, match, match_params, need,
                    since=scope_params.get("date_from"), before=scope_params.get("date_to"),
                    narrow=narrow, expected=expected,
                )
                assert list(got["feedback_id"]) == [r[0] for r in full[:need]], (f, term, need, expected)
    con.close()


def _scan_filters(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> list[str]:
    """The filters DuckDB pushed into each table scan of ``sql``'s plan."""
    plan = json.loads(con.execute("EXPLAIN (FORMAT json) " + sql, params).fetchall()[0][1])
    found: list[str] = []
    nodes = list(plan)
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("children", []))
        if node.get("name") in {"SEQ_SCAN", "TABLE_SCAN"}:
            found.append(json.dumps(node.get("extra_info", {}).get("Filters", ""), ensure_ascii=False))
    return found


def test_the_late_test_stays_above_the_scan() -> None:
    """``late_test`` keeps DuckDB from pushing the text test into the scan (where it ran on every row of a
    vector, the scope's or not), and it selects the same rows."""
    con, _ = _store(0)
    match = "contains(f.text, '电池')"
    sql = "SELECT f.feedback_id FROM feedback f WHERE f.brand IN (SELECT unnest($b)) AND {} ORDER BY 1"
    params = {"b": ["华为"]}
    late = newest.late_test(match, "f")
    assert any("contains" in f for f in _scan_filters(con, sql.format(match), params))
    assert not any("contains" in f for f in _scan_filters(con, sql.format(late), params))
    plain = con.execute(sql.format(match), params).fetchall()
    assert plain and con.execute(sql.format(late), params).fetchall() == plain
    con.close()


def test_first_slice_rows_from_the_expected_hits() -> None:
    assert newest.first_slice_rows(10_000, None, 300) == newest.first_slice_rows(10_000, 0, 300) == 0
    # 500 of 10,000 rows expected to pass: 1.3 × 300 hits take 7,800 rows.
    assert abs(newest.first_slice_rows(10_000, 500, 300) - newest.HIT_MARGIN * 300 * 20) <= 1


def test_next_slice_rows_aims_past_the_missing_hits() -> None:
    assert newest.next_slice_rows(1000, 0, 200) == 1000 * newest.MAX_GROWTH  # nothing found yet
    assert newest.next_slice_rows(1000, 1, 200) == 1000 * newest.MAX_GROWTH  # capped
    assert newest.next_slice_rows(1000, 199, 200) == math.ceil(1000 * newest.MIN_GROWTH)  # at least this
    # 100 of 200 hits in 1,000 rows: reach back far enough for HIT_MARGIN × the 100 missing at that rate.
    assert abs(newest.next_slice_rows(1000, 100, 200) - 1000 * (1 + newest.HIT_MARGIN)) <= 1


def test_newest_rows_refuses_a_non_positive_need() -> None:
    con = connect(":memory:")
    with pytest.raises(ValueError):
        newest_rows(con, "f.feedback_id", "TRUE", {}, "TRUE", {}, 0)
    con.close()


def test_search_counts_only_when_free_or_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(newest, "FIRST_SLICE_FACTOR", 1)
    monkeypatch.setattr(quotes, "SEARCH_FIRST_SLICE", 1)  # many small slices on small data
    con, rows = _store(3)
    texts = rows["text"].fillna("")
    battery = texts.str.contains("电池")
    for query, f, pick in (
        ("电池", Filters(), battery),
        ("camera 续航", Filters(brands=("小米",)),
         texts.str.lower().str.contains("camera") & texts.str.contains("续航") & (rows["brand"] == "小米")),
        ("电池", Filters(regions=("广东",)), battery & (rows["region"] == "广东")),  # the text tested late
        ("电池", Filters(brands=("华为",), scope=Scope(regions=("北京", "四川"))),
         battery & (rows["brand"] == "华为") & rows["region"].isin(["北京", "四川"])),
    ):
        expected = rows[pick].sort_values(["created_at", "feedback_id"], ascending=False, na_position="last")
        n = len(expected)
        assert n > 30 and count_matches(con, f, query) == n
        few = search_feedback(con, f, query, limit=n + 5)  # every match fits: counted for free
        assert (few.n_matching, few.more) == (n, False)
        assert list(few.rows["feedback_id"]) == list(expected["feedback_id"])
        page = search_feedback(con, f, query, limit=10)  # more than the page: not counted
        assert (page.n_matching, page.more, len(page.rows)) == (None, True, 10)
        assert list(page.rows["feedback_id"]) == list(expected["feedback_id"][:10])
        counted = search_feedback(con, f, query, limit=10, count=True)
        assert (counted.n_matching, counted.more) == (n, True)
        exact = search_feedback(con, f, query, limit=n)  # exactly a page: no row past it
        assert exact.more is False and exact.n_matching == n
        second = search_feedback(con, f, query, limit=10, offset=10)
        assert list(second.rows["feedback_id"]) == list(expected["feedback_id"][10:20])
        last = search_feedback(con, f, query, limit=10, offset=n - 3)
        assert (len(last.rows), last.more, last.n_matching) == (3, False, n)
        past = search_feedback(con, f, query, limit=10, offset=n + 50)
        assert (len(past.rows), past.more, past.n_matching) == (0, False, n)
    none = search_feedback(con, Filters(), "没有这个词")
    assert (none.n_matching, none.more, none.rows.empty) == (0, False, True)
    assert count_matches(con, Filters(), "  ") == 0
    con.close()


def _row_groups_scanned(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]
) -> list[tuple[int, int]]:
    plan = con.execute("EXPLAIN ANALYZE " + sql, params).fetchall()[0][1]
    return [(int(a), int(b)) for a, b in re.findall(r"Row Groups Scanned:\s*(\d+)\s*/\s*(\d+)", plan)]


def test_a_date_slice_reads_only_the_newest_row_groups(tmp_path) -> None:
    """On date-sorted storage the first slice's ``created_at >= cut`` skips the older row groups (what the
    search relies on); EXPLAIN ANALYZE reports the row groups a scan read."""
    con = connect(tmp_path / "sorted.duckdb")
    con.execute("INSERT INTO datasets (name, kind) VALUES ('big', 'reviews')")
    con.execute(
        """
        INSERT INTO feedback (feedback_id, dataset_id, content_hash, brand, created_at, text)
        SELECT i + 1, 1, 'h' || i, '华为', TIMESTAMP '2023-01-01' + INTERVAL (i) MINUTE,
               CASE WHEN i % 7 = 0 THEN '电池发热' ELSE '物流很快' END
        FROM range(400000) r(i) ORDER BY i
        """
    )
    con.execute("CHECKPOINT")
    cut = newest._cut(con, "feedback", 400_000, 16 * 201)
    sql = (f"SELECT f.feedback_id FROM feedback f WHERE f.created_at >= $lo AND contains(f.text, '电池')"
           f" {FULL_ORDER} LIMIT 201")
    scanned = _row_groups_scanned(con, sql, {"lo": cut})
    assert scanned and all(read < total for read, total in scanned), scanned
    assert all(total >= 3 for _, total in scanned)
    result = search_feedback(con, Filters(), "电池", limit=200)
    assert result.more and len(result.rows) == 200 and result.n_matching is None
    con.close()


@pytest.fixture(scope="module")
def rolled_store() -> duckdb.DuckDBPyConnection:
    """The annotated fixture, rows re-stored in date order as imports and annotation now leave them, with
    current rollups (so typical_quotes takes its newest-rows probe)."""
    con, _ = annotated_store(n_reviews=500, n_survey=300)
    for table in ("feedback", "aspect_mentions"):
        con.execute(f"CREATE TEMP TABLE tj_sorted AS SELECT * FROM {table} ORDER BY created_at NULLS LAST")
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM tj_sorted")
        con.execute("DROP TABLE tj_sorted")
    rollups.rebuild(con)
    assert rollups.is_current(con)
    yield con
    con.close()


QUOTE_CASES = (
    (None, 5, 300), (None, 3, 9), ("电池", 3, 300), ("电池", 3, 11), ("电池/续航", 2, 7), ("拍照", 4, 40),
)


@pytest.mark.parametrize("first_factor", [1, 16])
def test_typical_quotes_probe_equals_the_base_tables(
    rolled_store: duckdb.DuckDBPyConnection, first_factor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(newest, "FIRST_SLICE_FACTOR", first_factor)
    brand = rolled_store.execute("SELECT brand FROM feedback GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
                                 ).fetchall()[0][0]
    regions = (  # the probe tests the province on the reviews of each slice's dates
        Filters(regions=("广东",)),
        Filters(brands=(brand,), regions=("北京", "四川"), date_from=dt.date(2025, 3, 1)),
        Filters(scope=Scope(regions=("广东",))),
        Filters(regions=("广东", "四川"), scope=Scope(brands=(brand,), regions=("广东", "北京"))),
        Filters(regions=("广东",), scope=Scope.nothing()),
    )
    for f in (*FILTERS, Filters(brands=(brand,)), *regions):
        for aspect, k, cap in QUOTE_CASES:
            got = typical_quotes(rolled_store, f, aspect, None, k, max_candidates=cap)
            with base_tables_only():
                want = typical_quotes(rolled_store, f, aspect, None, k, max_candidates=cap)
            assert (got.n_matching, got.n_candidates) == (want.n_matching, want.n_candidates), (f, aspect)
            pd.testing.assert_frame_equal(got.quotes, want.quotes)
