"""Typical quotes (representative and mutually different) and full-text search over feedback.

Typical quotes: the newest ``max_candidates`` matching reviews (bounded for speed) are embedded as TF-IDF
vectors of character 1–3-grams (works for Chinese without segmentation); a quote's centrality is its cosine
similarity to the centroid; maximal marginal relevance picks ``k`` quotes, trading centrality against
similarity to those already picked. Spans of the matching aspect terms are returned for highlighting,
checked against the returned text. Search: every whitespace-separated term must occur (case-insensitive
substring, bound parameters, no LIKE wildcards to escape), newest first. See docs/METRICS.md.

Speed (docs/BENCHMARKS.md): the candidate pool is 300 (the TF-IDF fit is linear in it); the number of
matching reviews comes from the rollups when they are current; the newest candidates are found among the
newest ``PROBE_FACTOR × cap`` rows (mention rows for an aspect) without counting every match, falling back
to the full query when those are too few to be sure. Results are the same as the full query's.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
from duckdb import DuckDBPyConnection
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from analytics.aspects import aspect_condition, mention_where
from analytics.filters import Filters, text_present
from analytics.rollup_source import aspect_source, feedback_source, use_rollups

POLARITIES = ("positive", "negative", "neutral")
MAX_CANDIDATES = 300
# The newest rows are found first without reading their texts, this many times the cap, then the texts of
# those few are checked (see _newest_probe); too few of them to be sure: the full query.
PROBE_FACTOR = 2
MAX_SEARCH_TERMS = 10
QUOTE_COLUMNS = [
    "feedback_id",
    "dataset_id",
    "created_at",
    "brand",
    "product",
    "channel",
    "text",
    "centrality",
    "spans",
]


@dataclass(frozen=True)
class Quotes:
    """The picked quotes and how many reviews they were picked from.

    ``quotes.spans`` holds, per quote, a list of ``{"start", "end", "term", "aspect", "polarity"}`` dicts
    (character offsets into ``text``) for the matching aspect mentions.
    """

    quotes: pd.DataFrame
    n_matching: int  # reviews matching filter, aspect and polarity
    n_candidates: int  # newest of them that were considered (≤ max_candidates)


def _polarity(polarity: str | None) -> None:
    if polarity is not None and polarity not in POLARITIES:
        raise ValueError(f"polarity {polarity!r} is not one of {POLARITIES}")


def _candidates(
    con: DuckDBPyConnection, filters: Filters, aspect: str | None, polarity: str | None, cap: int
) -> tuple[pd.DataFrame, int]:
    """Newest matching reviews with text (at most ``cap``) and the number of all matching reviews."""
    total = _rollup_total(con, filters, aspect) if polarity is None else None
    if total is not None:
        frame = _newest_probe(con, filters, aspect, cap)
        if frame is not None:
            return frame, total
    frame, full_total = _candidates_full(con, filters, aspect, polarity, cap)
    return frame, full_total if total is None else total


def _rollup_total(con: DuckDBPyConnection, filters: Filters, aspect: str | None) -> int | None:
    """Matching reviews counted from the rollups (None when they cannot say)."""
    if not use_rollups(con):
        return None
    if aspect is None:
        source, params = feedback_source(filters, "f")
        sql = f"SELECT coalesce(sum(f.texts), 0) FROM {source}"
    else:
        source, params = aspect_source(filters, "m")
        aspect_sql, aspect_params = aspect_condition(aspect)
        counter = "reviews" if "/" in aspect else "reviews_top"
        sql = f"SELECT coalesce(sum(m.{counter}), 0) FROM {source} WHERE {aspect_sql}"
        params.update(aspect_params)
    return int(con.execute(sql, params).fetchall()[0][0])


_COLUMNS = "f.feedback_id, f.dataset_id, f.created_at, f.brand, f.product, f.channel, f.text"
_NEWEST = "ORDER BY f.created_at DESC NULLS LAST, f.feedback_id DESC"


def _newest_probe(
    con: DuckDBPyConnection, filters: Filters, aspect: str | None, cap: int
) -> pd.DataFrame | None:
    """The same rows as :func:`_candidates_full` (polarity None), found from the newest
    ``PROBE_FACTOR × cap`` rows (or mention rows) alone; None when those are too few to be sure."""
    probe = cap * PROBE_FACTOR
    if aspect is None:
        where, params = filters.where(alias="f")
        sql = f"""
            WITH top AS (SELECT {_COLUMNS} FROM feedback f WHERE {where} {_NEWEST} LIMIT $probe)
            SELECT *, (SELECT count(*) FROM top) AS probed FROM top f WHERE {text_present('f')} {_NEWEST}
            LIMIT $cap"""
    else:
        where, params = mention_where(filters)
        aspect_sql, aspect_params = aspect_condition(aspect)
        params.update(aspect_params)
        # A review's mentions share its created_at, so in this order each review's mentions are adjacent and
        # the first ``cap`` distinct reviews of the probe are the ``cap`` newest reviews with a mention.
        sql = f"""
            WITH top AS (
                SELECT m.dataset_id, m.feedback_id, m.created_at FROM aspect_mentions m
                WHERE {where} AND {aspect_sql}
                ORDER BY m.created_at DESC NULLS LAST, m.feedback_id DESC LIMIT $probe
            ),
            hits AS (SELECT dataset_id, feedback_id, max(created_at) AS created_at FROM top GROUP BY ALL),
            newest AS (SELECT * FROM hits ORDER BY created_at DESC NULLS LAST, feedback_id DESC LIMIT $cap)
            SELECT {_COLUMNS}, (SELECT count(*) FROM top) AS probed,
                   (SELECT count(*) FROM hits) AS distinct_hits
            FROM newest h JOIN feedback f USING (dataset_id, feedback_id)
            WHERE {text_present('f')}
            {_NEWEST}"""
    frame = con.execute(sql, {**params, "probe": probe, "cap": cap}).df()
    probed = int(frame["probed"].iloc[0]) if not frame.empty else None
    if aspect is None:
        enough = len(frame) == cap or (probed is not None and probed < probe)
    else:
        distinct = int(frame["distinct_hits"].iloc[0]) if not frame.empty else 0
        # the probe held every mention (fewer than asked) or more than ``cap`` distinct reviews (the last one
        # may be cut short; the first ``cap`` are complete)
        enough = probed is not None and (probed < probe or distinct > cap)
    if not enough:
        return None
    return frame.drop(columns=[c for c in ("probed", "distinct_hits") if c in frame.columns])


def _candidates_full(
    con: DuckDBPyConnection, filters: Filters, aspect: str | None, polarity: str | None, cap: int
) -> tuple[pd.DataFrame, int]:
    """Newest matching reviews with text (at most ``cap``) and the number of all matching reviews.

    The count and the top-``cap`` are separate aggregates (a window count would materialise every match).
    """
    columns = _COLUMNS
    has_text = text_present("f")
    newest = _NEWEST
    if aspect is None:
        where, params = filters.where(alias="f")
        source = "feedback f"
        if polarity is not None:
            source = "feedback f JOIN feedback_sentiment s USING (dataset_id, feedback_id)"
            where += " AND s.sentiment = $polarity"
            params["polarity"] = polarity
        sql = f"""
            WITH hits AS MATERIALIZED (SELECT {columns} FROM {source} WHERE {where} AND {has_text})
            SELECT *, (SELECT count(*) FROM hits) AS total FROM hits f {newest} LIMIT $cap"""
    else:
        where, params = mention_where(filters)
        aspect_sql, aspect_params = aspect_condition(aspect)
        params.update(aspect_params)
        polarity_sql = "m.polarity = $polarity" if polarity else "TRUE"
        if polarity:
            params["polarity"] = polarity
        sql = f"""
            WITH hits AS MATERIALIZED (
                SELECT m.dataset_id, m.feedback_id, max(m.created_at) AS created_at FROM aspect_mentions m
                WHERE {where} AND {aspect_sql} AND {polarity_sql}
                GROUP BY ALL
            ),
            top AS (SELECT * FROM hits ORDER BY created_at DESC NULLS LAST, feedback_id DESC LIMIT $cap)
            SELECT {columns}, (SELECT count(*) FROM hits) AS total
            FROM top h JOIN feedback f USING (dataset_id, feedback_id)
            WHERE {has_text}
            {newest}"""
    frame = con.execute(sql, {**params, "cap": cap}).df()
    total = int(frame["total"].iloc[0]) if not frame.empty else 0
    return frame.drop(columns="total"), total


def mmr_select(vectors: sparse.csr_matrix, k: int, diversity: float) -> tuple[list[int], np.ndarray]:
    """Indices picked by maximal marginal relevance, and every row's centrality.

    ``vectors`` are L2-normalised rows. Centrality = cosine similarity to the centroid. Score of a candidate:
    ``(1 − diversity) · centrality − diversity · (max cosine similarity to the quotes already picked)``.
    """
    matrix = sparse.csr_matrix(vectors)
    centroid = np.asarray(matrix.mean(axis=0)).ravel()
    norm = float(np.linalg.norm(centroid))
    centrality = matrix @ centroid / norm if norm > 0 else np.zeros(matrix.shape[0])
    centrality = np.asarray(centrality).ravel()
    picked: list[int] = []
    closest = np.zeros(matrix.shape[0])
    available = np.ones(matrix.shape[0], dtype=bool)
    for _ in range(min(k, matrix.shape[0])):
        score = (1 - diversity) * centrality - diversity * closest
        score[~available] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        available[best] = False
        similarity = (matrix @ matrix[best].T).toarray().ravel()
        closest = np.maximum(closest, similarity)
    return picked, centrality


def locate_span(text: str, term: str, start: int) -> tuple[int, int] | None:
    """``(start, end)`` of ``term`` in ``text``: at ``start`` if it is there, else the nearest occurrence.

    Stored spans index the normalised text; the raw text can differ (full-width characters, whitespace).
    """
    if not term:
        return None
    if text[start : start + len(term)] == term:
        return start, start + len(term)
    positions = []
    found = text.find(term)
    while found >= 0:
        positions.append(found)
        found = text.find(term, found + 1)
    if not positions:
        return None
    best = min(positions, key=lambda p: abs(p - start))
    return best, best + len(term)


def _spans(
    con: DuckDBPyConnection, picked: pd.DataFrame, aspect: str | None, polarity: str | None
) -> list[list[dict[str, object]]]:
    if picked.empty:
        return []
    aspect_sql, params = aspect_condition(aspect)
    polarity_sql = "m.polarity = $polarity" if polarity else "TRUE"
    if polarity:
        params["polarity"] = polarity
    keys = pd.DataFrame({"dataset_id": picked["dataset_id"], "feedback_id": picked["feedback_id"]})
    params.update(ids=[int(i) for i in keys["feedback_id"]], datasets=[int(d) for d in keys["dataset_id"]])
    rows = con.execute(
        f"""SELECT m.dataset_id, m.feedback_id, m.term, m.span_start, m.aspect_path, m.polarity
            FROM aspect_mentions m
            WHERE (m.dataset_id, m.feedback_id) IN (SELECT unnest($datasets), unnest($ids))
              AND {aspect_sql} AND {polarity_sql}
            ORDER BY m.span_start""",
        params,
    ).fetchall()
    by_review: dict[tuple[int, int], list[tuple[str, int, str, str]]] = {}
    for dataset_id, feedback_id, term, start, path, pol in rows:
        by_review.setdefault((int(dataset_id), int(feedback_id)), []).append((term, int(start), path, pol))
    out: list[list[dict[str, object]]] = []
    for dataset_id, feedback_id, text in zip(
        picked["dataset_id"], picked["feedback_id"], picked["text"], strict=True
    ):
        spans = []
        for term, start, path, pol in by_review.get((int(dataset_id), int(feedback_id)), []):
            located = locate_span(str(text), str(term), start)
            if located is not None:
                spans.append(
                    {"start": located[0], "end": located[1], "term": term, "aspect": path, "polarity": pol}
                )
        out.append(spans)
    return out


def typical_quotes(
    con: DuckDBPyConnection,
    filters: Filters,
    aspect: str | None = None,
    polarity: str | None = None,
    k: int = 5,
    max_candidates: int = MAX_CANDIDATES,
    diversity: float = 0.3,
) -> Quotes:
    """The ``k`` most representative, mutually different reviews for a filter, aspect and polarity.

    ``aspect`` is a top-level aspect or a path (None: any review); ``polarity`` filters the aspect mentions
    (or, without an aspect, the review's overall sentiment). Quotes come most central first.
    """
    _polarity(polarity)
    if k < 1 or not 1 <= max_candidates <= 20_000 or not 0 <= diversity <= 1:
        raise ValueError("need k >= 1, 1 <= max_candidates <= 20000 and 0 <= diversity <= 1")
    candidates, total = _candidates(con, filters, aspect, polarity, max_candidates)
    n_candidates = len(candidates)
    if candidates.empty:
        return Quotes(pd.DataFrame(columns=QUOTE_COLUMNS), total, 0)
    # Identical texts (copy-pasted reviews) would crowd the picks: keep the newest of each.
    unique = candidates.drop_duplicates(subset="text", keep="first").reset_index(drop=True)
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=1, sublinear_tf=True)
    try:
        vectors = vectorizer.fit_transform(unique["text"].astype(str))
    except ValueError:  # only stop-like / empty vocabulary
        vectors = None
    if vectors is None:
        picked_idx, centrality = list(range(min(k, len(unique)))), np.zeros(len(unique))
    else:
        picked_idx, centrality = mmr_select(vectors, k, diversity)
    picked = unique.iloc[picked_idx].copy()
    picked["centrality"] = centrality[picked_idx]
    picked["spans"] = _spans(con, picked, aspect, polarity)
    return Quotes(picked[QUOTE_COLUMNS].reset_index(drop=True), total, n_candidates)


SEARCH_COLUMNS = [
    "feedback_id",
    "dataset_id",
    "created_at",
    "brand",
    "product",
    "channel",
    "rating",
    "nps_score",
    "text",
    "spans",
]


@dataclass(frozen=True)
class SearchResult:
    rows: pd.DataFrame  # newest first; ``spans``: every occurrence of every term, for highlighting
    n_matching: int
    terms: tuple[str, ...]


def search_terms(query: str) -> tuple[str, ...]:
    """Terms of a query: split on any whitespace (full-width space too), lower-cased, unique."""
    seen: dict[str, None] = {}
    for term in query.split():
        seen.setdefault(term.lower(), None)
    terms = tuple(seen)
    if len(terms) > MAX_SEARCH_TERMS:
        raise ValueError(f"the search has {len(terms)} terms; use at most {MAX_SEARCH_TERMS}")
    return terms


def _caseless(term: str) -> bool:
    """True when no character of ``term`` has case (nor is a combining mark, which lowering can produce)."""
    return all(ch.lower() == ch == ch.upper() and not unicodedata.category(ch).startswith("M") for ch in term)


def search_feedback(
    con: DuckDBPyConnection, filters: Filters, query: str, limit: int = 100, offset: int = 0
) -> SearchResult:
    """Feedback whose text contains every term of ``query`` (AND), newest first.

    Matching is a case-insensitive substring test on bound parameters, so it works for Chinese without
    segmentation and characters such as ``%`` and ``_`` are matched literally.
    """
    if not 1 <= limit <= 10_000 or offset < 0:
        raise ValueError("limit must be 1…10000 and offset non-negative")
    terms = search_terms(query)
    if not terms:
        return SearchResult(pd.DataFrame(columns=SEARCH_COLUMNS), 0, ())
    where, params = filters.where(alias="f")
    conditions = []
    for i, term in enumerate(terms):
        # lower() of every text is most of the cost (~5x at 1M rows); a term without cased letters (Chinese,
        # digits) matches the text exactly where it matches the lowered text.
        column = "f.text" if _caseless(term) else "lower(f.text)"
        conditions.append(f"contains({column}, $term{i})")
        params[f"term{i}"] = term
    frame = con.execute(
        f"""SELECT f.feedback_id, f.dataset_id, f.created_at, f.brand, f.product, f.channel, f.rating,
                   f.nps_score, f.text, count(*) OVER () AS total
            FROM feedback f
            WHERE {where} AND f.text IS NOT NULL AND {" AND ".join(conditions)}
            ORDER BY f.created_at DESC NULLS LAST, f.feedback_id DESC
            LIMIT $limit OFFSET $offset""",
        {**params, "limit": limit, "offset": offset},
    ).df()
    total = int(frame["total"].iloc[0]) if not frame.empty else 0
    frame = frame.drop(columns="total")
    frame["spans"] = [_term_spans(str(text), terms) for text in frame["text"]]
    return SearchResult(frame[SEARCH_COLUMNS], total, terms)


def _term_spans(text: str, terms: tuple[str, ...]) -> list[dict[str, object]]:
    lowered = text.lower()
    spans = []
    for term in terms:
        found = lowered.find(term)
        while found >= 0:
            spans.append({"start": found, "end": found + len(term), "term": text[found : found + len(term)]})
            found = lowered.find(term, found + len(term))
    return sorted(spans, key=lambda s: (s["start"], s["end"]))


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A flat copy for CSV/Excel export: the ``spans`` lists become a ``terms`` text column."""
    out = frame.drop(columns=["spans"], errors="ignore").copy()
    if "spans" in frame.columns:
        out["terms"] = ["、".join(str(s["term"]) for s in spans) for spans in frame["spans"]]
    return out
