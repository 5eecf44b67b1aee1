"""Scale-out annotation with Ray Data: Parquet feedback in, two Parquet datasets of annotations out.

The model work is the same code as the local engine (:meth:`models.annotate.Annotator.annotate`), with the
same pipeline version key; this module only adds the row bookkeeping and the Ray plumbing:

``read_parquet`` → ``map_batches`` (a pool of actors, each loading the models once, GPUs when asked) →
``materialize`` (the model runs once) → ``write_parquet`` twice:

- ``OUTPUT/feedback_sentiment/*.parquet``: the columns of the ``feedback_sentiment`` table;
- ``OUTPUT/aspect_mentions/*.parquet``: the columns of the ``aspect_mentions`` table (brand, product,
  channel, created_at repeated from the input, as the table does).

Input columns: ``feedback_id`` and ``text`` are required; ``dataset_id``, ``brand``, ``product``,
``channel``, ``created_at`` are passed through when present (``dataset_id`` defaults to ``--dataset-id``).
Rows whose text is NULL or only spaces are skipped, exactly like the local engine (``length(trim(text)) >
0``).

Fault tolerance: a batch's output only counts when its task finished; Ray restarts a dead actor and
re-runs the batch it was given (``max_restarts`` / ``max_task_retries``), and the outputs are written to a
staging folder that is renamed into place only after both writes finished, so a retried worker neither
loses nor duplicates rows and a failed run leaves no half-written output.

``ray`` is an optional dependency (``requirements-scale.txt``) and is imported only inside the functions
that need it.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.config import PROJECT_ROOT
from models.annotate import Annotator
from models.taxonomy import DEFAULT_TAXONOMY

REQUIRED_COLUMNS = ("feedback_id", "text")
PASS_THROUGH_COLUMNS = ("dataset_id", "brand", "product", "channel", "created_at")
SENTIMENT_DIR = "feedback_sentiment"
MENTIONS_DIR = "aspect_mentions"
DEFAULT_BATCH_SIZE = 256
#: How often Ray restarts a dead annotator actor and re-runs the batch it held.
MAX_RETRIES = 3

SENTIMENT_SCHEMA = pa.schema(
    [
        ("feedback_id", pa.int64()),
        ("dataset_id", pa.int32()),
        ("text_hash", pa.string()),
        ("sentiment", pa.string()),
        ("score", pa.float64()),
        ("pipeline_version", pa.string()),
        ("annotated_at", pa.timestamp("us")),
    ]
)
MENTION_SCHEMA = pa.schema(
    [
        ("feedback_id", pa.int64()),
        ("dataset_id", pa.int32()),
        ("brand", pa.string()),
        ("product", pa.string()),
        ("channel", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("aspect_path", pa.string()),
        ("aspect_top", pa.string()),
        ("term", pa.string()),
        ("clause", pa.string()),
        ("span_start", pa.int32()),
        ("span_end", pa.int32()),
        ("polarity", pa.string()),
        ("confidence", pa.float64()),
        ("pipeline_version", pa.string()),
    ]
)
#: What the annotator actors return: one row per feedback, the mentions still as JSON.
ANNOTATED_SCHEMA = pa.schema(
    list(SENTIMENT_SCHEMA)
    + [MENTION_SCHEMA.field(name) for name in ("brand", "product", "channel", "created_at")]
    + [pa.field("mentions", pa.string())]
)
_MENTION_FIELDS = [f.name for f in MENTION_SCHEMA][6:14]  # aspect_path … confidence
#: Per-row timing the actors add (dropped before writing): model load, batch start, batch end.
TIMING_COLUMNS = ("_load_s", "_batch_start", "_batch_end")


class ScaleError(RuntimeError):
    """A distributed run that cannot start or finish; the message says what to do."""


@dataclass
class ScaleSummary:
    """What a run did."""

    input_rows: int = 0
    annotated: int = 0
    mentions: int = 0
    workers: int = 0
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 0.0
    #: Starting (or connecting to) Ray, before the pipeline.
    ray_start_seconds: float = 0.0
    #: The slowest actor's model load and warm-up (actors load in parallel, while the input is read).
    model_load_seconds: float = 0.0
    #: From the first batch an actor started to the last one it finished: the annotation itself, without
    #: Ray start and model load (wall-clock of the worker processes).
    annotate_seconds: float = 0.0
    #: The whole run after Ray was up: read, model load, annotation, both writes.
    seconds: float = 0.0
    pipeline_versions: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def rate(self) -> float:
        """Reviews per second end to end after Ray start (model load and writes included)."""
        return self.annotated / self.seconds if self.seconds > 0 else 0.0

    @property
    def annotate_rate(self) -> float:
        """Reviews per second of the annotation window (Ray start and model load excluded)."""
        return self.annotated / self.annotate_seconds if self.annotate_seconds > 0 else 0.0


# ---------------------------------------------------------------------------------------------------------
# The pure batch functions (no Ray): run by the actors, testable on their own
# ---------------------------------------------------------------------------------------------------------


def has_text(texts: pd.Series) -> pd.Series:
    """The rows the local engine annotates: text not NULL and not only spaces (SQL ``trim`` trims spaces)."""
    return texts.map(lambda value: isinstance(value, str) and value.strip(" ") != "").astype(bool)


def annotate_frame(
    annotator: Annotator, batch: pd.DataFrame, annotated_at: datetime, default_dataset_id: int = 0
) -> pa.Table:
    """One row per feedback with text: sentiment columns, pass-through columns and the mentions JSON."""
    batch = batch[has_text(batch["text"])] if len(batch) else batch
    results = annotator.annotate(batch["text"].tolist()) if len(batch) else []
    n = len(results)

    def passthrough(name: str) -> list[Any]:
        if name in batch.columns:
            return [None if pd.isna(v) else v for v in batch[name].tolist()]
        return [None] * n

    dataset_ids = passthrough("dataset_id")
    columns: dict[str, list[Any]] = {
        "feedback_id": [int(v) for v in batch["feedback_id"].tolist()],
        "dataset_id": [default_dataset_id if v is None else int(v) for v in dataset_ids],
        "text_hash": [r.text_hash for r in results],
        "sentiment": [r.sentiment for r in results],
        "score": [r.score for r in results],
        "pipeline_version": [annotator.version] * n,
        "annotated_at": [annotated_at] * n,
        "brand": [None if v is None else str(v) for v in passthrough("brand")],
        "product": [None if v is None else str(v) for v in passthrough("product")],
        "channel": [None if v is None else str(v) for v in passthrough("channel")],
        "created_at": [
            None if v is None else pd.Timestamp(v).to_pydatetime() for v in passthrough("created_at")
        ],
        "mentions": [r.mentions_json() for r in results],
    }
    return pa.Table.from_pydict(columns, schema=ANNOTATED_SCHEMA)


def sentiment_rows(annotated: pa.Table) -> pa.Table:
    """The ``feedback_sentiment`` columns of annotated rows."""
    return annotated.select(SENTIMENT_SCHEMA.names).cast(SENTIMENT_SCHEMA)


def mention_rows(annotated: pa.Table) -> pa.Table:
    """One ``aspect_mentions`` row per mention of annotated rows (the mentions JSON unnested)."""
    rows: dict[str, list[Any]] = {name: [] for name in MENTION_SCHEMA.names}
    data = annotated.select(
        [
            "feedback_id",
            "dataset_id",
            "brand",
            "product",
            "channel",
            "created_at",
            "pipeline_version",
            "mentions",
        ]
    ).to_pylist()
    for record in data:
        if record["mentions"] in (None, "[]"):
            continue
        for mention in json.loads(record["mentions"]):
            for name in ("feedback_id", "dataset_id", "brand", "product", "channel", "created_at"):
                rows[name].append(record[name])
            for name in _MENTION_FIELDS:
                rows[name].append(mention[name])
            rows["pipeline_version"].append(record["pipeline_version"])
    return pa.Table.from_pydict(rows, schema=MENTION_SCHEMA)


class AnnotatorActor:
    """A Ray Data actor: loads the models once (``load_annotator``), then annotates batch after batch."""

    def __init__(
        self, taxonomy: str, annotated_at: datetime, default_dataset_id: int, cpu_threads: int | None
    ) -> None:
        from models.annotate import load_annotator

        began = time.perf_counter()
        self.annotator = load_annotator(taxonomy)
        model = self.annotator.sentiment_model
        if cpu_threads and getattr(model, "device", "cpu") == "cpu" and hasattr(model, "cpu_threads"):
            model.cpu_threads = cpu_threads  # the actor's CPU share, not the whole machine
        self.annotator.annotate(["预热：屏幕很好，电池一般"])  # warm-up: dictionaries, first forward
        self.load_seconds = time.perf_counter() - began
        self.annotated_at = annotated_at
        self.default_dataset_id = default_dataset_id

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        began = time.time()
        table = annotate_frame(self.annotator, batch, self.annotated_at, self.default_dataset_id)
        return with_timing(table, self.load_seconds, began, time.time())


def with_timing(table: pa.Table, load_seconds: float, began: float, ended: float) -> pa.Table:
    """Add the actor's model-load time and the batch's start and end (epoch seconds) to every row; the
    writers select the table columns only, so these never reach the output."""
    n = table.num_rows
    for name, value in zip(TIMING_COLUMNS, (load_seconds, began, ended), strict=True):
        table = table.append_column(name, pa.array([value] * n, type=pa.float64()))
    return table


def _block_stats(block: pa.Table) -> pa.Table:
    """One row per block: its pipeline versions and the actors' timing (absent for a custom actor)."""
    import pyarrow.compute as pc

    versions = "\n".join(sorted(str(v) for v in pc.unique(block.column("pipeline_version")).to_pylist()))
    timing: dict[str, float | None] = {"load_s": None, "batch_start": None, "batch_end": None}
    if block.num_rows and TIMING_COLUMNS[0] in block.column_names:
        timing = {
            "load_s": pc.max(block.column(TIMING_COLUMNS[0])).as_py(),
            "batch_start": pc.min(block.column(TIMING_COLUMNS[1])).as_py(),
            "batch_end": pc.max(block.column(TIMING_COLUMNS[2])).as_py(),
        }
    return pa.table(
        {"versions": [versions], **{k: pa.array([v], type=pa.float64()) for k, v in timing.items()}}
    )


def _count_rows(paths: Sequence[str], dataset: Any) -> int:
    """Input rows from the Parquet footers (local files), else by reading the dataset."""
    if _is_remote(paths[0]):
        return int(dataset.count())
    return sum(pq.ParquetFile(path).metadata.num_rows for path in paths)


def _mention_batch(batch: pa.Table) -> pa.Table:
    return mention_rows(batch)


def _sentiment_batch(batch: pa.Table) -> pa.Table:
    return sentiment_rows(batch)


# ---------------------------------------------------------------------------------------------------------
# Input and output paths
# ---------------------------------------------------------------------------------------------------------


def _is_remote(path: str) -> bool:
    return "://" in path


def resolve_input(source: str) -> list[str]:
    """A directory, a glob or a single file of Parquet → the list of paths to read (remote URIs as is)."""
    if _is_remote(source):
        return [source]
    if any(ch in source for ch in "*?["):
        files = sorted(glob.glob(source, recursive=True))
        files = [f for f in files if Path(f).is_file()]
        if not files:
            raise ScaleError(f"no file matches {source!r}; give a folder of .parquet files or a glob")
        return files
    path = Path(source)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise ScaleError(f"{source}: the folder holds no .parquet file")
        return files
    if path.is_file():
        return [str(path)]
    raise ScaleError(f"{source}: no such file or folder")


def check_input_schema(paths: Sequence[str]) -> list[str]:
    """The columns to read; a clear error naming the file when a required column is missing."""
    if _is_remote(paths[0]):
        return [*REQUIRED_COLUMNS, *PASS_THROUGH_COLUMNS]  # checked by the reader on the cluster
    wanted: list[str] | None = None
    for path in paths:
        try:
            names = set(pq.read_schema(path).names)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ScaleError(f"{path}: not a readable Parquet file ({exc})") from None
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise ScaleError(
                f"{path}: missing column(s) {', '.join(missing)}; the input needs feedback_id and text "
                f"(optional: {', '.join(PASS_THROUGH_COLUMNS)})"
            )
        present = [*REQUIRED_COLUMNS, *(c for c in PASS_THROUGH_COLUMNS if c in names)]
        if wanted is None:
            wanted = present
        elif wanted != present:
            raise ScaleError(
                f"{path}: columns {present} differ from the first file's {wanted}; "
                "give every input file the same columns"
            )
    return wanted or list(REQUIRED_COLUMNS)


def prepare_output(output: Path, overwrite: bool) -> None:
    """Refuse to mix results with an earlier run unless ``overwrite``."""
    if _is_remote(str(output)):
        raise ScaleError(f"{output}: write to a local or shared-filesystem folder (remote URIs: not yet)")
    existing = [output / SENTIMENT_DIR, output / MENTIONS_DIR]
    if any(p.exists() for p in existing) and not overwrite:
        raise ScaleError(
            f"{output} already holds {SENTIMENT_DIR}/ or {MENTIONS_DIR}/ from an earlier run; "
            "choose another --output or pass --overwrite"
        )
    output.mkdir(parents=True, exist_ok=True)


def _swap_into_place(staging: Path, output: Path) -> None:
    for name in (SENTIMENT_DIR, MENTIONS_DIR):
        target = output / name
        if target.exists():
            shutil.rmtree(target)
        (staging / name).rename(target)
    shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# The Ray pipeline
# ---------------------------------------------------------------------------------------------------------


def import_ray() -> Any:
    """``ray`` or a clear error with the install command."""
    try:
        import ray
        import ray.data  # the data extra
    except ImportError:
        raise ScaleError(
            "the Ray engine needs the optional dependency: pip install -r requirements-scale.txt"
        ) from None
    return ray


def _init_ray(ray: Any, address: str | None, num_cpus: int | None, object_store_mb: int | None) -> bool:
    """Connect to ``address`` or start a local cluster; True when this call started it."""
    if ray.is_initialized():
        return False
    if address:
        runtime_env = {
            "working_dir": str(PROJECT_ROOT),
            "excludes": [".venv/", ".ci-venv/", ".git/", "*.duckdb", "*.duckdb.wal", "__pycache__/"],
        }
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ScaleError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
        return True
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
    if object_store_mb:
        kwargs["object_store_memory"] = object_store_mb * 1024 * 1024
    ray.init(**kwargs)
    return True


def run_ray_annotation(
    source: str,
    output: str | os.PathLike[str],
    *,
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    cpus_per_worker: float = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    taxonomy: str = DEFAULT_TAXONOMY,
    default_dataset_id: int = 0,
    num_cpus: int | None = None,
    object_store_mb: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    actor_class: type | None = None,
    log: Callable[[str], None] | None = None,
) -> ScaleSummary:
    """Annotate Parquet feedback with a Ray Data actor pool; write the two result datasets under ``output``.

    Without ``address`` a local Ray cluster is started (``num_cpus``, ``object_store_mb``) and shut down
    at the end. ``gpus_per_worker=None`` means 1 when the cluster has GPUs, else 0; ``workers=None`` means
    one per GPU, else one per ``cpus_per_worker`` CPUs, keeping one CPU for the read and write
    tasks (``cpus_per_worker`` is what Ray reserves per actor; its torch uses that many threads, at least
    1). ``actor_class`` replaces :class:`AnnotatorActor`
    (tests use it to inject a worker failure).
    """
    if batch_size < 1:
        raise ScaleError(f"--batch-size must be at least 1, got {batch_size}")
    say = log or (lambda _message: None)
    paths = resolve_input(source)
    columns = check_input_schema(paths)
    out = Path(output)
    prepare_output(out, overwrite)
    ray = import_ray()
    starting = time.perf_counter()
    started_here = _init_ray(ray, address, num_cpus, object_store_mb)
    started = time.perf_counter()
    ray_start_seconds = started - starting
    try:
        resources = ray.cluster_resources()
        cluster_gpus = float(resources.get("GPU", 0))
        gpus = (1.0 if cluster_gpus > 0 else 0.0) if gpus_per_worker is None else float(gpus_per_worker)
        if gpus > cluster_gpus:
            raise ScaleError(f"--gpus-per-worker {gpus:g} but the cluster has {cluster_gpus:g} GPU(s)")
        if workers is None:
            if gpus > 0:
                workers = max(1, int(cluster_gpus // gpus))
            else:  # one CPU stays free for the read and write tasks, else they wait for the actors forever
                workers = max(1, int((float(resources.get("CPU", 1)) - 1) // cpus_per_worker))
        free = float(resources.get("CPU", 0)) - 1  # one CPU stays free for the read and write tasks
        if gpus == 0 and workers * cpus_per_worker > free:
            if free <= 0:
                raise ScaleError(f"the Ray cluster has {resources.get('CPU', 0):g} CPUs: too few to run")
            cpus_per_worker = free / workers  # more actors than CPUs: share them (each still 1 thread)
        say(
            f"Ray cluster: {resources.get('CPU', 0):g} CPUs, {cluster_gpus:g} GPUs; "
            f"{workers} annotator worker(s), {cpus_per_worker:g} CPU and {gpus:g} GPU each, "
            f"batches of {batch_size}"
        )
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        annotated_at = datetime.now(UTC).replace(tzinfo=None)
        threads = max(1, round(cpus_per_worker)) if gpus == 0 else None
        # Ray's Parquet reader packs small files into one block; blocks of one batch spread the work over
        # every actor (a streaming split, no shuffle barrier)
        dataset = (
            ray.data.read_parquet(paths if len(paths) > 1 else paths[0])
            .select_columns(columns)
            .repartition(target_num_rows_per_block=batch_size)
        )
        annotated = dataset.map_batches(
            actor_class or AnnotatorActor,
            fn_constructor_kwargs={
                "taxonomy": taxonomy,
                "annotated_at": annotated_at,
                "default_dataset_id": default_dataset_id,
                "cpu_threads": threads,
            },
            batch_size=batch_size,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus_per_worker,
            num_gpus=gpus,
            max_restarts=MAX_RETRIES,
            max_task_retries=MAX_RETRIES,
        ).materialize()
        staging = out / f".staging-{uuid.uuid4().hex[:8]}"
        try:
            annotated.map_batches(_sentiment_batch, batch_format="pyarrow").write_parquet(
                str(staging / SENTIMENT_DIR)
            )
            mentions = annotated.map_batches(_mention_batch, batch_format="pyarrow").materialize()
            mentions.write_parquet(str(staging / MENTIONS_DIR))
            for name in (SENTIMENT_DIR, MENTIONS_DIR):  # no row at all: an empty folder still marks the run
                (staging / name).mkdir(parents=True, exist_ok=True)
            summary = ScaleSummary(
                input_rows=_count_rows(paths, dataset),
                annotated=annotated.count(),  # materialized: counted from the block metadata
                mentions=mentions.count(),
                workers=workers,
                gpus_per_worker=gpus,
                cpus_per_worker=cpus_per_worker,
                ray_start_seconds=ray_start_seconds,
                output=str(out),
            )
            if summary.annotated:  # one small pass over the blocks, not one aggregation per figure
                per_block = annotated.map_batches(_block_stats, batch_format="pyarrow", batch_size=None)
                stats = per_block.take_all()
                summary.pipeline_versions = sorted({v for row in stats for v in row["versions"].split("\n")})
                timed = [row for row in stats if row["batch_start"] is not None]
                if timed:
                    summary.model_load_seconds = max(row["load_s"] for row in timed)
                    summary.annotate_seconds = max(row["batch_end"] for row in timed) - min(
                        row["batch_start"] for row in timed
                    )
            _swap_into_place(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        if started_here:
            ray.shutdown()
    summary.seconds = time.perf_counter() - started
    return summary
