"""Key drivers (analytics/drivers.py) on every path it takes: rollups for whole months, base tables for the
edge days, a region filter and child aspects; and the ``auto`` outcome decided inside those statements.

Metamorphic checks (no second implementation to trust): the result must not depend on the values of
``feedback_id`` (two datasets may reuse the same ids: the base statement narrows by ``feedback_id`` alone
first, then matches the exact pair), and a region filter must give what the same store holding only that
region's reviews gives unfiltered."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from analytics.drivers import MIN_REVIEWS, KeyDrivers, key_drivers
from analytics.filters import Filters
from analytics.rollup_source import base_tables_only, use_rollups
from data import rollups
from data.scope import Scope
from data.store import connect

REGIONS = ("广东", "北京", "上海")
ASPECTS = ("甲/一", "甲/二", "乙/一", "丙/一")
START = dt.datetime(2025, 1, 1)


def _frames(seed: int = 3, per_dataset: int = 400) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Reviews of two datasets whose ids both run 1..per_dataset, their annotations and mentions."""
    rng = np.random.default_rng(seed)
    parts = []
    for dataset in (1, 2):
        n = per_dataset
        frame = pd.DataFrame(
            {
                "feedback_id": np.arange(1, n + 1),
                "dataset_id": dataset,
                "brand": rng.choice(["华为", "小米"], size=n),
                "channel": rng.choice(["京东", "天猫"], size=n),
                "region": rng.choice([*REGIONS, None], size=n, p=[0.35, 0.3, 0.25, 0.1]),
                "created_at": [START + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 90, size=n)],
                "rating": rng.integers(1, 6, size=n).astype(float),
                "nps_score": rng.integers(0, 11, size=n).astype(float),
                "annotated": rng.random(n) < 0.85,
            }
        )
        frame.loc[rng.random(n) < 0.2, "rating"] = np.nan
        frame.loc[rng.random(n) < (0.3 if dataset == 1 else 0.9), "nps_score"] = np.nan
        frame["product"] = frame["brand"].map({"华为": "P60", "小米": "14"})
        parts.append(frame)
    feedback = pd.concat(parts, ignore_index=True)
    mentions = []
    for row in feedback[feedback["annotated"]].itertuples():
        for path in rng.choice(ASPECTS, size=int(rng.integers(0, 4)), replace=True):
            mentions.append(
                {
                    "feedback_id": row.feedback_id,
                    "dataset_id": row.dataset_id,
                    "brand": row.brand,
                    "product": row.product,
                    "channel": row.channel,
                    "created_at": row.created_at,
                    "aspect_path": str(path),
                    "aspect_top": str(path).split("/")[0],
                    "polarity": str(rng.choice(["positive", "neutral", "negative"])),
                }
            )
    annotations = feedback.loc[feedback["annotated"], ["feedback_id", "dataset_id"]]
    return feedback, annotations, pd.DataFrame(mentions)


def _store(feedback: pd.DataFrame, annotations: pd.DataFrame, mentions: pd.DataFrame,
           offset: int = 0, with_rollups: bool = True) -> duckdb.DuckDBPyConnection:
    """A store of these rows; dataset 2's ids shifted by ``offset`` (0: both datasets use the same ids)."""
    con = connect(":memory:")
    con.execute(
        "INSERT INTO datasets (dataset_id, name, kind) VALUES (1, 'a', 'reviews'), (2, 'b', 'survey')"
    )

    def shifted(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[frame["dataset_id"] == 2, "feedback_id"] += offset
        return frame

    con.register("fb", shifted(feedback))
    con.register("an", shifted(annotations))
    con.register("mm", shifted(mentions))
    con.execute(
        "INSERT INTO feedback (feedback_id, dataset_id, content_hash, brand, product, channel, region,"
        " created_at, rating, nps_score) SELECT feedback_id, dataset_id, 'h' || feedback_id, brand, product,"
        " channel, region, created_at, rating::TINYINT, nps_score::TINYINT FROM fb"
    )
    con.execute(
        "INSERT INTO feedback_sentiment (feedback_id, dataset_id, text_hash, sentiment, pipeline_version)"
        " SELECT feedback_id, dataset_id, 't', 'neutral', 'v' FROM an"
    )
    con.execute(
        "INSERT INTO aspect_mentions (feedback_id, dataset_id, brand, product, channel, created_at,"
        " aspect_path, aspect_top, term, clause, span_start, span_end, polarity, confidence,"
        " pipeline_version)"
        " SELECT feedback_id, dataset_id, brand, product, channel, created_at, aspect_path, aspect_top,"
        " aspect_path, aspect_path, 0, 1, polarity, 0.9, 'v' FROM mm"
    )
    for name in ("fb", "an", "mm"):
        con.unregister(name)
    if with_rollups:
        rollups.rebuild(con)
        assert use_rollups(con)
    return con


def _same(a: KeyDrivers, b: KeyDrivers, where: str) -> None:
    assert (a.outcome, a.n, a.too_small) == (b.outcome, b.n, b.too_small), where
    assert a.outcome_mean == pytest.approx(b.outcome_mean, nan_ok=True), where
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=False, rtol=1e-9, atol=1e-12, obj=where)


FILTERS = [
    Filters(),
    Filters(brands=("华为",)),
    Filters(date_from=dt.date(2025, 1, 10), date_to=dt.date(2025, 3, 14)),  # edge days on both sides
    Filters(date_from=dt.date(2025, 2, 1), date_to=dt.date(2025, 2, 28)),  # one whole month
    Filters(date_from=dt.date(2025, 2, 3), date_to=dt.date(2025, 2, 20)),  # inside one month
    Filters(regions=("广东",)),
    Filters(regions=("北京", "上海"), date_from=dt.date(2025, 1, 15)),
    Filters(scope=Scope(regions=("北京",))),
    Filters(dataset_ids=(2,), channels=("京东",)),
]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return _frames()


@pytest.mark.parametrize("outcome", ["auto", "nps", "rating"])
def test_shared_feedback_ids_across_datasets_change_nothing(frames, outcome: str) -> None:
    shared, apart = _store(*frames, offset=0), _store(*frames, offset=10_000)
    assert shared.execute("SELECT count(DISTINCT feedback_id) FROM feedback").fetchall()[0][0] == 400
    for f in FILTERS:
        for parent in (None, "甲"):
            where = f"{outcome} {parent} {f.describe('en')}"
            got = key_drivers(shared, f, outcome, parent)
            _same(got, key_drivers(apart, f, outcome, parent), where)
            with base_tables_only():
                _same(key_drivers(shared, f, outcome, parent), got, f"base tables: {where}")
    assert key_drivers(shared, Filters(), outcome).n > 200  # not a comparison of empty results


@pytest.mark.parametrize("outcome", ["auto", "nps", "rating"])
def test_region_filter_equals_a_store_of_that_region_only(frames, outcome: str) -> None:
    feedback, annotations, mentions = frames
    full = _store(feedback, annotations, mentions)
    for region in REGIONS:
        ids = feedback.loc[feedback["region"] == region, ["dataset_id", "feedback_id"]]
        only = _store(
            feedback.merge(ids),
            annotations.merge(ids),
            mentions.merge(ids),
        )
        for extra in (Filters(), Filters(brands=("小米",)), Filters(date_from=dt.date(2025, 1, 20))):
            _same(
                key_drivers(full, extra.with_(regions=(region,)), outcome),
                key_drivers(only, extra, outcome),  # no region filter: the rollup path
                f"{region} {outcome} {extra.describe('en')}",
            )


def test_auto_outcome_counts_annotated_nps_answers_of_the_whole_range(frames) -> None:
    feedback = frames[0]
    answered = feedback.loc[feedback["annotated"] & feedback["nps_score"].notna(), "created_at"]
    days = sorted({t.date() for t in answered})
    # the day on which the count of answers since the start of January reaches MIN_REVIEWS
    crossing = next(
        d for d in days if (answered < pd.Timestamp(d + dt.timedelta(days=1))).sum() >= MIN_REVIEWS
    )
    stores = {"rollups": _store(*frames), "base tables": _store(*frames, with_rollups=False)}
    seen = set()
    for start in (dt.date(2025, 1, 1), dt.date(2025, 1, 2)):  # whole months first, then an edge day
        for end in (crossing + dt.timedelta(days=k) for k in range(-3, 4)):
            inside = (answered >= pd.Timestamp(start)) & (answered < pd.Timestamp(end + dt.timedelta(days=1)))
            expected = "nps" if inside.sum() >= MIN_REVIEWS else "rating"
            seen.add(expected)
            for name, con in stores.items():
                got = key_drivers(con, Filters(date_from=start, date_to=end))
                assert got.outcome == expected, f"{name} {start}..{end}: {int(inside.sum())} answers"
    assert seen == {"nps", "rating"}  # the threshold was crossed inside the checked ranges
    for name, con in stores.items():
        empty = key_drivers(con, Filters(date_from=dt.date(2030, 1, 1)))
        assert (empty.outcome, empty.n) == ("rating", 0), name


def test_rollup_and_base_paths_agree_with_whole_month_choice(frames) -> None:
    # Whole months read the choice from the driver rollups' NPS totals: same answer as the feedback rollups.
    con = _store(*frames)
    for f in (Filters(date_from=dt.date(2025, 1, 1), date_to=dt.date(2025, 1, 31)),
              Filters(date_from=dt.date(2025, 2, 1), brands=("小米",)), Filters(dataset_ids=(1,))):
        got = key_drivers(con, f)
        with base_tables_only():
            _same(got, key_drivers(con, f), f.describe("en"))
