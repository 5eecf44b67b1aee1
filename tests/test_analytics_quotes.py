"""Typical quotes (MMR over TF-IDF) and full-text search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from analytics.filters import Filters
from analytics.quotes import (
    export_frame,
    locate_span,
    mmr_select,
    search_feedback,
    search_terms,
    typical_quotes,
)
from data.store import connect
from tests.analytics_fixture import annotated_store


@pytest.fixture(scope="module")
def store():
    con, fx = annotated_store()
    yield con, fx
    con.close()


def test_quotes_match_aspect_and_polarity_with_spans(store) -> None:
    con, fx = store
    result = typical_quotes(con, Filters(brands=("vivo",)), aspect="电池/发热", polarity="negative", k=4)
    m = fx.mentions
    matching = m[(m["brand"] == "vivo") & (m["aspect_path"] == "电池/发热") & (m["polarity"] == "negative")]
    assert result.n_matching == matching[["dataset_id", "feedback_id"]].drop_duplicates().shape[0]
    assert result.n_candidates == result.n_matching  # below the cap
    quotes = result.quotes
    assert len(quotes) == 4 and quotes["feedback_id"].is_unique and quotes["text"].is_unique
    assert set(quotes["feedback_id"]) <= set(matching["feedback_id"])
    for text, spans in zip(quotes["text"], quotes["spans"], strict=True):
        assert spans, "every quote highlights its aspect term"
        for span in spans:
            assert text[span["start"] : span["end"]] == span["term"] == "发热"
            assert span["polarity"] == "negative"


def test_candidates_are_bounded_to_the_newest(store) -> None:
    con, fx = store
    result = typical_quotes(con, Filters(), aspect="电池", k=3, max_candidates=50)
    assert result.n_candidates == 50 and result.n_matching > 50
    ids = fx.mentions[fx.mentions["aspect_top"] == "电池"][["feedback_id", "created_at"]].drop_duplicates()
    cutoff = ids.sort_values("created_at", ascending=False)["created_at"].iloc[49]
    picked = fx.feedback.set_index("feedback_id").loc[list(result.quotes["feedback_id"]), "created_at"]
    assert (picked >= cutoff).all()
    overall = typical_quotes(con, Filters(), polarity="positive", k=2)
    expected = int((fx.sentiment["sentiment"] == "positive").sum())
    assert overall.n_matching == expected and len(overall.quotes) == 2
    with pytest.raises(ValueError):
        typical_quotes(con, Filters(), polarity="angry")


def test_mmr_prefers_different_quotes() -> None:
    texts = ["电池续航很好很耐用"] * 5 + ["电池续航很好很耐用啊"] + ["屏幕清晰", "物流很快", "客服态度好"]
    vectors = TfidfVectorizer(analyzer="char", ngram_range=(1, 3)).fit_transform(texts)
    central, centrality = mmr_select(vectors, 3, diversity=0.0)
    assert len(set(texts[i] for i in central[:2])) <= 2 and central[0] == int(np.argmax(centrality))
    diverse, _ = mmr_select(vectors, 3, diversity=0.7)
    assert len({texts[i][:4] for i in diverse}) == 3  # three different topics


def test_locate_span() -> None:
    assert locate_span("电池 发热严重", "发热", 3) == (3, 5)
    assert locate_span("电池　 发热严重", "发热", 3) == (4, 6)  # raw text has an extra space
    assert locate_span("没有这个词", "发热", 0) is None


def _search_store() -> tuple:
    con = connect(":memory:")
    rows = pd.DataFrame(
        {
            "feedback_id": range(1, 7),
            "dataset_id": 1,
            "content_hash": [f"h{i}" for i in range(6)],
            "brand": ["华为", "华为", "小米", "小米", "vivo", "vivo"],
            "created_at": pd.date_range("2025-01-01", periods=6, freq="D"),
            "text": [
                "物流很快 电池耐用",
                "电池一般，物流慢",
                "iPhone 对比 电池",
                "满意度100%_好评",
                "100%好评",
                None,
            ],
        }
    )
    con.register("rows", rows)
    con.execute("INSERT INTO feedback BY NAME SELECT * FROM rows")
    return con, rows


def test_search_is_and_of_terms_newest_first_and_literal() -> None:
    con, rows = _search_store()
    result = search_feedback(con, Filters(), "电池  物流")
    expected = rows[
        rows["text"].fillna("").str.contains("电池") & rows["text"].fillna("").str.contains("物流")
    ]
    assert result.n_matching == len(expected) == 2
    assert list(result.rows["feedback_id"]) == [2, 1]
    assert result.rows.loc[0, "spans"] == [
        {"start": 0, "end": 2, "term": "电池"},
        {"start": 5, "end": 7, "term": "物流"},
    ]
    assert list(search_feedback(con, Filters(), "%_").rows["feedback_id"]) == [4]  # wildcards are literal
    assert search_feedback(con, Filters(), "IPHONE").rows.loc[0, "text"].startswith("iPhone")
    assert search_feedback(con, Filters(), "电池 ' OR 1=1 --").n_matching == 0
    assert search_feedback(con, Filters(brands=("华为",)), "电池").n_matching == 2
    assert search_feedback(con, Filters(), "   ").rows.empty
    assert search_terms("电池\u3000物流 电池") == ("电池", "物流")
    with pytest.raises(ValueError):
        search_terms(" ".join(str(i) for i in range(11)))


def test_export_frame_is_flat(store) -> None:
    con, _ = store
    quotes = typical_quotes(con, Filters(), aspect="拍照", k=2).quotes
    flat = export_frame(quotes)
    assert "spans" not in flat.columns and flat["terms"].str.contains("拍照").all()
