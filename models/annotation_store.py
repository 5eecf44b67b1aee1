"""Annotate stored feedback: the (text hash, pipeline version) cache, SQL-only cache hits, resumable runs.

:func:`annotate_dataset` finds the feedback of a dataset that has no annotation yet (or, with
``rescore=True``, none for the current pipeline version) and annotates it in two steps:

1. **From the cache, in SQL alone** (one transaction, before any model call): every pending row whose raw
   text was seen before under the current pipeline version. ``annotation_text_keys`` maps the raw text's
   hash (``substr(sha256(text), 1, 32)``, computed by DuckDB) to the ``text_hash`` of its normalised text
   (the cache key, computed in Python by :func:`models.annotate.text_hash`); one ``INSERT … SELECT`` writes
   ``feedback_sentiment`` from ``annotation_cache`` and one writes ``aspect_mentions`` with the cached
   mentions JSON unnested by DuckDB. No text crosses into Python.
2. **The rest, in Python batches**: read texts, normalise and hash them, look the hashes up in
   ``annotation_cache``, run :meth:`models.annotate.Annotator.annotate_normalized` on the texts not found
   (models called once per batch, only for unseen texts), and in ONE transaction per batch write the new
   cache entries and raw-text keys, (with ``rescore``) delete the feedback's older annotations, and write
   the feedback rows from the cache with the same SQL as step 1.

A run killed half-way leaves whole transactions only, and the next run starts from what is missing:
nothing is done twice, nothing is duplicated. Re-importing known text (another file, another dataset)
costs no model call. A model upgrade or an edited taxonomy (a new pipeline version) re-scores existing
feedback only when asked (``rescore=True``); new feedback always gets the current one.

Feedback with no text (NULL or blank) is not annotated. Pending feedback is annotated in date order
(undated last) and its ``feedback_sentiment`` / ``aspect_mentions`` rows are inserted in that order, the
order the import stores feedback in, so queries for the newest rows read few row groups (analytics/newest.py).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from data import rollups
from data.store import WRITE_LOCK, transaction
from models.annotate import Annotator, TextAnnotation, load_annotator, text_hash
from models.taxonomy import DEFAULT_TAXONOMY, TaxonomyError, load_taxonomy
from models.text import normalize

DEFAULT_BATCH_SIZE = 2000
#: Batches grow (×4 each time) up to this size while every text comes from the cache.
MAX_CACHED_BATCH_SIZE = 50_000

#: ``progress(done, total)`` is called with 0 before the first batch and after every batch.
ProgressCallback = Callable[[int, int], None]
#: Builds the annotator for a taxonomy name (default: :func:`models.annotate.load_annotator`).
AnnotatorFactory = Callable[[str], Annotator]


class AnnotationError(RuntimeError):
    """An annotation run that cannot start (unknown dataset, invalid taxonomy); the message says why."""


@dataclass
class AnnotationSummary:
    """What a run did. ``texts_scored`` texts went through the models; ``texts_from_cache`` did not."""

    datasets: list[str] = field(default_factory=list)
    pending: int = 0
    feedback_annotated: int = 0
    texts_scored: int = 0
    texts_from_cache: int = 0
    mentions_written: int = 0
    batches: int = 0
    seconds: float = 0.0
    pipeline_versions: dict[str, str] = field(default_factory=dict)

    @property
    def model_calls_avoided(self) -> bool:
        return self.texts_scored == 0


# ---------------------------------------------------------------------------------------------------------
# Datasets and their taxonomy
# ---------------------------------------------------------------------------------------------------------


def _dataset_row(con: duckdb.DuckDBPyConnection, dataset: str | int) -> tuple[int, str, str]:
    column = "dataset_id" if isinstance(dataset, int) else "name"
    rows = con.execute(
        f"SELECT dataset_id, name, coalesce(taxonomy, ?) FROM datasets WHERE {column} = ?",
        [DEFAULT_TAXONOMY, dataset],
    ).fetchall()
    if not rows:
        names = [row[0] for row in con.execute("SELECT name FROM datasets ORDER BY dataset_id").fetchall()]
        known = ", ".join(names) if names else "none yet: import a file first"
        raise AnnotationError(f"no dataset {dataset!r} in the store (datasets: {known})")
    dataset_id, name, taxonomy = rows[0]
    return int(dataset_id), str(name), str(taxonomy)


def dataset_taxonomy(con: duckdb.DuckDBPyConnection, dataset: str | int) -> str:
    """The taxonomy name a dataset is annotated with (default ``phone``)."""
    return _dataset_row(con, dataset)[2]


def set_dataset_taxonomy(con: duckdb.DuckDBPyConnection, dataset: str | int, name: str) -> None:
    """Choose the taxonomy of a dataset. Existing annotations stay until a ``rescore`` run."""
    try:
        load_taxonomy(name)
    except TaxonomyError as exc:
        raise AnnotationError(str(exc)) from None
    dataset_id, _, _ = _dataset_row(con, dataset)
    con.execute("UPDATE datasets SET taxonomy = ? WHERE dataset_id = ?", [name, dataset_id])


# ---------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------


#: Feedback that has text: not NULL and not only characters that ``trim`` strips.
_HAS_TEXT = "f.text IS NOT NULL AND length(trim(f.text)) > 0"
#: DuckDB's key of a raw feedback text in ``annotation_text_keys`` (the hex SHA-256 of its UTF-8 bytes,
#: as :func:`raw_text_key` computes it in Python).
_RAW_KEY_SQL = "substr(sha256(f.text), 1, 32)"
#: The cache key of the empty text (feedback that normalises to nothing).
_EMPTY_HASH = text_hash("")
#: The order feedback is annotated and its annotation rows are written in (data/ingest_sql.py stores
#: feedback in it too): by date, undated last.
_DATE_ORDER = "ORDER BY f.created_at NULLS LAST, f.feedback_id"


def raw_text_key(text: str) -> str:
    """The key of a raw (not normalised) text in ``annotation_text_keys``: what DuckDB's
    ``substr(sha256(text), 1, 32)`` gives for the same string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _pending_where(rescore: bool) -> str:
    """WHERE clause of a dataset's pending feedback (parameters ``$dataset``; with rescore ``$version``)."""
    version_clause = "AND s.pipeline_version = $version" if rescore else ""
    return f"""f.dataset_id = $dataset AND {_HAS_TEXT}
          AND NOT EXISTS (
              SELECT 1 FROM feedback_sentiment s WHERE s.feedback_id = f.feedback_id {version_clause}
          )"""


def _pending_params(dataset_id: int, version: str, rescore: bool) -> dict[str, object]:
    return {"dataset": dataset_id, "version": version} if rescore else {"dataset": dataset_id}


def _count_pending(con: duckdb.DuckDBPyConnection, dataset_id: int, version: str, rescore: bool) -> int:
    return int(
        con.execute(
            f"SELECT count(*) FROM feedback f WHERE {_pending_where(rescore)}",
            _pending_params(dataset_id, version, rescore),
        ).fetchall()[0][0]
    )


def _pending_ids(con: duckdb.DuckDBPyConnection, dataset_id: int, version: str, rescore: bool) -> list[int]:
    """Pending feedback ids in date order (undated last), the order the import stores feedback in, so the
    annotation rows are appended in date order too and date-bounded queries read few row groups."""
    rows = con.execute(
        f"SELECT f.feedback_id FROM feedback f WHERE {_pending_where(rescore)} {_DATE_ORDER}",
        _pending_params(dataset_id, version, rescore),
    ).fetchall()
    return [int(row[0]) for row in rows]


#: DuckDB type of the ``mentions`` JSON (the fields of :class:`models.annotate.Mention`).
_MENTIONS_TYPE = (
    '[{"aspect_path": "VARCHAR", "aspect_top": "VARCHAR", "term": "VARCHAR", "clause": "VARCHAR",'
    ' "span_start": "INTEGER", "span_end": "INTEGER", "polarity": "VARCHAR", "confidence": "DOUBLE"}]'
)
#: The temporary table both paths fill with the feedback to write: its columns copied into aspect_mentions
#: and the ``text_hash`` whose cache entry (current version) holds its annotation.
_ROWS = "_tj_rows"


def _write_from_cache(
    con: duckdb.DuckDBPyConnection, version: str, rescore: bool, summary: AnnotationSummary
) -> int:
    """Write ``feedback_sentiment`` and ``aspect_mentions`` for the feedback in :data:`_ROWS` from
    ``annotation_cache`` (two ``INSERT … SELECT``); with ``rescore`` their older rows are deleted first.
    Runs inside the caller's transaction; returns the number of feedback rows written."""
    if rescore:
        for table in ("feedback_sentiment", "aspect_mentions"):
            con.execute(f"DELETE FROM {table} WHERE feedback_id IN (SELECT feedback_id FROM {_ROWS})")
    written = con.execute(
        f"""
        INSERT INTO feedback_sentiment
            (feedback_id, dataset_id, text_hash, sentiment, score, pipeline_version)
        SELECT r.feedback_id, r.dataset_id, r.text_hash, c.sentiment, c.score, c.pipeline_version
        FROM {_ROWS} r JOIN annotation_cache c ON c.text_hash = r.text_hash AND c.pipeline_version = $version
        ORDER BY r.created_at NULLS LAST, r.feedback_id
        """,
        {"version": version},
    ).fetchall()[0][0]
    mentions = con.execute(
        f"""
        INSERT INTO aspect_mentions
            (feedback_id, dataset_id, brand, product, channel, created_at, aspect_path, aspect_top,
             term, clause, span_start, span_end, polarity, confidence, pipeline_version)
        SELECT x.feedback_id, x.dataset_id, x.brand, x.product, x.channel, x.created_at,
               x.m.aspect_path, x.m.aspect_top, x.m.term, x.m.clause, x.m.span_start, x.m.span_end,
               x.m.polarity, x.m.confidence, $version
        FROM (
            SELECT r.feedback_id, r.dataset_id, r.brand, r.product, r.channel, r.created_at,
                   unnest(c.mention_rows) AS m, generate_subscripts(c.mention_rows, 1) AS i
            FROM {_ROWS} r JOIN annotation_cache c
              ON c.text_hash = r.text_hash AND c.pipeline_version = $version
            WHERE len(c.mention_rows) > 0
        ) x
        ORDER BY x.created_at NULLS LAST, x.feedback_id, x.i
        """,
        {"version": version},
    ).fetchall()[0][0]
    summary.mentions_written += int(mentions)
    rollups.after_annotation(con, _ROWS, replaced=rescore)  # the dashboards' counts (data/rollups.py)
    return int(written)


def _serve_from_cache(
    con: duckdb.DuckDBPyConnection, dataset_id: int, version: str, rescore: bool, summary: AnnotationSummary
) -> int:
    """Annotate, in SQL alone and one transaction, every pending feedback of the dataset whose raw text is
    known (``annotation_text_keys``) and cached for ``version``; returns how many rows were written."""
    params = _pending_params(dataset_id, version, rescore) | {"version": version}
    with WRITE_LOCK, transaction(con):
        try:
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE {_ROWS} AS
                SELECT f.feedback_id, f.dataset_id, f.brand, f.product, f.channel, f.created_at, k.text_hash
                FROM feedback f
                JOIN annotation_text_keys k
                  ON k.raw_hash = {_RAW_KEY_SQL} AND k.pipeline_version = $version
                SEMI JOIN annotation_cache c ON c.text_hash = k.text_hash AND c.pipeline_version = $version
                                               AND c.mention_rows IS NOT NULL
                WHERE {_pending_where(rescore)}
                """,
                params,
            )
            found, non_empty = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE text_hash <> $empty) FROM {_ROWS}",
                {"empty": _EMPTY_HASH},
            ).fetchall()[0]
            served = _write_from_cache(con, version, rescore, summary) if found else 0
            summary.texts_from_cache += int(non_empty)
        finally:
            con.execute(f"DROP TABLE IF EXISTS {_ROWS}")
    return served


def _read_texts(
    con: duckdb.DuckDBPyConnection, dataset_id: int, ids: list[int]
) -> list[tuple[int, str | None, str]]:
    """``(feedback_id, text, raw text key)`` of a batch."""
    con.register("_tj_batch_ids", pd.DataFrame({"feedback_id": pd.array(ids, dtype="int64")}))
    try:
        rows = con.execute(
            f"""
            SELECT f.feedback_id, f.text, {_RAW_KEY_SQL}
            FROM feedback f SEMI JOIN _tj_batch_ids b ON f.feedback_id = b.feedback_id
            WHERE f.dataset_id = ? AND f.feedback_id BETWEEN ? AND ?
            ORDER BY f.feedback_id
            """,
            [dataset_id, min(ids), max(ids)],
        ).fetchall()
    finally:
        con.unregister("_tj_batch_ids")
    return [(int(feedback_id), text, raw_key) for feedback_id, text, raw_key in rows]


def _known_hashes(con: duckdb.DuckDBPyConnection, version: str) -> set[str]:
    """The batch's text hashes (registered as ``_tj_keys``) already in the cache for ``version``."""
    rows = con.execute(
        """
        SELECT DISTINCT c.text_hash FROM annotation_cache c SEMI JOIN _tj_keys k ON c.text_hash = k.text_hash
        WHERE c.pipeline_version = ?
        """,
        [version],
    ).fetchall()
    return {row[0] for row in rows}


def _insert_cache(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, only_new: bool = False) -> int:
    """Insert ``annotation_cache`` rows (text_hash, pipeline_version, sentiment, score, mentions JSON) with
    their parsed ``mention_rows``; with ``only_new``, cached entries are skipped. Returns the count."""
    if frame.empty:
        return 0
    con.register("_tj_cache_rows", frame)
    try:
        skip = (
            "ANTI JOIN annotation_cache c"
            " ON c.text_hash = r.text_hash AND c.pipeline_version = r.pipeline_version"
            if only_new
            else ""
        )
        return int(
            con.execute(
                f"""
                INSERT INTO annotation_cache
                    (text_hash, pipeline_version, sentiment, score, mentions, mention_rows)
                SELECT r.text_hash, r.pipeline_version, r.sentiment, r.score, r.mentions,
                       from_json(r.mentions, '{_MENTIONS_TYPE}')
                FROM _tj_cache_rows r {skip}
                """
            ).fetchall()[0][0]
        )
    finally:
        con.unregister("_tj_cache_rows")


def _process_batch(
    con: duckdb.DuckDBPyConnection,
    annotator: Annotator,
    dataset_id: int,
    ids: list[int],
    rescore: bool,
    summary: AnnotationSummary,
) -> int:
    """Annotate one batch; everything it writes is committed together or not at all.

    Python normalises and hashes the texts and runs the models on unseen ones; the rows of
    ``feedback_sentiment`` and ``aspect_mentions`` are then written from the cache by the same SQL as
    :func:`_serve_from_cache`, and the raw-text keys are stored so the next run serves these texts in SQL.
    """
    rows = _read_texts(con, dataset_id, ids)
    if not rows:
        return 0
    texts = [normalize(text) if isinstance(text, str) else "" for _, text, _ in rows]
    hashes = [text_hash(text) for text in texts]
    version = annotator.version
    keys = pd.DataFrame(
        {
            "feedback_id": pd.array([r[0] for r in rows], dtype="int64"),
            "text_hash": hashes,
            "raw_hash": [r[2] for r in rows],
        }
    )
    con.register("_tj_keys", keys)
    try:
        known = _known_hashes(con, version)
        unseen: dict[str, str] = {}
        for hash_value, text in zip(hashes, texts, strict=True):
            if hash_value not in known and hash_value not in unseen:
                unseen[hash_value] = text
        to_score = {h: t for h, t in unseen.items() if t}
        fresh = dict(zip(to_score, annotator.annotate_normalized(list(to_score.values())), strict=True))
        if _EMPTY_HASH in unseen:  # a text that normalises to nothing: neutral, no score, no model call
            fresh[_EMPTY_HASH] = TextAnnotation(
                text_hash=_EMPTY_HASH, sentiment="neutral", score=None, mentions=()
            )
        summary.texts_scored += len(to_score)
        summary.texts_from_cache += sum(1 for h, t in zip(hashes, texts, strict=True) if t and h in known)
        cache_frame = pd.DataFrame(
            [result.to_record(version) for result in fresh.values()],
            columns=["text_hash", "pipeline_version", "sentiment", "score", "mentions"],
        ).astype({"score": "float64"})

        with WRITE_LOCK, transaction(con):  # one writer at a time in the app process
            _insert_cache(con, cache_frame)
            # Cache rows written without their parsed mentions (by code that predates migration 5): parse
            # them now, so the mentions are written below and the next run serves these texts in SQL.
            con.execute(
                f"""
                UPDATE annotation_cache SET mention_rows = from_json(mentions, '{_MENTIONS_TYPE}')
                WHERE mention_rows IS NULL AND pipeline_version = $version
                  AND text_hash IN (SELECT text_hash FROM _tj_keys)
                """,
                {"version": version},
            )
            con.execute(
                """
                INSERT INTO annotation_text_keys (raw_hash, pipeline_version, text_hash)
                SELECT DISTINCT k.raw_hash, $version, k.text_hash FROM _tj_keys k
                ANTI JOIN annotation_text_keys t ON t.raw_hash = k.raw_hash AND t.pipeline_version = $version
                """,
                {"version": version},
            )
            try:
                con.execute(
                    f"""
                    CREATE OR REPLACE TEMP TABLE {_ROWS} AS
                    SELECT f.feedback_id, f.dataset_id, f.brand, f.product, f.channel, f.created_at,
                           k.text_hash
                    FROM _tj_keys k JOIN feedback f ON f.feedback_id = k.feedback_id
                    WHERE f.dataset_id = ? AND f.feedback_id BETWEEN ? AND ?
                    """,
                    [dataset_id, min(ids), max(ids)],
                )
                _write_from_cache(con, version, rescore, summary)
            finally:
                con.execute(f"DROP TABLE IF EXISTS {_ROWS}")
    finally:
        con.unregister("_tj_keys")
    return len(rows)


def annotate_dataset(
    con: duckdb.DuckDBPyConnection,
    dataset: str | int | None = None,
    *,
    progress: ProgressCallback | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    rescore: bool = False,
    annotator_factory: AnnotatorFactory | None = None,
) -> AnnotationSummary:
    """Annotate the feedback of ``dataset`` (name or id; every dataset when None) that needs it.

    Returns counts; ``progress(done, total)`` reports feedback rows processed over all datasets.
    Raises :class:`AnnotationError` for an unknown dataset or an invalid taxonomy.
    """
    if batch_size < 1:
        raise AnnotationError(f"batch_size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    factory = annotator_factory or load_annotator
    if dataset is None:
        rows = con.execute("SELECT dataset_id FROM datasets ORDER BY dataset_id").fetchall()
        targets = [_dataset_row(con, int(row[0])) for row in rows]
    else:
        targets = [_dataset_row(con, dataset)]

    summary = AnnotationSummary()
    plans: list[tuple[int, Annotator, int]] = []
    for dataset_id, name, taxonomy_name in targets:
        summary.datasets.append(name)
        # Without rescore, what is pending does not depend on the pipeline version: when nothing is,
        # no model is even loaded (a re-imported file costs nothing).
        pending = 0 if rescore else _count_pending(con, dataset_id, "", rescore=False)
        if not rescore and not pending:
            continue
        try:
            annotator = factory(taxonomy_name)
        except TaxonomyError as exc:
            raise AnnotationError(f"dataset {name!r}: {exc}") from None
        if rescore:
            pending = _count_pending(con, dataset_id, annotator.version, rescore=True)
        summary.pipeline_versions[name] = annotator.version
        summary.pending += pending
        if pending:
            plans.append((dataset_id, annotator, pending))

    done = 0
    if progress is not None:
        progress(0, summary.pending)
    for dataset_id, annotator, pending in plans:
        served = _serve_from_cache(con, dataset_id, annotator.version, rescore, summary)
        if served:
            summary.feedback_annotated += served
            summary.batches += 1
            done += served
            if progress is not None:
                progress(done, summary.pending)
        if served >= pending:
            continue
        ids = _pending_ids(con, dataset_id, annotator.version, rescore)
        start, size = 0, batch_size
        while start < len(ids):
            chunk = ids[start : start + size]
            scored_before = summary.texts_scored
            processed = _process_batch(con, annotator, dataset_id, chunk, rescore, summary)
            summary.feedback_annotated += processed
            summary.batches += 1
            start += len(chunk)
            done += len(chunk)
            # A batch served wholly from the cache costs mostly its commit: take bigger ones while that lasts.
            size = (
                min(size * 4, MAX_CACHED_BATCH_SIZE) if summary.texts_scored == scored_before else batch_size
            )
            if progress is not None:
                progress(done, summary.pending)
    summary.seconds = time.perf_counter() - started
    return summary


def add_cache_records(con: duckdb.DuckDBPyConnection, records: Sequence[Mapping[str, object]]) -> int:
    """Store annotation results computed elsewhere (e.g. :func:`models.annotate.annotate_texts` in a
    distributed job) in the cache; return how many were new. A following :func:`annotate_dataset` then
    writes the feedback rows from the cache without a model call (same pipeline version required)."""
    columns = ["text_hash", "pipeline_version", "sentiment", "score", "mentions"]
    if not records:
        return 0
    frame = pd.DataFrame([{key: record[key] for key in columns} for record in records], columns=columns)
    frame = frame.drop_duplicates(["text_hash", "pipeline_version"]).astype({"score": "float64"})
    with WRITE_LOCK, transaction(con):
        return _insert_cache(con, frame, only_new=True)


def annotation_status(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per dataset: taxonomy, feedback with text, annotated feedback, mentions, pipeline versions in use."""
    return con.execute(
        """
        SELECT d.dataset_id, d.name, coalesce(d.taxonomy, $default) AS taxonomy,
               (SELECT count(*) FROM feedback f
                 WHERE f.dataset_id = d.dataset_id AND f.text IS NOT NULL AND length(trim(f.text)) > 0)
                 AS with_text,
               (SELECT count(*) FROM feedback_sentiment s WHERE s.dataset_id = d.dataset_id) AS annotated,
               (SELECT count(*) FROM aspect_mentions m WHERE m.dataset_id = d.dataset_id) AS mentions,
               (SELECT string_agg(DISTINCT s.pipeline_version, ',') FROM feedback_sentiment s
                 WHERE s.dataset_id = d.dataset_id) AS pipeline_versions
        FROM datasets d ORDER BY d.dataset_id
        """,
        {"default": DEFAULT_TAXONOMY},
    ).df()
