"""Aspect heatmap, trends and movers against pandas references; shared statistics helpers."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from analytics.aspects import (
    aspect_changes,
    aspect_heatmap,
    aspect_summary,
    aspect_trend,
    aspect_volume_trend,
)
from analytics.filters import Filters
from analytics.stats import comparison_windows, net_sentiment, wilson_interval
from tests.analytics_fixture import annotated_store


@pytest.fixture(scope="module")
def store():
    con, fx = annotated_store()
    yield con, fx
    con.close()


def _counts(part: pd.DataFrame) -> tuple[int, int, int, int]:
    pol = part["polarity"]
    return (
        len(part),
        int((pol == "positive").sum()),
        int((pol == "neutral").sum()),
        int((pol == "negative").sum()),
    )


def _check(row: pd.Series, part: pd.DataFrame) -> None:
    n, pos, neu, neg = _counts(part)
    assert (row["n"], row["positive"], row["neutral"], row["negative"]) == (n, pos, neu, neg)
    assert row["net"] == pytest.approx(100 * (pos - neg) / n)
    assert row["low"] < row["high"]
    assert row["small_sample"] == (n < 30)


def test_wilson_and_net_sentiment_by_hand() -> None:
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    s = net_sentiment(160, 140, 100)  # same structure as the NPS example
    assert (round(s.net, 1), round(s.low, 1), round(s.high, 1)) == (15.0, 7.2, 22.6)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


@pytest.mark.parametrize("rows", ["brand", "product", "channel"])
def test_heatmap_top_level_matches_pandas(store, rows: str) -> None:
    con, fx = store
    frame = aspect_heatmap(con, Filters(), rows=rows)
    keys = ["brand", "product"] if rows == "product" else [rows]
    groups = fx.mentions.groupby([*keys, "aspect_top"])
    assert len(frame) == groups.ngroups
    for key, part in groups:
        mask = pd.Series(True, index=frame.index)
        for column, value in zip([*keys, "aspect"], key, strict=True):
            mask &= frame[column] == value
        _check(frame[mask].iloc[0], part)


def test_heatmap_children_of_a_parent(store) -> None:
    con, fx = store
    frame = aspect_heatmap(con, Filters(brands=("vivo",)), rows="product", parent="电池")
    ref = fx.mentions[(fx.mentions["brand"] == "vivo") & (fx.mentions["aspect_top"] == "电池")]
    assert set(frame["aspect"]) == {"电池/续航", "电池/发热"}
    for (product, path), part in ref.groupby(["product", "aspect_path"]):
        _check(frame[(frame["product"] == product) & (frame["aspect"] == path)].iloc[0], part)
    # the planted weakness of the fixture: X100 Pro overheats
    heat = frame[frame["aspect"] == "电池/发热"].set_index("product")["net"]
    assert heat.idxmin() == "X100 Pro"


def test_region_filter_uses_feedback(store) -> None:
    con, fx = store
    frame = aspect_summary(con, Filters(regions=("北京",)))
    merged = fx.mentions.merge(
        fx.feedback[["dataset_id", "feedback_id", "region"]], on=["dataset_id", "feedback_id"]
    )
    ref = merged[merged["region"] == "北京"]
    for aspect, part in ref.groupby("aspect_top"):
        _check(frame[frame["aspect"] == aspect].iloc[0], part)


def test_trend_and_volume_trend_match_pandas(store) -> None:
    con, fx = store
    mentions = fx.mentions.assign(period=fx.mentions["created_at"].dt.to_period("M").dt.to_timestamp())
    for aspect, column in (("电池", "aspect_top"), ("电池/发热", "aspect_path")):
        frame = aspect_trend(con, Filters(channels=("京东",)), aspect=aspect)
        ref = mentions[(mentions[column] == aspect) & (mentions["channel"] == "京东")]
        assert len(frame) == ref["period"].nunique()
        for period, part in ref.groupby("period"):
            _check(frame[frame["period"] == period].iloc[0], part)
    volume = aspect_volume_trend(con, Filters(), "quarter")
    quarters = fx.mentions.assign(period=fx.mentions["created_at"].dt.to_period("Q").dt.to_timestamp())
    ref = quarters.groupby(["period", "aspect_top"]).size()
    assert (
        dict(zip(zip(volume["period"], volume["aspect"], strict=True), volume["n"], strict=True))
        == ref.to_dict()
    )


def test_comparison_windows() -> None:
    con, _ = annotated_store(n_reviews=50, n_survey=10)
    w = comparison_windows(con, Filters(date_from=dt.date(2025, 3, 1), date_to=dt.date(2025, 3, 31)))
    assert w is not None
    assert (w.previous_from, w.previous_to) == (dt.date(2025, 1, 29), dt.date(2025, 2, 28))
    open_ended = comparison_windows(con, Filters(), default_days=30)
    latest = con.execute("SELECT max(created_at) FROM feedback").fetchall()[0][0].date()
    assert open_ended.current_to == latest and (open_ended.current_to - open_ended.current_from).days == 29
    assert comparison_windows(con, Filters(brands=("无此品牌",))) is None


def test_aspect_changes_match_pandas(store) -> None:
    con, fx = store
    f = Filters(date_from=dt.date(2025, 4, 1), date_to=dt.date(2025, 6, 30))
    frame = aspect_changes(con, f)
    m = fx.mentions
    now = m[(m["created_at"] >= "2025-04-01") & (m["created_at"] < "2025-07-01")]
    before = m[(m["created_at"] >= "2025-01-01") & (m["created_at"] < "2025-04-01")]  # 91 days before
    assert len(frame) == m["aspect_top"].nunique()
    for aspect in frame["aspect"]:
        row = frame[frame["aspect"] == aspect].iloc[0]
        n1, p1, _, g1 = _counts(now[now["aspect_top"] == aspect])
        n0, p0, _, g0 = _counts(before[before["aspect_top"] == aspect])
        assert (row["n_current"], row["n_previous"]) == (n1, n0)
        assert row["change"] == pytest.approx(100 * (p1 - g1) / n1 - 100 * (p0 - g0) / n0)
        assert row["significant"] == (row["p_value"] < 0.05)
    assert frame["change"].is_monotonic_decreasing


def test_bad_arguments(store) -> None:
    con, _ = store
    with pytest.raises(ValueError):
        aspect_heatmap(con, Filters(), rows="store")
    with pytest.raises(ValueError):
        aspect_trend(con, Filters(), "电池", period="year")
    assert aspect_heatmap(con, Filters(brands=("x' OR '1'='1",))).empty
