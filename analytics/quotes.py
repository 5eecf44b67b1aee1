"""Typical quotes (representative and mutually different) and full-text search over feedback.

Typical quotes: the newest ``max_candidates`` matching reviews (bounded for speed) are embedded as TF-IDF
vectors of character 1–3-grams (works for Chinese without segmentation; :mod:`analytics.tfidf`, the same
vectors as scikit-learn's ``TfidfVectorizer`` computed in numpy); a quote's centrality is its cosine
similarity to the centroid; maximal marginal relevance picks ``k`` quotes, trading centrality against
similarity to those already picked. Spans of the matching aspect terms are returned for highlighting,
checked against the returned text. Search: every whitespace-separated term must occur (case-insensitive
substring, bound parameters, no LIKE wildcards to escape), newest first; the matches are counted only when
that is free (fewer than a page) or asked for (:func:`count_matches`). See docs/METRICS.md.

Speed (docs/BENCHMARKS.md): the candidate pool is 300 (the TF-IDF fit is linear in it); the number of
matching reviews comes from the rollups when they are current and sizes the first date slice; the newest
candidates (for an aspect: the newest ``PROBE_FACTOR × cap`` mention rows, a province tested on the
reviews of each slice's dates) are read newest first in date slices, so on storage sorted by date only the
newest row groups are read (:mod:`analytics.newest`), falling back to the full query when those mention
rows are too few to be sure; spans are read within the picked quotes' dates. The search tests the text
only on the rows of a filter that restricts more than dates (:func:`analytics.newest.late_test`). Results
are the same as the full query's (tests/test_quotes_fast.py).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from duckdb import DuckDBPyConnection
from scipy import sparse

from analytics.aspects import aspect_condition, mention_where
from analytics.filters import Filters, text_present
from analytics.newest import late_test, newest_rows, order_sql
from analytics.rollup_source import aspect_source, feedback_source, use_rollups
from analytics.tfidf import char_tfidf
from data.scope import Scope

POLARITIES = ("positive", "negative", "neutral")
MAX_CANDIDATES = 300
# For an aspect, the newest PROBE_FACTOR × cap mention rows are read first (narrow columns, date slices),
# then the texts of their reviews (see _newest_probe); too few distinct reviews to be sure: the full query.
PROBE_FACTOR = 2
MAX_SEARCH_TERMS = 10
# Rows of the search's first date slice: few texts hold every term (at 1M reviews "电池 发热": 1 in 400),
# and a slice query costs ~2.5 ms before it reads a row, about as much as testing 60,000 texts.
SEARCH_FIRST_SLICE = 32_768
SCORE_DECIMALS = 10  # MMR scores are compared at this precision (ties: the newest candidate)
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
        frame = _newest_probe(con, filters, aspect, cap, total)
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
_NEWEST = order_sql("f")  # the order of every newest-first read, defined once in analytics.newest


def _date_bounds(dates: pd.Series, alias: str) -> tuple[str, dict[str, object]]:
    """``alias.created_at BETWEEN`` the first and last of ``dates`` (TRUE when one is missing): rows are
    stored by date, so DuckDB then reads only the row groups of those dates."""
    if dates.empty or dates.isna().any():
        return "TRUE", {}
    return (
        f"{alias}.created_at BETWEEN $tj_first AND $tj_last",
        {"tj_first": dates.min().to_pydatetime(), "tj_last": dates.max().to_pydatetime()},
    )


def _mention_scope(
    filters: Filters,
) -> tuple[str, dict[str, object], tuple[str, dict[str, object]] | None]:
    """:func:`analytics.aspects.mention_where` in two parts: the conditions on ``aspect_mentions m``'s own
    columns, and the province (the filter's and the user's scope's; None: none) as a condition on the
    review ``r`` (mentions have no region), which :func:`analytics.newest.newest_rows` tests within each
    slice's dates instead of on every review of the province (at 10M reviews: 66 ms a slice)."""
    regions = Filters(regions=filters.regions, scope=Scope(regions=filters.scope.regions))
    if regions.is_unrestricted() or filters.scope.deny_all:
        scope, params = mention_where(filters)
        return scope, params, None
    own = filters.with_(regions=(), scope=replace(filters.scope, regions=()))
    scope, params = mention_where(own)
    return scope, params, regions.where(alias="r")


def _newest_probe(
    con: DuckDBPyConnection, filters: Filters, aspect: str | None, cap: int, total: int
) -> pd.DataFrame | None:
    """The same rows as :func:`_candidates_full` (polarity None), read newest first in date slices
    (:func:`analytics.newest.newest_rows`; ``total``, the matching reviews, sizes the first slice); None
    when the newest ``PROBE_FACTOR × cap`` mention rows do not settle the ``cap`` newest reviews of an
    aspect."""
    if aspect is None:
        scope, params = filters.where(alias="f")
        return newest_rows(con, _COLUMNS, scope, params, text_present("f"), {}, cap,
                           since=params.get("date_from"), before=params.get("date_to"), expected=total)
    scope, params, review = _mention_scope(filters)
    aspect_sql, aspect_params = aspect_condition(aspect)
    probe = cap * PROBE_FACTOR
    # ``total`` counts reviews, a review has one or more mentions: the slice holds enough mention rows.
    top = newest_rows(con, "m.dataset_id, m.feedback_id, m.created_at", scope, params, aspect_sql,
                      aspect_params, probe, since=params.get("date_from"), before=params.get("date_to"),
                      table="aspect_mentions", alias="m", review=review, expected=total)
    # A review's mentions share its created_at, so in this order each review's mentions are adjacent and
    # the first ``cap`` distinct reviews of the probe are the ``cap`` newest reviews with a mention: known
    # when the probe held every mention (fewer than asked) or more than ``cap`` distinct reviews (the last
    # one may be cut short; the first ``cap`` are complete).
    hits = top.drop_duplicates(["dataset_id", "feedback_id"])
    if len(top) == probe and len(hits) <= cap:
        return None
    hits = hits.head(cap)
    bounds, bound_params = _date_bounds(hits["created_at"], "f")
    # The ids alone first (a filter on one column that DuckDB applies in the scan), the text test only on
    # the rows found (late_test): the dates span a few days, tens of thousands of reviews at 10M.
    return con.execute(
        f"""SELECT {_COLUMNS} FROM feedback f
            WHERE f.feedback_id IN (SELECT unnest($ids))
              AND (f.dataset_id, f.feedback_id) IN (SELECT unnest($datasets), unnest($ids))
              AND {bounds} AND {late_test(text_present('f'), 'f')}
            {_NEWEST}""",
        {"datasets": [int(d) for d in hits["dataset_id"]], "ids": [int(i) for i in hits["feedback_id"]],
         **bound_params},
    ).df()


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
        # Rounded: scores equal but for float rounding (texts whose n-grams no other text has) go to the
        # first, newest candidate, whichever way the vectors were summed.
        score = np.round((1 - diversity) * centrality - diversity * closest, SCORE_DECIMALS)
        score[~available] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        available[best] = False
        closest = np.maximum(closest, _similarities(matrix, best))
    return picked, centrality


def _similarities(matrix: sparse.csr_matrix, row: int) -> np.ndarray:
    """Every row's dot product with row ``row``: ``(matrix @ matrix[row].T).toarray().ravel()``, bit for
    bit (each sum runs over a row's stored entries in the same order; the terms the picked row lacks add
    exact zeros), as one sparse-times-dense product instead of a sparse one (a fifth of the time)."""
    dense = np.zeros(matrix.shape[1])
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    dense[matrix.indices[start:end]] = matrix.data[start:end]
    return np.asarray(matrix @ dense).ravel()


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
    params["ids"] = [int(i) for i in picked["feedback_id"]]
    params["datasets"] = [int(d) for d in picked["dataset_id"]]
    # A mention carries its review's created_at: the picked reviews' dates bound the row groups read.
    bounds, bound_params = _date_bounds(pd.to_datetime(picked["created_at"]), "m")
    params.update(bound_params)
    rows = con.execute(
        f"""SELECT m.dataset_id, m.feedback_id, m.term, m.span_start, m.aspect_path, m.polarity
            FROM aspect_mentions m
            WHERE (m.dataset_id, m.feedback_id) IN (SELECT unnest($datasets), unnest($ids))
              AND {bounds} AND {aspect_sql} AND {polarity_sql}
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
    texts = [str(text) for text in candidates["text"].tolist()]
    unique = _first_of_each(texts)
    vectors = char_tfidf([texts[i] for i in unique])  # None: no text has a character
    if vectors is None:
        picked_idx, centrality = list(range(min(k, len(unique)))), np.zeros(len(unique))
    else:
        picked_idx, centrality = mmr_select(vectors, k, diversity)
    picked = candidates.iloc[[unique[i] for i in picked_idx]].reset_index(drop=True)
    picked["centrality"] = centrality[picked_idx]
    picked["spans"] = _spans(con, picked, aspect, polarity)
    return Quotes(picked[QUOTE_COLUMNS], total, n_candidates)


def _first_of_each(texts: list[str]) -> list[int]:
    """Positions of each distinct text's first occurrence, in order (``drop_duplicates(keep="first")``)."""
    first: dict[str, int] = {}
    for position, text in enumerate(texts):
        first.setdefault(text, position)
    return list(first.values())


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
    """A page of search hits.

    ``n_matching`` is the exact number of matching reviews when it is known without counting every match
    (fewer hits than the page holds) or when a count was asked for (``count=True``); otherwise None.
    ``more`` is True when matches exist beyond the rows returned (after this page).
    """

    rows: pd.DataFrame  # newest first; ``spans``: every occurrence of every term, for highlighting
    n_matching: int | None
    terms: tuple[str, ...]
    more: bool = False


_SEARCH_SELECT = (
    "f.feedback_id, f.dataset_id, f.created_at, f.brand, f.product, f.channel, f.rating, f.nps_score, f.text"
)


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


def _search_condition(
    filters: Filters, terms: tuple[str, ...]
) -> tuple[str, dict[str, object], str, dict[str, object]]:
    """The filter's WHERE clause (alias ``f``) and the test that the text holds every term, each with its
    parameters."""
    scope, scope_params = filters.where(alias="f")
    conditions = ["f.text IS NOT NULL"]
    params: dict[str, object] = {}
    for i, term in enumerate(terms):
        # lower() of every text is most of the cost (~5x at 1M rows); a term without cased letters (Chinese,
        # digits) matches the text exactly where it matches the lowered text.
        column = "f.text" if _caseless(term) else "lower(f.text)"
        conditions.append(f"contains({column}, $term{i})")
        params[f"term{i}"] = term
    return scope, scope_params, " AND ".join(conditions), params


def _narrow(filters: Filters) -> bool:
    """True when the filter (the user's scope included) restricts more than the dates: a brand, a model,
    a channel, a province, a dataset. Its rows are then a fraction of each date slice, and the text test
    runs only on them (:func:`analytics.newest.late_test`)."""
    return filters.with_(date_from=None, date_to=None).where(alias="f")[0] != "TRUE"


def count_matches(con: DuckDBPyConnection, filters: Filters, query: str) -> int:
    """The number of feedback rows whose text contains every term of ``query`` (see :func:`search_feedback`).

    It tests every text in the filter's scope (~60 ms at 1M reviews, linear in the store), so the search
    itself does not count unless asked; under a narrow filter only the texts of the filter's rows
    (:func:`_narrow`).
    """
    terms = search_terms(query)
    if not terms:
        return 0
    scope, scope_params, match, match_params = _search_condition(filters, terms)
    test = late_test(match, "f") if _narrow(filters) else match
    sql = f"SELECT count(*) FROM feedback f WHERE {scope} AND {test}"
    return int(con.execute(sql, {**scope_params, **match_params}).fetchall()[0][0])


def search_feedback(
    con: DuckDBPyConnection,
    filters: Filters,
    query: str,
    limit: int = 100,
    offset: int = 0,
    count: bool = False,
) -> SearchResult:
    """Feedback whose text contains every term of ``query`` (AND), newest first: at most ``limit`` rows
    after skipping ``offset``.

    Matching is a case-insensitive substring test on bound parameters, so it works for Chinese without
    segmentation and characters such as ``%`` and ``_`` are matched literally. Only the newest
    ``offset + limit + 1`` matches are looked for, in date slices (:func:`analytics.newest.newest_rows`:
    older row groups are not read); ``n_matching`` is exact when that finds every match, else None unless
    ``count`` (a full count, :func:`count_matches`).
    """
    if not 1 <= limit <= 10_000 or offset < 0:
        raise ValueError("limit must be 1…10000 and offset non-negative")
    terms = search_terms(query)
    if not terms:
        return SearchResult(pd.DataFrame(columns=SEARCH_COLUMNS), 0, ())
    scope, scope_params, match, match_params = _search_condition(filters, terms)
    # One row past the page says whether there are more, without counting every match.
    newest = newest_rows(
        con, _SEARCH_SELECT, scope, scope_params, match, match_params, offset + limit + 1,
        since=scope_params.get("date_from"), before=scope_params.get("date_to"), narrow=_narrow(filters),
        first=SEARCH_FIRST_SLICE,
    )
    more = len(newest) > offset + limit
    frame = newest.iloc[offset : offset + limit].reset_index(drop=True)
    total: int | None = len(newest) if not more else None  # fewer than asked for: that is every match
    if total is None and count:
        total = count_matches(con, filters, query)
    frame["spans"] = [_term_spans(str(text), terms) for text in frame["text"]]
    return SearchResult(frame[SEARCH_COLUMNS], total, terms, more)


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
