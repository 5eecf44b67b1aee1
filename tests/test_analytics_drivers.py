"""Key drivers: the SQL sufficient-statistics ridge equals a numpy ridge on the per-review matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.drivers import MIN_MENTIONS, RIDGE_LAMBDA, key_drivers
from analytics.filters import Filters
from data.store import connect
from tests.analytics_fixture import annotated_store


@pytest.fixture(scope="module")
def store():
    con, fx = annotated_store()
    yield con, fx
    con.close()


def _numpy_reference(fx, outcome: str) -> pd.DataFrame:
    fb = fx.feedback
    if outcome == "nps":
        rows = fb[fb["nps_score"].notna()].copy()
        s = rows["nps_score"].astype(int)
        rows["y"] = np.where(s >= 9, 100.0, np.where(s <= 6, -100.0, 0.0))
    else:
        rows = fb[fb["rating"].notna()].copy()
        rows["y"] = rows["rating"].astype(float)
    m = fx.mentions.assign(code=fx.mentions["polarity"].map({"positive": 1, "negative": -1, "neutral": 0}))
    codes = m.groupby(["dataset_id", "feedback_id", "aspect_top"])["code"].sum().apply(np.sign).unstack()
    X = (
        rows[["dataset_id", "feedback_id"]]
        .merge(codes.reset_index(), how="left")
        .drop(columns=["dataset_id", "feedback_id"])
        .fillna(0.0)
    )
    y = rows["y"].to_numpy()
    Z = (X - X.mean()) / X.std(ddof=0)
    zy = (y - y.mean()) / y.std(ddof=0)
    R = (Z.T @ Z).to_numpy() / len(Z)
    r = Z.T.to_numpy() @ zy / len(Z)
    beta = np.linalg.solve(R + RIDGE_LAMBDA * np.eye(len(r)), r)
    return pd.DataFrame({"aspect": X.columns, "importance": beta})


@pytest.mark.parametrize("outcome", ["nps", "rating"])
def test_importance_matches_numpy_ridge(store, outcome: str) -> None:
    con, fx = store
    result = key_drivers(con, Filters(), outcome=outcome)
    ref = _numpy_reference(fx, outcome).set_index("aspect")
    table = result.table.set_index("aspect")
    assert result.outcome == outcome
    expected_n = int(fx.feedback["nps_score" if outcome == "nps" else "rating"].notna().sum())
    assert result.n == expected_n
    for aspect in ref.index:
        assert table.loc[aspect, "importance"] == pytest.approx(ref.loc[aspect, "importance"], rel=1e-6)
    # n / performance per aspect from the per-review codes
    m = fx.mentions.assign(code=fx.mentions["polarity"].map({"positive": 1, "negative": -1, "neutral": 0}))
    kind = 2 if outcome == "nps" else 1
    codes = m[m["dataset_id"] == kind].groupby(["feedback_id", "aspect_top"])["code"].sum().apply(np.sign)
    for aspect, series in codes.groupby(level="aspect_top"):
        assert table.loc[aspect, "n"] == len(series)
        assert table.loc[aspect, "performance"] == pytest.approx(
            100 * ((series > 0).sum() - (series < 0).sum()) / len(series)
        )
    assert table["weight"].sum() == pytest.approx(1.0)


def test_auto_outcome_and_planted_driver() -> None:
    rng = np.random.default_rng(5)
    con = connect(":memory:")
    con.execute("INSERT INTO datasets (dataset_id, name, kind) VALUES (1, 'r', 'reviews')")
    n = 500
    a = rng.choice([-1, 0, 1], size=n)
    b = rng.choice([-1, 0, 1], size=n)
    rating = np.clip(3 + 2 * a + rng.integers(-1, 2, size=n) * (a == 0), 1, 5)  # only aspect 甲 matters
    feedback = pd.DataFrame(
        {
            "feedback_id": np.arange(1, n + 1),
            "dataset_id": 1,
            "content_hash": "h",
            "rating": rating.astype(int),
            "created_at": pd.Timestamp("2025-01-01"),
        }
    )
    con.register("fb", feedback)
    con.execute(
        "INSERT INTO feedback (feedback_id, dataset_id, content_hash, rating, created_at) "
        "SELECT feedback_id, dataset_id, content_hash, rating, created_at FROM fb"
    )
    con.execute(
        "INSERT INTO feedback_sentiment (feedback_id, dataset_id, text_hash, sentiment, pipeline_version) "
        "SELECT feedback_id, 1, 't', 'neutral', 'v' FROM fb"
    )
    rows = []
    for i in range(n):
        for top, code in (("甲", a[i]), ("乙", b[i])):
            if code != 0:
                rows.append(
                    {"feedback_id": i + 1, "aspect": top, "polarity": "positive" if code > 0 else "negative"}
                )
    con.register("mm", pd.DataFrame(rows))
    con.execute(
        "INSERT INTO aspect_mentions SELECT feedback_id, 1, NULL, NULL, NULL, TIMESTAMP '2025-01-01', "
        "aspect, aspect, aspect, aspect, 0, 1, polarity, 0.9, 'v' FROM mm"
    )
    result = key_drivers(con, Filters(), outcome="auto")
    assert result.outcome == "rating"  # no NPS answers
    table = result.table.set_index("aspect")
    assert table.loc["甲", "importance"] > 0.8 and abs(table.loc["乙", "importance"]) < 0.1
    assert table.index[0] == "甲"
    assert not result.too_small and not table["too_small"].any()
    assert table.loc["甲", "weight"] > 0.9
    small = key_drivers(con, Filters(date_to=pd.Timestamp("2024-12-31").date()), outcome="rating")
    assert small.n == 0 and small.too_small and small.table.empty


def test_too_small_flags(store) -> None:
    con, _ = store
    f = Filters(brands=("vivo",), channels=("问卷",), regions=("北京",))
    result = key_drivers(con, f, outcome="nps")
    assert result.n < 100 and result.too_small
    assert result.table["too_small"].all()
    assert (result.table["weight"] == 0).all()
    assert MIN_MENTIONS == 30
    with pytest.raises(ValueError):
        key_drivers(con, Filters(), outcome="revenue")
