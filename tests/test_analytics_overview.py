"""Overview analytics and filter options against pandas references computed from the fixture's frames."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.filters import Filters
from analytics.metrics import nps_interval
from analytics.options import filter_options
from analytics.overview import SMALL_SAMPLE, nps_trend, overview_kpis, volume_by_channel
from data.store import connect
from tests.fixture_store import MODELS, Fixture, fill


@pytest.fixture(scope="module")
def store() -> tuple[duckdb.DuckDBPyConnection, Fixture]:
    con = connect(":memory:")
    fixture = fill(con)
    yield con, fixture
    con.close()


def select(frame: pd.DataFrame, f: Filters) -> pd.DataFrame:
    """The pandas reference of ``Filters.where``."""
    mask = pd.Series(True, index=frame.index)
    created = pd.to_datetime(frame["created_at"])
    if f.date_from:
        mask &= created >= pd.Timestamp(f.date_from)
    if f.date_to:
        mask &= created < pd.Timestamp(f.date_to + dt.timedelta(days=1))
    for name, column in (("brands", "brand"), ("products", "product"), ("channels", "channel")):
        values = getattr(f, name)
        if values:
            mask &= frame[column].isin(values)
    if f.dataset_ids:
        mask &= frame["dataset_id"].isin(f.dataset_ids)
    return frame[mask.fillna(False).astype(bool)]


def reference_nps(frame: pd.DataFrame):
    scores = frame["nps_score"].dropna()
    return nps_interval(int((scores >= 9).sum()), int(scores.between(7, 8).sum()), int((scores <= 6).sum()))


def test_fixture_imported_every_row(store) -> None:
    _, fixture = store
    assert fixture.reviews_result.imported == len(fixture.reviews) == 240
    assert fixture.survey_result.imported == len(fixture.survey) == 200
    assert fixture.reviews_result.rejected == fixture.survey_result.rejected == 0


def assert_kpis_match(con: duckdb.DuckDBPyConnection, fixture: Fixture, f: Filters) -> None:
    ref = select(fixture.combined(), f)
    kpis = overview_kpis(con, f)
    assert kpis.feedback == len(ref)
    assert kpis.reviews == int((ref["kind"] == "reviews").sum())
    assert kpis.survey_responses == int((ref["kind"] == "survey").sum())
    assert kpis.datasets == ref["dataset_id"].nunique()
    assert kpis.brands == ref["brand"].nunique()
    assert kpis.products == ref["product"].nunique()
    assert kpis.undated == int(ref["created_at"].isna().sum())
    assert kpis.rated == int(ref["rating"].notna().sum())
    if kpis.rated:
        assert kpis.rating_mean == pytest.approx(ref["rating"].astype(float).mean())
    else:
        assert math.isnan(kpis.rating_mean)
    expected = reference_nps(ref)
    assert (kpis.nps.promoters, kpis.nps.passives, kpis.nps.detractors) == (
        expected.promoters,
        expected.passives,
        expected.detractors,
    )
    if expected.n:
        assert kpis.nps.nps == pytest.approx(expected.nps)
        assert (kpis.nps.low, kpis.nps.high) == pytest.approx((expected.low, expected.high))
    dated = pd.to_datetime(ref["created_at"]).dropna()
    assert kpis.date_min == (dated.min().date() if len(dated) else None)
    assert kpis.date_max == (dated.max().date() if len(dated) else None)


def test_kpis_unfiltered(store) -> None:
    con, fixture = store
    assert_kpis_match(con, fixture, Filters())
    kpis = overview_kpis(con, Filters())
    assert kpis.feedback == 440 and kpis.reviews == 240 and kpis.survey_responses == 200
    assert kpis.nps.n == 200 and kpis.nps.nps > 0
    assert kpis.nps.low < kpis.nps.nps < kpis.nps.high


@pytest.mark.parametrize(
    "f",
    [
        Filters(brands=("华为",)),
        Filters(channels=("京东", "天猫")),
        Filters(products=("iPhone 15",), channels=("问卷",)),
        Filters(date_from=dt.date(2025, 2, 1), date_to=dt.date(2025, 3, 31)),
        Filters(date_from=dt.date(2025, 6, 30)),
    ],
    ids=["brand", "channels", "product+channel", "dates", "last-day"],
)
def test_kpis_filtered(store, f: Filters) -> None:
    con, fixture = store
    assert_kpis_match(con, fixture, f)


def test_kpis_dataset_filter(store) -> None:
    con, fixture = store
    f = Filters(dataset_ids=(fixture.survey_result.dataset_id,))
    assert_kpis_match(con, fixture, f)
    kpis = overview_kpis(con, f)
    assert kpis.reviews == 0 and kpis.survey_responses == 200 and kpis.rated == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    brands=st.sets(st.sampled_from(sorted({b for b, _ in MODELS}))),
    channels=st.sets(st.sampled_from(["京东", "天猫", "问卷"])),
    start=st.integers(0, 180),
    length=st.integers(0, 180),
)
def test_kpis_match_pandas_for_any_filter(store, brands, channels, start, length) -> None:
    con, fixture = store
    date_from = dt.date(2025, 1, 1) + dt.timedelta(days=start)
    f = Filters(
        date_from=date_from, date_to=date_from + dt.timedelta(days=length), brands=brands, channels=channels
    )
    assert_kpis_match(con, fixture, f)


def test_empty_selection_is_honest(store) -> None:
    con, _ = store
    f = Filters(brands=("不存在的品牌",))
    kpis = overview_kpis(con, f)
    assert kpis.is_empty and kpis.nps.n == 0 and math.isnan(kpis.nps.nps)
    assert kpis.date_min is None and math.isnan(kpis.rating_mean)
    trend = nps_trend(con, f)
    assert trend.empty and list(trend.columns)[:3] == ["period", "n", "promoters"]
    assert volume_by_channel(con, f).empty


@pytest.mark.parametrize("period,freq", [("month", "M"), ("quarter", "Q"), ("week", "W-SUN")])
def test_nps_trend_matches_pandas(store, period: str, freq: str) -> None:
    con, fixture = store
    f = Filters(brands=("华为", "小米"))
    trend = nps_trend(con, f, period)
    ref = select(fixture.combined(), f)
    ref = ref[ref["nps_score"].notna() & ref["created_at"].notna()]
    groups = ref.groupby(pd.to_datetime(ref["created_at"]).dt.to_period(freq).dt.start_time)
    assert len(trend) == groups.ngroups
    for row, (start, group) in zip(trend.itertuples(), groups, strict=True):
        expected = reference_nps(group)
        assert row.period == start
        assert (row.n, row.promoters, row.passives, row.detractors) == (
            expected.n,
            expected.promoters,
            expected.passives,
            expected.detractors,
        )
        assert (row.nps, row.low, row.high) == pytest.approx((expected.nps, expected.low, expected.high))
        assert row.small_sample == (expected.n < SMALL_SAMPLE)


def test_volume_by_channel_matches_pandas(store) -> None:
    con, fixture = store
    f = Filters(date_from=dt.date(2025, 2, 1))
    volume = volume_by_channel(con, f)
    ref = select(fixture.combined(), f)
    ref = ref[(ref["kind"] == "reviews") & ref["created_at"].notna()]
    expected = (
        ref.assign(
            period=pd.to_datetime(ref["created_at"]).dt.to_period("M").dt.start_time,
            channel=ref["channel"].fillna("<none>"),
        )
        .groupby(["period", "channel"])
        .size()
    )
    got = volume.assign(channel=volume["channel"].fillna("<none>")).set_index(["period", "channel"])["n"]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    assert volume["channel"].isna().any()  # the fixture has reviews without a channel: kept, not dropped
    assert "问卷" not in set(volume["channel"].dropna())  # survey rows are not reviews


def test_volume_for_surveys_and_bad_arguments(store) -> None:
    con, _ = store
    surveys = volume_by_channel(con, Filters(), kinds=("survey",))
    assert set(surveys["channel"]) == {"问卷"}
    assert int(surveys["n"].sum()) == 200 - 4  # four undated answers are left out of the trend
    with pytest.raises(ValueError, match="period"):
        nps_trend(con, Filters(), "day; DROP TABLE feedback")
    with pytest.raises(ValueError, match="kinds"):
        volume_by_channel(con, Filters(), kinds=("products",))


def test_filter_options(store) -> None:
    con, fixture = store
    options = filter_options(con)
    frame = fixture.combined()
    assert options.brands == tuple(sorted(frame["brand"].unique()))
    assert options.channels == tuple(sorted(frame["channel"].dropna().unique()))
    assert options.products_for(()) == tuple(sorted(frame["product"].unique()))
    assert options.products_for(["华为"]) == ("Mate 60", "P70")
    dated = pd.to_datetime(frame["created_at"]).dropna()
    assert (options.date_min, options.date_max) == (dated.min().date(), dated.max().date())
    assert [d.name for d in options.datasets] == ["测试评论", "测试问卷"]
    assert options.dataset_label(fixture.survey_result.dataset_id) == "测试问卷"


def test_filter_options_on_empty_store() -> None:
    con = connect(":memory:")
    options = filter_options(con)
    assert options.date_min is None and options.brands == () and options.datasets == ()
    kpis = overview_kpis(con, Filters())
    assert kpis.is_empty and kpis.datasets == 0
    con.close()
