"""The CEM index against a pandas reference of its documented formula."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from analytics.cem_index import CemWeights, cem_index, cem_index_change, cem_weights
from analytics.filters import Filters
from data.store import connect
from tests.analytics_fixture import annotated_store


@pytest.fixture(scope="module")
def store():
    con, fx = annotated_store()
    yield con, fx
    con.close()


def _reference(mentions: pd.DataFrame, weights: dict[str, float]) -> tuple[float, float, int]:
    """Index and standard error written out from docs/METRICS.md."""
    score = mentions["polarity"].map({"positive": 1.0, "neutral": 0.5, "negative": 0.0})
    parts = mentions.assign(score=score)[mentions["aspect_top"].isin(list(weights))].groupby("aspect_top")[
        "score"
    ]
    means, variances, counts = parts.mean(), parts.var(ddof=0), parts.size()
    w = pd.Series({a: weights[a] for a in means.index})
    w = w / w.sum()
    index = 100 * float((w * means).sum())
    se = 100 * math.sqrt(float((w**2 * variances / counts).sum()))
    return index, se, int(counts.sum())


def test_equal_weights_match_reference(store) -> None:
    con, fx = store
    weights = CemWeights({"电池": 0.25, "屏幕": 0.25, "拍照": 0.25, "客服": 0.25}, "equal", None, 0)
    frame = cem_index(con, Filters(), by="brand", weights=weights)
    for brand, part in fx.mentions.groupby("brand"):
        row = frame[frame["brand"] == brand].iloc[0]
        index, se, n = _reference(part, dict(weights.weights))
        assert row["index"] == pytest.approx(index)
        assert row["standard_error"] == pytest.approx(se)
        assert row["n"] == n and row["aspects"] == 4
        assert row["low"] == pytest.approx(index - 1.959964 * se, abs=1e-4)
    # the fixture's overheating product pulls vivo down
    assert frame.set_index("brand")["index"].idxmin() == "vivo"


def test_driver_weights_and_overall_index(store) -> None:
    con, fx = store
    weights = cem_weights(con, Filters())
    assert weights.method == "drivers" and weights.outcome == "nps"
    assert sum(weights.weights.values()) == pytest.approx(1.0)
    frame = cem_index(con, Filters())
    assert len(frame) == 1
    index, se, n = _reference(fx.mentions, dict(weights.weights))
    assert frame.loc[0, "index"] == pytest.approx(index)
    assert frame.loc[0, "standard_error"] == pytest.approx(se)
    assert frame.loc[0, "n"] == n
    assert 0 <= frame.loc[0, "low"] < frame.loc[0, "index"] < frame.loc[0, "high"] <= 100


def test_thin_data_gets_equal_weights(store) -> None:
    con, _ = store
    thin = Filters(products=("Y100",), regions=("北京",), date_from=dt.date(2025, 6, 1))
    weights = cem_weights(con, thin)
    assert weights.method == "equal"
    assert len(set(weights.weights.values())) == 1


def test_extremes_and_empty(store) -> None:
    con, _ = store
    weights = CemWeights({"电池": 1.0, "屏幕": 1.0}, "equal", None, 0)
    empty = cem_index(con, Filters(brands=("无此品牌",)), weights=weights)
    assert len(empty) == 1 and math.isnan(empty.loc[0, "index"]) and empty.loc[0, "n"] == 0
    assert bool(empty.loc[0, "small_sample"])
    tiny = connect(":memory:")
    tiny.execute(
        "INSERT INTO aspect_mentions SELECT range, 1, 'b', 'p', 'c', TIMESTAMP '2025-01-01', "
        "'电池/续航', '电池', '续航', '续航好', 0, 2, "
        "CASE WHEN range < 3 THEN 'positive' ELSE 'negative' END, 0.9, 'v' FROM range(6)"
    )
    half = cem_index(tiny, Filters(products=("p",)), weights=weights)  # 3 positive, 3 negative
    assert half.loc[0, "aspects"] == 1 and half.loc[0, "n"] == 6
    assert half.loc[0, "index"] == pytest.approx(50.0)
    assert half.loc[0, "standard_error"] == pytest.approx(100 * math.sqrt(0.25 / 6))
    tiny.execute("DELETE FROM aspect_mentions WHERE polarity = 'negative'")
    top = cem_index(tiny, Filters(), weights=weights)
    assert top.loc[0, "index"] == pytest.approx(100.0) and top.loc[0, "high"] == pytest.approx(100.0)
    assert bool(top.loc[0, "small_sample"])


def test_change_against_previous_window(store) -> None:
    con, _ = store
    f = Filters(date_from=dt.date(2025, 4, 1), date_to=dt.date(2025, 6, 30))
    change = cem_index_change(con, f)
    assert change is not None
    assert change.windows == ("2025-04-01", "2025-06-30", "2024-12-31", "2025-03-31")
    weights = cem_weights(con, f)
    now = cem_index(con, f, weights=weights).iloc[0]
    before = cem_index(
        con, Filters(date_from=dt.date(2024, 12, 31), date_to=dt.date(2025, 3, 31)), weights=weights
    )
    assert change.current == pytest.approx(now["index"]) and change.current_n == now["n"]
    assert change.previous == pytest.approx(before.loc[0, "index"])
    assert change.change == pytest.approx(change.current - change.previous)
    z = change.change / np.hypot(now["standard_error"], before.loc[0, "standard_error"])
    assert change.z == pytest.approx(z)
    assert change.significant == (change.p_value < 0.05)
    given = cem_index_change(con, f, weights=CemWeights({"电池": 1.0}, "equal", None, 0))
    assert given.weighting == "equal" and given.current != pytest.approx(change.current)
    assert cem_index_change(con, Filters(brands=("无此品牌",))) is None
    with pytest.raises(ValueError):
        cem_index(con, Filters(), by="region")


def test_every_dashboard_function_handles_an_empty_store() -> None:
    from analytics import aspects, drivers, nps, parameter_map, quotes

    con = connect(":memory:")
    f = Filters()
    frames = [
        aspects.aspect_heatmap(con, f),
        aspects.aspect_trend(con, f, "电池"),
        aspects.aspect_volume_trend(con, f),
        aspects.aspect_changes(con, f),
        nps.nps_by(con, f, "brand"),
        nps.nps_trend_by(con, f, "month", "channel"),
        nps.nps_verbatims(con, f),
        drivers.key_drivers(con, f).table,
        cem_index(con, f, by="brand"),
        quotes.typical_quotes(con, f, "电池").quotes,
        quotes.search_feedback(con, f, "电池").rows,
        parameter_map.parameter_map(con, f, "weight_g", "thickness_mm").points,
    ]
    assert all(frame.empty for frame in frames)
    assert math.isnan(cem_index(con, f).loc[0, "index"])
    assert cem_index_change(con, f) is None
