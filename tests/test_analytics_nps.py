"""NPS analytics against pandas references computed on the fixture's own rows."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from analytics.filters import Filters
from analytics.metrics import nps_change_test, nps_interval
from analytics.nps import nps_by, nps_total, nps_trend_by, nps_verbatims
from tests.analytics_fixture import annotated_store


@pytest.fixture(scope="module")
def store():
    con, fx = annotated_store()
    yield con, fx
    con.close()


def _reference(frame: pd.DataFrame) -> dict[str, int]:
    scores = frame["nps_score"].dropna().astype(int)
    return {
        "promoters": int((scores >= 9).sum()),
        "passives": int(scores.between(7, 8).sum()),
        "detractors": int((scores <= 6).sum()),
    }


def test_issue_example_interval() -> None:
    i = nps_interval(160, 140, 100)
    assert round(i.nps, 1) == 15.0
    assert round(i.low, 1) == 7.2
    assert round(i.high, 1) == 22.6


def test_change_test_by_hand() -> None:
    a, b = nps_interval(50, 30, 20), nps_interval(30, 30, 40)
    # adjusted centres and standard errors written out
    ca = (50.75 - 20.75) / 103
    cb = (30.75 - 40.75) / 103
    sa = math.sqrt(((50.75 + 20.75) / 103 - ca**2) / 103)
    sb = math.sqrt(((30.75 + 40.75) / 103 - cb**2) / 103)
    test = nps_change_test(a, b)
    assert test.z == pytest.approx((cb - ca) / math.hypot(sa, sb))
    assert test.difference == pytest.approx(100 * (cb - ca))
    assert test.significant and test.p_value < 0.001
    same = nps_change_test(a, a)
    assert same.z == 0 and not same.significant and same.p_value == pytest.approx(1.0)
    empty = nps_change_test(a, nps_interval(0, 0, 0))
    assert math.isnan(empty.z) and not empty.significant
    with pytest.raises(ValueError):
        nps_change_test(a, b, alpha=0)


def test_total_and_by_segment_match_pandas(store) -> None:
    con, fx = store
    ref = _reference(fx.feedback)
    total = nps_total(con, Filters())
    assert (total.promoters, total.passives, total.detractors) == tuple(ref.values())
    for split in ("brand", "store", "channel"):
        frame = nps_by(con, Filters(), split)
        answered = fx.feedback[fx.feedback["nps_score"].notna()]
        for segment, part in answered.groupby(split):
            row = frame[frame["segment"] == segment].iloc[0]
            counts = _reference(part)
            assert row["n"] == len(part)
            assert row["promoters"] == counts["promoters"] and row["detractors"] == counts["detractors"]
            assert row["nps"] == pytest.approx(100 * (counts["promoters"] - counts["detractors"]) / len(part))
            assert row["low"] <= row["nps"] <= row["high"] or row["n"] < 30
        assert frame["n"].is_monotonic_decreasing


def test_trend_by_brand_matches_pandas_and_tests_changes(store) -> None:
    con, fx = store
    frame = nps_trend_by(con, Filters(), "month", "brand")
    answered = fx.feedback[fx.feedback["nps_score"].notna()].copy()
    answered["period"] = answered["created_at"].dt.to_period("M").dt.to_timestamp()
    assert len(frame) == answered.groupby(["period", "brand"]).ngroups
    for brand, series in frame.groupby("segment"):
        series = series.sort_values("period").reset_index(drop=True)
        assert math.isnan(series.loc[0, "change"]) and not series.loc[0, "significant"]
        for i in range(len(series)):
            part = answered[(answered["brand"] == brand) & (answered["period"] == series.loc[i, "period"])]
            counts = _reference(part)
            assert series.loc[i, "n"] == len(part)
            assert series.loc[i, "promoters"] == counts["promoters"]
            assert series.loc[i, "small_sample"] == (len(part) < 30)
            if i:
                before = nps_interval(
                    *[int(series.loc[i - 1, c]) for c in ("promoters", "passives", "detractors")]
                )
                now = nps_interval(*[int(series.loc[i, c]) for c in ("promoters", "passives", "detractors")])
                assert series.loc[i, "change"] == pytest.approx(now.nps - before.nps)
                assert series.loc[i, "z"] == pytest.approx(nps_change_test(before, now).z)


def test_filters_are_applied(store) -> None:
    con, fx = store
    f = Filters(
        regions=("广东",), date_from=dt.date(2025, 2, 1), date_to=dt.date(2025, 4, 30), brands=("华为",)
    )
    rows = fx.feedback[
        (fx.feedback["region"] == "广东")
        & (fx.feedback["brand"] == "华为")
        & (fx.feedback["created_at"] >= "2025-02-01")
        & (fx.feedback["created_at"] < "2025-05-01")
    ]
    total = nps_total(con, f)
    assert total.n == int(rows["nps_score"].notna().sum())
    assert nps_trend_by(con, f, "quarter")["n"].sum() == total.n


def test_injection_is_just_a_value(store) -> None:
    con, _ = store
    assert nps_total(con, Filters(brands=("华为' OR 1=1 --",))).n == 0
    with pytest.raises(ValueError):
        nps_by(con, Filters(), "brand; DROP TABLE feedback")
    with pytest.raises(ValueError):
        nps_trend_by(con, Filters(), "day")


def test_detractor_verbatims(store) -> None:
    con, fx = store
    frame = nps_verbatims(con, Filters(brands=("vivo",)), "detractors", limit=20)
    expected = fx.feedback[(fx.feedback["brand"] == "vivo") & (fx.feedback["nps_score"] <= 6)]
    assert len(frame) == min(20, len(expected))
    assert (frame["nps_score"] <= 6).all() and (frame["brand"] == "vivo").all()
    assert frame["created_at"].is_monotonic_decreasing
    newest = expected.sort_values("created_at", ascending=False).head(20)
    assert set(frame["feedback_id"]) == set(newest["feedback_id"])
    with pytest.raises(ValueError):
        nps_verbatims(con, Filters(), "critics")
