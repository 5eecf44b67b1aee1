"""analytics.tfidf gives the vectors of scikit-learn's TfidfVectorizer (char 1–3-grams, sublinear tf,
smooth idf, l2): the same cosine similarities, so typical quotes pick the same reviews."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from analytics.quotes import SCORE_DECIMALS, _similarities, mmr_select
from analytics.tfidf import char_tfidf
from data.config import shared_data_dir

REAL_FILES = (
    ("online_shopping_10_cats/online_shopping_10_cats.csv", "review"),
    ("waimai_10k/waimai_10k.csv", "review"),
)
HOSTILE = [
    "", " ", "   \t\n ", "好", "😀", "😀😀 👍🏻", "a\nb", "a \n b", "ＦＵＬＬ　ＷＩＤＴＨ",
    "İstanbul KELVIN K", "e\u0301", "\u200b\u200b", "\ud800 lone", "x" * 500, "电池续航差，发热严重！！",
    "电池  续航", "AbC abc",
]


def _sklearn(texts: list[str]):
    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=1, sublinear_tf=True).fit_transform(
        texts
    )


def _assert_same(texts: list[str]) -> None:
    ours, theirs = char_tfidf(texts), _sklearn(texts)
    assert ours is not None and ours.shape[0] == theirs.shape[0] == len(texts)
    assert ours.shape[1] == theirs.shape[1]  # the same vocabulary size
    np.testing.assert_allclose((ours @ ours.T).toarray(), (theirs @ theirs.T).toarray(), atol=1e-9)
    np.testing.assert_allclose(np.sort(ours.data), np.sort(theirs.data), atol=1e-9)  # same weights
    for k, diversity in ((5, 0.3), (3, 0.0), (8, 0.9)):
        ours_picked, ours_centrality = mmr_select(ours, k, diversity)
        theirs_picked, theirs_centrality = mmr_select(theirs, k, diversity)
        assert ours_picked == theirs_picked
        np.testing.assert_allclose(ours_centrality, theirs_centrality, atol=1e-9)
        assert _mmr_sparse(ours, k, diversity) == (ours_picked, ours_centrality.tolist())
    for row in range(ours.shape[0]):  # the dense product gives the sparse one's numbers, bit for bit
        assert np.array_equal(_similarities(ours, row), (ours @ ours[row].T).toarray().ravel())


def _mmr_sparse(vectors, k: int, diversity: float) -> tuple[list[int], list[float]]:
    """The previous mmr_select: a sparse product per pick (the reference for its faster form)."""
    centroid = np.asarray(vectors.mean(axis=0)).ravel()
    norm = float(np.linalg.norm(centroid))
    centrality = np.asarray(vectors @ centroid / norm if norm > 0 else np.zeros(vectors.shape[0])).ravel()
    picked: list[int] = []
    closest = np.zeros(vectors.shape[0])
    available = np.ones(vectors.shape[0], dtype=bool)
    for _ in range(min(k, vectors.shape[0])):
        score = np.round((1 - diversity) * centrality - diversity * closest, SCORE_DECIMALS)
        score[~available] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        available[best] = False
        closest = np.maximum(closest, (vectors @ vectors[best].T).toarray().ravel())
    return picked, centrality.tolist()


def _real_texts(relative: str, column: str) -> list[str]:
    path = shared_data_dir() / relative
    if not path.exists():
        pytest.skip(f"{relative} not found: ../shared/data is not beside the checkout")
    return pd.read_csv(path)[column].dropna().astype(str).tolist()


@pytest.mark.parametrize(("relative", "column"), REAL_FILES)
def test_same_similarities_and_picks_on_real_reviews(relative: str, column: str) -> None:
    texts = _real_texts(relative, column)
    rng = np.random.default_rng(7)
    for size in (300, 300, 300, 40, 2):
        _assert_same([texts[i] for i in rng.choice(len(texts), size, replace=False)])


def test_same_on_hostile_strings() -> None:
    _assert_same(HOSTILE)
    _assert_same(["好", "好", "好"])  # identical texts
    _assert_same(["😀"])  # one text, one character


def test_no_character_at_all_gives_none() -> None:
    assert char_tfidf(["", ""]) is None
    with pytest.raises(ValueError):  # where scikit-learn refuses
        _sklearn(["", ""])
