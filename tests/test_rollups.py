"""Rollups (data/rollups.py): equal to a from-scratch GROUP BY after imports, annotations, re-scoring and
deletes; and every analytics function gives the same result from them as from the base tables."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
from collections.abc import Callable, Sequence

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analytics import aspects, cem_index, drivers, nps, options, overview, parameter_map, quotes, stats
from analytics.filters import Filters, text_present
from analytics.rollup_source import base_tables_only, use_rollups
from data import rollups
from data.ingest import delete_dataset, ingest_frame
from data.scope import Scope
from data.store import connect
from models.annotate import Annotator
from models.annotation_store import annotate_dataset
from models.aspects import AspectMatcher
from models.taxonomy import load_taxonomy
from tests import fixture_store
from tests.analytics_fixture import annotated_store

# ---------------------------------------------------------------------------------------------------------
# Test doubles: deterministic models (no weights needed)
# ---------------------------------------------------------------------------------------------------------


class _Sentiment:
    def __init__(self, version: str) -> None:
        self.version = version

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return np.asarray([0.2 + 0.6 * ((len(t) + ord(t[-1])) % 3 == 0) for t in texts], dtype=np.float32)


class _Aspects:
    def __init__(self, version: str) -> None:
        self.version = version

    def predict(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> list[tuple[str, float]]:
        labels = ("positive", "negative", "neutral")
        return [
            (labels[(len(t) + s) % 3], 0.5 + ((len(t) + e) % 5) / 10)
            for t, (s, e) in zip(texts, spans, strict=True)
        ]


@pytest.fixture(scope="module")
def matcher() -> AspectMatcher:
    return AspectMatcher(load_taxonomy("phone"))


def _factory(matcher: AspectMatcher, version: str) -> Callable[[str], Annotator]:
    annotator = Annotator(_Sentiment(version), _Aspects(version), matcher)
    return lambda taxonomy: annotator


# ---------------------------------------------------------------------------------------------------------
# The reference: rollups recomputed in pandas from the base tables
# ---------------------------------------------------------------------------------------------------------

KEYS = ["dataset_id", "brand", "product", "channel", "region"]


def _expected_feedback(con: duckdb.DuckDBPyConnection, grain: str, region: bool = True) -> pd.DataFrame:
    f = con.execute("SELECT * FROM feedback").df()
    s = con.execute("SELECT dataset_id, feedback_id, sentiment FROM feedback_sentiment").df()
    f = f.merge(s, on=["dataset_id", "feedback_id"], how="left")
    f["date"] = f["created_at"].dt.to_period("D" if grain == "day" else "M").dt.start_time
    text = f["text"].fillna("").str.strip(" \u3000\u00a0")
    score = f["nps_score"].astype("Float64")
    rating = f["rating"].astype("Float64")
    frame = pd.DataFrame(
        {
            "date": f["date"],
            **{k: f[k] for k in KEYS},
            "n": 1,
            "texts": (text.str.len() > 0).astype(int),
            "rated": rating.notna().astype(int),
            "rating_sum": rating.fillna(0),
            "rating_sq_sum": (rating * rating).fillna(0),
            **{f"rating_{r}": (rating == r).fillna(False).astype(int) for r in range(1, 6)},
            "promoters": (score >= 9).fillna(False).astype(int),
            "passives": ((score >= 7) & (score <= 8)).fillna(False).astype(int),
            "detractors": (score <= 6).fillna(False).astype(int),
            "annotated": f["sentiment"].notna().astype(int),
            **{
                f"sentiment_{p}": (f["sentiment"] == p).astype(int)
                for p in ("positive", "neutral", "negative")
            },
            "annotated_nps": (f["sentiment"].notna() & score.notna()).astype(int),
        }
    )
    keys = [k for k in KEYS if region or k != "region"]
    return _grouped(frame.drop(columns=[] if region else ["region"]), ["date", *keys])


def _expected_aspects(con: duckdb.DuckDBPyConnection, grain: str, region: bool) -> pd.DataFrame:
    m = con.execute("SELECT * FROM aspect_mentions").df()
    regions = con.execute("SELECT dataset_id, feedback_id, region FROM feedback").df()
    m = m.merge(regions, on=["dataset_id", "feedback_id"], how="left")
    m["date"] = m["created_at"].dt.to_period("D" if grain == "day" else "M").dt.start_time
    keys = ["date", *(k for k in KEYS if region or k != "region"), "aspect_path", "aspect_top"]
    first = m.groupby(["dataset_id", "feedback_id", "aspect_top"])["aspect_path"].transform("min")
    frame = m[keys].assign(
        n=1,
        positive=(m["polarity"] == "positive").astype(int),
        neutral=(m["polarity"] == "neutral").astype(int),
        negative=(m["polarity"] == "negative").astype(int),
        confidence_sum=m["confidence"],
    )
    sums = _grouped(frame, keys)
    # distinct reviews per group and path; and per top (each review counted under its first path only)
    ids = m[keys].assign(
        review=m["dataset_id"].astype(str) + ":" + m["feedback_id"].astype(str),
        top_review=(m["dataset_id"].astype(str) + ":" + m["feedback_id"].astype(str)).where(
            m["aspect_path"] == first
        ),
    )
    distinct = (
        ids.groupby(keys, dropna=False, sort=False)
        .agg(reviews=("review", "nunique"), reviews_top=("top_review", "nunique"))
        .reset_index()
    )
    distinct = _canonical(distinct, keys)
    return sums.merge(distinct, on=keys)[
        [*keys, *sorted([*sums.columns[len(keys) :], "reviews", "reviews_top"])]
    ]


def _grouped(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = frame.groupby(keys, dropna=False, sort=False).sum(numeric_only=False).reset_index()
    return _canonical(out, keys)


def _canonical(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    frame = frame.copy()
    for key in keys:
        frame[key] = frame[key].astype("object").where(frame[key].notna(), None).astype(str)
    values = [c for c in frame.columns if c not in keys]
    frame[values] = frame[values].astype("float64")
    return frame.sort_values(keys).reset_index(drop=True)[[*keys, *sorted(values)]]


def _actual(
    con: duckdb.DuckDBPyConnection, table: str, date_column: str, region: bool = True
) -> pd.DataFrame:
    keys = [date_column, *(k for k in KEYS if region or k != "region")]
    if "aspects" in table:
        keys += ["aspect_path", "aspect_top"]
    frame = con.execute(f"SELECT * FROM {table}").df()
    if "first_at" in frame.columns:
        frame = frame.drop(columns=["first_at", "last_at"])
    frame = frame.rename(columns={date_column: "date"})
    keys = ["date", *keys[1:]]
    frame = frame.groupby(keys, dropna=False, sort=False).sum().reset_index()  # delta rows add up
    frame = frame[(frame.drop(columns=keys) != 0).any(axis=1)]
    return _canonical(frame, keys)


def assert_rollups_exact(con: duckdb.DuckDBPyConnection) -> None:
    """Every rollup table equals the pandas GROUP BY of the base tables, and the guard says current."""
    assert rollups.is_current(con)
    for grain, table, region in (
        ("day", "rollup_feedback_day", True),
        ("month", "rollup_feedback_month", True),
        ("month", "rollup_feedback_noregion_month", False),
    ):
        expected = _expected_feedback(con, grain, region)
        keys = ["date", *(k for k in KEYS if region or k != "region")]
        expected = expected[(expected.drop(columns=keys) != 0).any(axis=1)].reset_index(drop=True)
        pd.testing.assert_frame_equal(
            _actual(con, table, grain, region), expected, check_exact=False, rtol=1e-12, obj=table
        )
    for table, grain, region in (
        ("rollup_aspects_day", "day", True),
        ("rollup_aspects_month", "month", False),
        ("rollup_aspects_region_month", "month", True),
    ):
        pd.testing.assert_frame_equal(
            _actual(con, table, grain, region),
            _expected_aspects(con, grain, region),
            check_exact=False,
            rtol=1e-9,
        )
    regions = con.execute(
        "SELECT region FROM feedback WHERE region IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchall()
    region_filters = [Filters(regions=(regions[0][0],), date_from=dt.date(2025, 2, 10))] if regions else []
    for f in (Filters(brands=("华为",), date_from=dt.date(2025, 2, 10)), *region_filters):
        for outcome in ("nps", "rating"):
            with base_tables_only():
                reference = drivers.key_drivers(con, f, outcome)
            _same(
                drivers.key_drivers(con, f, outcome), reference, f"key_drivers {outcome} {f.describe('en')}"
            )
    first_last = con.execute(
        "SELECT min(first_at), max(last_at) FROM rollup_feedback_month UNION ALL "
        "SELECT min(first_at), max(last_at) FROM rollup_feedback_noregion_month UNION ALL "
        "SELECT min(created_at), max(created_at) FROM feedback"
    ).fetchall()
    assert first_last[0] == first_last[1] == first_last[2]


def _extra_reviews(n: int, seed: int) -> pd.DataFrame:
    frame = fixture_store.review_frame(seed=seed, n=n)
    frame["text"] = [f"追加{seed}-{i}：屏幕不错，物流太慢，续航差" for i in range(n)]
    frame["region"] = [("广东", "北京", None)[i % 3] for i in range(n)]
    return frame


def test_rollups_follow_imports_annotations_rescoring_and_deletes(matcher: AspectMatcher) -> None:
    con = connect(":memory:")
    fx = fixture_store.fill(con)
    assert_rollups_exact(con)  # after two imports (no annotation yet)

    annotate_dataset(
        con, fx.reviews_result.dataset_id, batch_size=50, annotator_factory=_factory(matcher, "v1")
    )
    assert con.execute("SELECT count(*) FROM aspect_mentions").fetchall()[0][0] > 0
    assert_rollups_exact(con)  # delta rows per batch

    extra = _extra_reviews(60, seed=5)
    ingest_frame(
        con,
        extra,
        name="测试评论",
        kind="reviews",
        mapping={c: c for c in extra.columns},
        source_file="more.csv",
    )  # appended to an annotated dataset
    assert_rollups_exact(con)
    annotate_dataset(con, batch_size=37, annotator_factory=_factory(matcher, "v1"))  # every dataset
    assert_rollups_exact(con)

    annotate_dataset(
        con,
        fx.reviews_result.dataset_id,
        rescore=True,
        batch_size=64,
        annotator_factory=_factory(matcher, "v2"),
    )  # older annotations replaced
    assert_rollups_exact(con)

    delete_dataset(con, fx.survey_result.dataset_id)
    assert_rollups_exact(con)
    before = rollups.status(con)
    rollups.compact(con)
    after = rollups.status(con)
    assert (after.feedback_in_rollups, after.mentions_in_rollups) == (
        before.feedback_in_rollups,
        before.mentions_in_rollups,
    )
    assert after.rows["rollup_feedback_month"] <= before.rows["rollup_feedback_month"]
    assert_rollups_exact(con)
    rollups.rebuild(con)
    assert_rollups_exact(con)


def test_large_groups_do_not_overflow_small_column_types() -> None:
    # Found by the 1M benchmark: sum() of the TINYINT rating was cast back to TINYINT (value 1000).
    con = connect(":memory:")
    con.execute("INSERT INTO datasets (name, kind) VALUES ('big', 'reviews')")
    con.execute(
        "INSERT INTO feedback (feedback_id, dataset_id, content_hash, rating, nps_score, created_at, brand)"
        " SELECT range, 1, range::VARCHAR, 5, 10, TIMESTAMP '2025-01-01', 'b' FROM range(300)"
    )
    rollups.refresh_dataset(con, 1)
    assert con.execute("SELECT rating_sum, rating_sq_sum, promoters FROM rollup_feedback_day").fetchall() == [
        (1500, 7500, 300)
    ]
    assert rollups.is_current(con)


def test_guard_sends_queries_to_the_base_tables_when_rows_bypass_the_rollups() -> None:
    con = connect(":memory:")
    fixture_store.fill(con)
    assert use_rollups(con)
    with base_tables_only():
        assert not use_rollups(con)
    con.execute(
        "INSERT INTO feedback (feedback_id, dataset_id, content_hash, brand, created_at, nps_score)"
        " VALUES (99999, 1, 'direct', '华为', TIMESTAMP '2025-03-03', 10)"
    )
    assert not rollups.is_current(con)
    with base_tables_only():
        reference = overview.overview_kpis(con, Filters())
    assert overview.overview_kpis(con, Filters()) == reference  # correct, read from the base tables
    rollups.rebuild(con)
    assert rollups.is_current(con) and overview.overview_kpis(con, Filters()) == reference
    con.execute("DELETE FROM rollup_meta WHERE name = 'layout'")  # tables of another (draft) layout
    assert not rollups.is_current(con) and not rollups.status(con).current
    rollups.rebuild(con)
    assert rollups.is_current(con)


# ---------------------------------------------------------------------------------------------------------
# Every analytics function: same result from rollups and from the base tables
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_con() -> duckdb.DuckDBPyConnection:
    con, _fx = annotated_store(n_reviews=500, n_survey=300)
    regions = ("广东", "北京", "上海", None)
    con.execute(
        "UPDATE feedback SET region = list_extract($r, (feedback_id % 4 + 1)::INTEGER)", {"r": list(regions)}
    )
    assert not rollups.is_current(con)  # the fixture writes its tables directly: no rollups yet
    rollups.rebuild(con)
    assert rollups.is_current(con)
    return con


def _filters(con: duckdb.DuckDBPyConnection) -> list[Filters]:
    brand, product = con.execute(
        "SELECT brand, product FROM feedback WHERE brand IS NOT NULL"
        " GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()[0]
    channel = con.execute("SELECT channel FROM feedback WHERE channel IS NOT NULL LIMIT 1").fetchall()[0][0]
    first, last = (
        d.date() for d in con.execute("SELECT min(created_at), max(created_at) FROM feedback").fetchall()[0]
    )
    middle = first + (last - first) / 2
    return [
        Filters(),
        Filters(brands=(brand,)),
        Filters(date_from=first + dt.timedelta(days=17), date_to=middle),  # partial months at both ends
        Filters(date_from=middle),  # open end
        Filters(date_to=middle.replace(day=1) - dt.timedelta(days=1)),  # whole months only, open start
        Filters(date_from=middle, date_to=middle + dt.timedelta(days=9)),  # inside one month
        Filters(regions=("广东",), channels=(channel,)),
        Filters(brands=(brand,), products=(product,), date_from=first + dt.timedelta(days=40)),
        Filters(dataset_ids=(2,)),
        Filters(scope=Scope(regions=("北京",))),  # the user's data restriction
        Filters(brands=(brand,), scope=Scope(brands=("nobody",))),
    ]


def _same(a: object, b: object, where: str) -> None:
    if isinstance(a, pd.DataFrame):
        assert isinstance(b, pd.DataFrame), where
        pd.testing.assert_frame_equal(
            a.reset_index(drop=True),
            b.reset_index(drop=True),
            check_exact=False,
            rtol=1e-9,
            atol=1e-9,
            obj=where,
        )
    elif hasattr(a, "__dataclass_fields__"):
        for name in a.__dataclass_fields__:  # type: ignore[attr-defined]
            _same(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where  # type: ignore[union-attr]
        for key in a:
            _same(a[key], b[key], f"{where}[{key}]")  # type: ignore[index]
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-9), where
    elif isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=where)  # type: ignore[arg-type]
    else:
        assert a == b, where


def _nps_by(con: duckdb.DuckDBPyConnection, f: Filters, split_by: str) -> object:
    return nps.nps_by(con, f, split_by)


def _satisfaction(con: duckdb.DuckDBPyConnection, f: Filters, metric: str) -> object:
    return parameter_map.product_satisfaction(con, f, metric)


CALLS: dict[str, Callable[[duckdb.DuckDBPyConnection, Filters], object]] = {
    "overview_kpis": overview.overview_kpis,
    "nps_trend_month": lambda c, f: overview.nps_trend(c, f, "month"),
    "nps_trend_week": lambda c, f: overview.nps_trend(c, f, "week"),
    "nps_trend_quarter": lambda c, f: overview.nps_trend(c, f, "quarter"),
    "volume_by_channel": lambda c, f: overview.volume_by_channel(c, f, "month", ("reviews", "survey")),
    "volume_by_channel_week": lambda c, f: overview.volume_by_channel(c, f, "week"),
    "nps_total": nps.nps_total,
    **{f"nps_by_{s}": functools.partial(_nps_by, split_by=s) for s in nps.SEGMENTS},
    "nps_trend_by": lambda c, f: nps.nps_trend_by(c, f, "month", None),
    "nps_trend_by_brand_week": lambda c, f: nps.nps_trend_by(c, f, "week", "brand"),
    "nps_trend_by_region": lambda c, f: nps.nps_trend_by(c, f, "quarter", "region"),
    "nps_verbatims": lambda c, f: nps.nps_verbatims(c, f, "detractors", 20),
    "aspect_heatmap_product": lambda c, f: aspects.aspect_heatmap(c, f, "product"),
    "aspect_heatmap_channel": lambda c, f: aspects.aspect_heatmap(c, f, "channel"),
    "aspect_heatmap_children": lambda c, f: aspects.aspect_heatmap(c, f, "brand", parent="电池"),
    "aspect_summary": aspects.aspect_summary,
    "aspect_trend": lambda c, f: aspects.aspect_trend(c, f, "电池"),
    "aspect_trend_week": lambda c, f: aspects.aspect_trend(c, f, None, "week"),
    "aspect_volume_trend": aspects.aspect_volume_trend,
    "aspect_changes": aspects.aspect_changes,
    "comparison_windows": stats.comparison_windows,
    "cem_weights": cem_index.cem_weights,
    "cem_index": cem_index.cem_index,
    "cem_index_brand": lambda c, f: cem_index.cem_index(c, f, by="brand"),
    "cem_index_product": lambda c, f: cem_index.cem_index(c, f, by="product"),
    "cem_index_change": cem_index.cem_index_change,
    "key_drivers": drivers.key_drivers,
    "key_drivers_rating": lambda c, f: drivers.key_drivers(c, f, "rating", parent="电池"),
    **{
        f"satisfaction_{m}": functools.partial(_satisfaction, metric=m)
        for m in ("rating", "nps", "sentiment", "aspect:电池", "aspect:电池/续航")
    },
    "parameter_map": lambda c, f: parameter_map.parameter_map(c, f, "weight_g", "thickness_mm", "nps"),
    "typical_quotes": lambda c, f: quotes.typical_quotes(c, f, None, None, 3),
    "typical_quotes_aspect": lambda c, f: quotes.typical_quotes(c, f, "电池", None, 3),
    "typical_quotes_path": lambda c, f: quotes.typical_quotes(c, f, "电池/续航", None, 3, max_candidates=7),
    "typical_quotes_small_pool": lambda c, f: quotes.typical_quotes(c, f, None, None, 2, max_candidates=9),
    "typical_quotes_polarity": lambda c, f: quotes.typical_quotes(c, f, "电池", "negative", 3),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_analytics_equal_from_rollups_and_base_tables(
    fixture_con: duckdb.DuckDBPyConnection, name: str
) -> None:
    call = CALLS[name]
    for f in _filters(fixture_con):
        assert use_rollups(fixture_con)
        with base_tables_only():
            reference = call(fixture_con, f)
        _same(call(fixture_con, f), reference, f"{name} with {f.describe('en')}")


def test_compare_products_equal_from_rollups_and_base_tables(fixture_con: duckdb.DuckDBPyConnection) -> None:
    pairs = [
        tuple(r)
        for r in fixture_con.execute(
            "SELECT DISTINCT brand, product FROM products ORDER BY 1, 2 LIMIT 3"
        ).fetchall()
    ]
    for f in _filters(fixture_con):
        with base_tables_only():
            reference = parameter_map.compare_products(fixture_con, f, pairs)
        _same(parameter_map.compare_products(fixture_con, f, pairs), reference, f.describe("en"))


def test_bench_skips_the_pandas_reference_when_it_cannot_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import run

    monkeypatch.setattr(run, "_available_memory", lambda: 8 * 2**30)
    assert run.pandas_skip_reason(1_000_000) is None
    reason = run.pandas_skip_reason(10_000_000)
    assert reason is not None and "10,000,000" in reason and "GiB available" in reason


def test_cli_rollups_rebuild_and_status(tmp_path: pytest.TempPathFactory) -> None:
    from cli import app

    store = tmp_path / "store.duckdb"  # type: ignore[operator]
    fixture_store.build_store(store)
    con = connect(store)
    con.execute("DELETE FROM rollup_feedback_day")
    con.execute("DELETE FROM rollup_totals")
    assert not rollups.is_current(con)
    con.close()
    runner = CliRunner()
    stale = runner.invoke(app, ["rollups", "status", "--db", str(store)])
    assert stale.exit_code == 1, stale.output
    assert "stale" in stale.output
    rebuilt = runner.invoke(app, ["rollups", "rebuild", "--db", str(store)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "440" in rebuilt.output  # feedback rows accounted for
    fresh = runner.invoke(app, ["rollups", "status", "--db", str(store)])
    assert fresh.exit_code == 0 and "current" in fresh.output
    con = connect(store)
    try:
        assert_rollups_exact(con)
    finally:
        con.close()


def _verbatims_reference(
    con: duckdb.DuckDBPyConnection, f: Filters, group: str, limit: int, offset: int
) -> pd.DataFrame:
    """The one-query form nps_verbatims had before its newest-rows probe (the definition of its result)."""
    where, params = f.where(alias="f")
    return con.execute(
        f"""
        SELECT {", ".join(f"f.{c}" for c in nps.VERBATIM_COLUMNS)} FROM feedback f
        WHERE {where} AND {nps.SCORE_GROUPS[group]} AND {text_present('f')}
        ORDER BY f.created_at DESC NULLS LAST, f.feedback_id DESC LIMIT $limit OFFSET $offset
        """,
        {**params, "limit": limit, "offset": offset},
    ).df()


VERBATIM_PAGES = [(1, 0), (3, 0), (3, 2), (20, 0), (20, 40), (500, 0)]


def test_nps_verbatims_equal_the_single_query(fixture_con: duckdb.DuckDBPyConnection) -> None:
    for f in _filters(fixture_con):
        for group in nps.SCORE_GROUPS:
            for limit, offset in VERBATIM_PAGES:
                _same(
                    nps.nps_verbatims(fixture_con, f, group, limit, offset),
                    _verbatims_reference(fixture_con, f, group, limit, offset),
                    f"verbatims {group} {limit}+{offset} with {f.describe('en')}",
                )


def test_nps_verbatims_with_ties_undated_rows_and_blank_texts() -> None:
    # Every path of the probe: a prefix with enough texts, one without (blank texts), ties at the cut,
    # undated rows reached by the probe, and fewer rows than the probe.
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE feedback (feedback_id BIGINT, dataset_id INTEGER, created_at TIMESTAMP,"
        " nps_score TINYINT, brand VARCHAR, product VARCHAR, channel VARCHAR, region VARCHAR,"
        " store VARCHAR, text VARCHAR)"
    )
    rng = np.random.default_rng(7)
    n, start = 3_000, dt.datetime(2025, 1, 1)
    days = rng.integers(0, 40, n)
    texts = rng.choice(np.array(["差", "  ", "\u3000", "", "服务 慢", None], dtype=object), n,
                       p=[0.3, 0.15, 0.1, 0.1, 0.25, 0.1])
    frame = pd.DataFrame({
        "feedback_id": np.arange(1, n + 1),
        "dataset_id": 1,
        "created_at": [None if d >= 37 else start + dt.timedelta(days=int(d)) for d in days],
        "nps_score": rng.integers(0, 11, n),
        "brand": rng.choice(["华为", "小米"], n),
        "product": "P", "channel": "京东", "region": "广东", "store": None,
        "text": texts,
    })
    con.register("frame_view", frame)
    con.execute("INSERT INTO feedback SELECT * FROM frame_view")
    con.execute("UPDATE feedback SET text = '好' WHERE created_at >= '2025-02-05' AND nps_score <= 6")
    con.execute("UPDATE feedback SET text = ' ' WHERE created_at >= '2025-01-20' AND nps_score >= 9")
    variants = [Filters(), Filters(brands=("华为",)), Filters(date_from=dt.date(2025, 2, 6)),
                Filters(date_to=dt.date(2025, 1, 3))]
    for f in variants:
        for group in nps.SCORE_GROUPS:
            for limit, offset in [*VERBATIM_PAGES, (100, 0), (300, 100), (2_000, 0)]:
                _same(
                    nps.nps_verbatims(con, f, group, limit, offset),
                    _verbatims_reference(con, f, group, limit, offset),
                    f"verbatims {group} {limit}+{offset} with {f.describe('en')}",
                )


def test_filter_options_equal_from_rollups_and_base_tables(fixture_con: duckdb.DuckDBPyConnection) -> None:
    brand, product = fixture_con.execute(
        "SELECT brand, product FROM feedback WHERE brand IS NOT NULL GROUP BY ALL ORDER BY count(*) LIMIT 1"
    ).fetchall()[0]
    scopes = [
        None,
        Scope(brands=(brand,)),
        Scope(products=(product,)),
        Scope(regions=("北京", "上海")),
        Scope(brands=(brand,), regions=("广东",)),
        Scope(brands=("nobody",)),
        Scope.nothing(),
    ]
    assert use_rollups(fixture_con)
    for scope in scopes:
        with base_tables_only():
            reference = options.filter_options(fixture_con, scope)
        got = options.filter_options(fixture_con, scope)
        assert got == reference, f"filter_options with {scope}"
    assert options.filter_options(fixture_con).brands  # the comparison is not between empty lists


def test_filter_options_ignore_groups_left_only_by_annotation_deltas() -> None:
    # Annotation batches append feedback rollup rows with n = 0; they name no group without rows.
    con, _fx = annotated_store(n_reviews=60, n_survey=20)
    rollups.rebuild(con)
    con.execute(
        "INSERT INTO rollup_feedback_month (month, dataset_id, brand, product, channel, region, n, annotated)"
        " VALUES (TIMESTAMP '2001-01-01', 999, '幽灵', '幽灵机', '幽灵渠道', '幽灵省', 0, 1)"
    )
    assert use_rollups(con)
    got = options.filter_options(con)
    with base_tables_only():
        assert got == options.filter_options(con)
    assert "幽灵" not in got.brands and got.date_min is not None and got.date_min.year > 2001


@pytest.mark.parametrize("parent", [None, "电池"])
def test_aspect_changes_one_statement_equals_two_summaries(
    fixture_con: duckdb.DuckDBPyConnection, parent: str | None
) -> None:
    # aspect_change_table reads both windows in one statement; each side must equal aspect_summary's counts.
    checked = 0
    for f in _filters(fixture_con):
        windows = stats.comparison_windows(fixture_con, f)
        if windows is None:
            continue
        for mode in (base_tables_only, contextlib.nullcontext):
            with mode():
                table = aspects.aspect_change_table(fixture_con, windows.current, windows.previous, parent)
                for side, window in (("current", windows.current), ("previous", windows.previous)):
                    summary = aspects.aspect_summary(fixture_con, window, parent).set_index("aspect")
                    got = table.set_index("aspect")[f"n_{side}"]
                    expected = summary["n"].reindex(got.index, fill_value=0)
                    assert got.astype("int64").tolist() == expected.astype("int64").tolist(), (side, f)
                    assert set(summary.index) <= set(got.index)
                    checked += int(summary["n"].sum() > 0)
    assert checked > 0
