"""Annotate stored feedback: batches, the (text hash, pipeline version) cache, resumable runs.

:func:`annotate_dataset` finds the feedback of a dataset that has no annotation yet (or, with
``rescore=True``, none for the current pipeline version), and processes it in batches. Each batch:

1. reads its feedback rows and normalises the texts;
2. looks their ``text_hash`` up in ``annotation_cache`` for the current pipeline version;
3. runs :meth:`models.annotate.Annotator.annotate_normalized` on the texts not found (models called once
   per batch, only for unseen texts);
4. in ONE transaction: writes the new cache entries, (with ``rescore``) deletes the feedback's older
   annotations, and writes one ``feedback_sentiment`` row per feedback and one ``aspect_mentions`` row per
   mention.

A run killed half-way leaves whole batches only, and the next run starts from what is missing: nothing is
done twice, nothing is duplicated. Re-importing known text (another file, another dataset) costs no model
call: every text is served from the cache. A model upgrade or an edited taxonomy (a new pipeline version)
re-scores existing feedback only when asked (``rescore=True``); new feedback always gets the current one.

Feedback with no text (NULL or blank) is not annotated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import duckdb
import pandas as pd

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


def _pending_ids(con: duckdb.DuckDBPyConnection, dataset_id: int, version: str, rescore: bool) -> list[int]:
    version_clause = "AND s.pipeline_version = ?" if rescore else ""
    params: list[object] = [dataset_id] + ([version] if rescore else [])
    rows = con.execute(
        f"""
        SELECT f.feedback_id FROM feedback f
        WHERE f.dataset_id = ? AND f.text IS NOT NULL AND length(trim(f.text)) > 0
          AND NOT EXISTS (
              SELECT 1 FROM feedback_sentiment s WHERE s.feedback_id = f.feedback_id {version_clause}
          )
        ORDER BY f.feedback_id
        """,
        params,
    ).fetchall()
    return [int(row[0]) for row in rows]


#: DuckDB type of the ``mentions`` JSON (the fields of :class:`models.annotate.Mention`).
_MENTIONS_TYPE = (
    '[{"aspect_path": "VARCHAR", "aspect_top": "VARCHAR", "term": "VARCHAR", "clause": "VARCHAR",'
    ' "span_start": "INTEGER", "span_end": "INTEGER", "polarity": "VARCHAR", "confidence": "DOUBLE"}]'
)


def _read_texts(
    con: duckdb.DuckDBPyConnection, dataset_id: int, ids: list[int]
) -> list[tuple[int, str | None]]:
    con.register("_tj_batch_ids", pd.DataFrame({"feedback_id": pd.array(ids, dtype="int64")}))
    try:
        rows = con.execute(
            """
            SELECT f.feedback_id, f.text
            FROM feedback f SEMI JOIN _tj_batch_ids b ON f.feedback_id = b.feedback_id
            WHERE f.dataset_id = ? AND f.feedback_id BETWEEN ? AND ?
            ORDER BY f.feedback_id
            """,
            [dataset_id, ids[0], ids[-1]],
        ).fetchall()
    finally:
        con.unregister("_tj_batch_ids")
    return [(int(feedback_id), text) for feedback_id, text in rows]


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


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    name = f"_tj_insert_{table}"
    con.register(name, frame)
    try:
        columns = ", ".join(frame.columns)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {name}")
    finally:
        con.unregister(name)


def _process_batch(
    con: duckdb.DuckDBPyConnection,
    annotator: Annotator,
    dataset_id: int,
    ids: list[int],
    rescore: bool,
    summary: AnnotationSummary,
) -> int:
    """Annotate one batch; everything it writes is committed together or not at all.

    Python only normalises and hashes the texts and runs the models on unseen ones; the rows of
    ``feedback_sentiment`` and ``aspect_mentions`` are then produced in SQL from the cache (the mentions
    JSON unnested by DuckDB), so a batch served from the cache costs a few queries.
    """
    rows = _read_texts(con, dataset_id, ids)
    if not rows:
        return 0
    texts = [normalize(text) if isinstance(text, str) else "" for _, text in rows]
    hashes = [text_hash(text) for text in texts]
    version = annotator.version
    keys = pd.DataFrame({"feedback_id": pd.array([r[0] for r in rows], dtype="int64"), "text_hash": hashes})
    con.register("_tj_keys", keys)
    try:
        known = _known_hashes(con, version)
        unseen: dict[str, str] = {}
        for hash_value, text in zip(hashes, texts, strict=True):
            if hash_value not in known and hash_value not in unseen:
                unseen[hash_value] = text
        empty_hash = text_hash("")
        to_score = {h: t for h, t in unseen.items() if t}
        fresh = dict(zip(to_score, annotator.annotate_normalized(list(to_score.values())), strict=True))
        if empty_hash in unseen:  # a text that normalises to nothing: neutral, no score, no model call
            fresh[empty_hash] = TextAnnotation(
                text_hash=empty_hash, sentiment="neutral", score=None, mentions=()
            )
        summary.texts_scored += len(to_score)
        summary.texts_from_cache += sum(1 for h, t in zip(hashes, texts, strict=True) if t and h in known)
        cache_frame = pd.DataFrame(
            [result.to_record(version) for result in fresh.values()],
            columns=["text_hash", "pipeline_version", "sentiment", "score", "mentions"],
        ).astype({"score": "float64"})

        with WRITE_LOCK, transaction(con):  # one writer at a time in the app process
            if rescore:
                for table in ("feedback_sentiment", "aspect_mentions"):
                    con.execute(
                        f"DELETE FROM {table} WHERE feedback_id IN (SELECT feedback_id FROM _tj_keys)"
                    )
            _insert(con, "annotation_cache", cache_frame)
            con.execute(
                """
                INSERT INTO feedback_sentiment
                    (feedback_id, dataset_id, text_hash, sentiment, score, pipeline_version)
                SELECT k.feedback_id, ?, k.text_hash, c.sentiment, c.score, c.pipeline_version
                FROM _tj_keys k JOIN annotation_cache c
                  ON c.text_hash = k.text_hash AND c.pipeline_version = ?
                """,
                [dataset_id, version],
            )
            written = con.execute(
                f"""
                INSERT INTO aspect_mentions
                    (feedback_id, dataset_id, brand, product, channel, created_at, aspect_path, aspect_top,
                     term, clause, span_start, span_end, polarity, confidence, pipeline_version)
                SELECT f.feedback_id, f.dataset_id, f.brand, f.product, f.channel, f.created_at,
                       m.aspect_path, m.aspect_top, m.term, m.clause, m.span_start, m.span_end,
                       m.polarity, m.confidence, ?
                FROM (
                    SELECT k.feedback_id, unnest(from_json(c.mentions, '{_MENTIONS_TYPE}')) AS m
                    FROM _tj_keys k JOIN annotation_cache c
                      ON c.text_hash = k.text_hash AND c.pipeline_version = ?
                    WHERE c.mentions <> '[]'
                ) x
                JOIN feedback f ON f.feedback_id = x.feedback_id
                WHERE f.dataset_id = ? AND f.feedback_id BETWEEN ? AND ?
                """,
                [version, version, dataset_id, ids[0], ids[-1]],
            ).fetchall()[0][0]
    finally:
        con.unregister("_tj_keys")
    summary.mentions_written += int(written)
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
    plans: list[tuple[int, Annotator, list[int]]] = []
    for dataset_id, name, taxonomy_name in targets:
        summary.datasets.append(name)
        # Without rescore, what is pending does not depend on the pipeline version: when nothing is,
        # no model is even loaded (a re-imported file costs nothing).
        ids = [] if rescore else _pending_ids(con, dataset_id, "", rescore=False)
        if not rescore and not ids:
            continue
        try:
            annotator = factory(taxonomy_name)
        except TaxonomyError as exc:
            raise AnnotationError(f"dataset {name!r}: {exc}") from None
        if rescore:
            ids = _pending_ids(con, dataset_id, annotator.version, rescore=True)
        summary.pipeline_versions[name] = annotator.version
        summary.pending += len(ids)
        if ids:
            plans.append((dataset_id, annotator, ids))

    done = 0
    if progress is not None:
        progress(0, summary.pending)
    for dataset_id, annotator, ids in plans:
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
    con.register("_tj_records", frame)
    try:
        with WRITE_LOCK, transaction(con):
            added = con.execute(
                """
                INSERT INTO annotation_cache (text_hash, pipeline_version, sentiment, score, mentions)
                SELECT r.text_hash, r.pipeline_version, r.sentiment, r.score, r.mentions FROM _tj_records r
                ANTI JOIN annotation_cache c
                  ON c.text_hash = r.text_hash AND c.pipeline_version = r.pipeline_version
                """
            ).fetchall()[0][0]
    finally:
        con.unregister("_tj_records")
    return int(added)


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
