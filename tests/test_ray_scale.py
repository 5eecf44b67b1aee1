"""Scale-out annotation (issue 8): the Ray Data pipeline gives the local engine's annotations row for row.

A local Ray cluster (2 CPUs, 2 annotator actors, small object store) annotates real JD phone reviews that
the local engine annotated into a DuckDB store; both outputs must be equal. A second run kills one actor
on its first batch: Ray restarts it and the output is still complete, without duplicates.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.config import shared_data_dir
from data.readers import read_table
from data.store import connect
from models.annotate import load_annotator
from models.annotation_store import annotate_dataset
from models.distributed import (
    MENTION_SCHEMA,
    SENTIMENT_SCHEMA,
    AnnotatorActor,
    ScaleError,
    annotate_frame,
    check_input_schema,
    mention_rows,
    resolve_input,
    run_ray_annotation,
    sentiment_rows,
)

SAMPLE_SIZE = 2000
JD_FILE = shared_data_dir() / "jd_phone_reviews_yulezhang" / "tmp_test_data.csv"
SENTIMENT_KEY = ["feedback_id"]
MENTION_KEY = ["feedback_id", "span_start", "span_end", "aspect_path", "term"]


def _require_jd() -> None:
    if not JD_FILE.exists():
        pytest.skip(f"{JD_FILE.name} not found: ../shared/data is not beside the checkout")


@dataclasses.dataclass(frozen=True)
class Sample:
    input_dir: Path
    sentiment: pd.DataFrame  # the local engine's feedback_sentiment rows
    mentions: pd.DataFrame  # the local engine's aspect_mentions rows


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """2,000 real reviews imported and annotated locally, and the same feedback exported as Parquet."""
    _require_jd()
    root = tmp_path_factory.mktemp("ray_sample")
    loaded = read_table(JD_FILE, JD_FILE.name)
    head = dataclasses.replace(
        loaded,
        frame=loaded.frame.head(SAMPLE_SIZE).reset_index(drop=True),
        source_rows=(loaded.source_rows or list(range(1, len(loaded.frame) + 1)))[:SAMPLE_SIZE],
    )
    from data.ingest import ingest_loaded

    con = connect(root / "store.duckdb")
    try:
        ingest_loaded(con, head, name="jd_sample")
        annotate_dataset(con)
        feedback = con.execute(
            "SELECT feedback_id, dataset_id, text, brand, product, channel, created_at FROM feedback"
            " ORDER BY feedback_id"
        ).df()
        sentiment = con.execute(
            f"SELECT {', '.join(SENTIMENT_SCHEMA.names[:-1])} FROM feedback_sentiment"
        ).df()
        mentions = con.execute(f"SELECT {', '.join(MENTION_SCHEMA.names)} FROM aspect_mentions").df()
    finally:
        con.close()
    assert len(sentiment) >= SAMPLE_SIZE * 0.95 and len(mentions) > 0
    # rows the local engine never annotates (no text, spaces only) must be skipped by the Ray path too
    extra = pd.DataFrame(
        {
            "feedback_id": [10**12, 10**12 + 1],
            "dataset_id": feedback["dataset_id"].iloc[0],
            "text": [None, "   "],
        }
    )
    feedback = pd.concat([feedback, extra], ignore_index=True)
    input_dir = root / "input"
    input_dir.mkdir()
    for part, chunk in enumerate(range(0, len(feedback), 600)):  # several files → several blocks
        table = pa.Table.from_pandas(feedback.iloc[chunk : chunk + 600], preserve_index=False)
        pq.write_table(table, input_dir / f"part-{part}.parquet")
    return Sample(input_dir, sentiment, mentions)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """One local Ray cluster for the module: 2 CPUs, 500 MB object store, no dashboard."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements-scale.txt)")
    pytest.importorskip(
        "ray.data", reason="ray[data] is not installed (pip install -r requirements-scale.txt)"
    )
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=500 * 1024 * 1024, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _read(folder: Path, columns: list[str], key: list[str]) -> pd.DataFrame:
    frame = duckdb.sql(f"SELECT {', '.join(columns)} FROM read_parquet('{folder.as_posix()}/*.parquet')").df()
    return frame.sort_values(key).reset_index(drop=True)


def _assert_same_as_local(sample: Sample, output: Path) -> None:
    columns = SENTIMENT_SCHEMA.names[:-1]  # every column but annotated_at
    got = _read(output / "feedback_sentiment", columns, SENTIMENT_KEY)
    want = sample.sentiment[columns].sort_values(SENTIMENT_KEY).reset_index(drop=True)
    assert got["feedback_id"].is_unique
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    got_m = _read(output / "aspect_mentions", MENTION_SCHEMA.names, MENTION_KEY)
    want_m = sample.mentions[MENTION_SCHEMA.names].sort_values(MENTION_KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(got_m, want_m, check_dtype=False)


def _failing_actor(marker: Path) -> type:
    """An actor class whose process dies on its first batch, once per run (the marker says it did)."""

    class DiesOnce(AnnotatorActor):
        def __call__(self, batch: pd.DataFrame) -> pa.Table:
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)  # a crashed worker process, not a Python exception
            return super().__call__(batch)

    return DiesOnce


@pytest.mark.slow
def test_ray_output_equals_local_engine_despite_a_killed_worker(
    sample: Sample, ray_cluster: None, tmp_path: Path
) -> None:
    """2 actors on 2 CPUs; one actor process dies on its first batch; Ray restarts it and re-runs that
    batch, and the output still equals the local engine's, row for row, nothing lost or duplicated."""
    marker = tmp_path / "died"
    output = tmp_path / "out"
    summary = run_ray_annotation(
        str(sample.input_dir),
        output,
        workers=2,
        cpus_per_worker=0.5,
        batch_size=250,
        progress=False,
        actor_class=_failing_actor(marker),
    )
    assert marker.exists(), "the injected worker failure did not happen"
    assert summary.workers == 2
    assert summary.input_rows == len(sample.sentiment) + 2
    assert summary.annotated == len(sample.sentiment)
    assert summary.mentions == len(sample.mentions)
    assert summary.pipeline_versions == sorted(sample.sentiment["pipeline_version"].unique())
    assert summary.cpus_per_worker == 0.5  # both actors fit beside the CPU kept for reads and writes
    assert 0 < summary.annotate_seconds < summary.seconds and summary.model_load_seconds > 0
    _assert_same_as_local(sample, output)
    assert not list(output.glob(".staging-*"))
    with pytest.raises(ScaleError, match="--overwrite"):
        run_ray_annotation(str(sample.input_dir), output, workers=2, cpus_per_worker=0.5, progress=False)


def test_batch_functions_without_ray() -> None:
    annotator = load_annotator("phone")
    batch = pd.DataFrame(
        {
            "feedback_id": [1, 2, 3, 4],
            "text": ["屏幕很清晰，但是电池不耐用", None, "  ", "\n"],
            "brand": ["华为", None, None, "小米"],
        }
    )
    when = pd.Timestamp("2026-01-01").to_pydatetime()
    annotated = annotate_frame(annotator, batch, when, default_dataset_id=7)
    assert annotated.column("feedback_id").to_pylist() == [1, 4]  # NULL and spaces-only skipped
    assert annotated.column("dataset_id").to_pylist() == [7, 7]
    sentiments = sentiment_rows(annotated)
    assert sentiments.schema == SENTIMENT_SCHEMA
    assert sentiments.column("sentiment").to_pylist()[1] == "neutral"  # "\n" normalises to empty
    mentions = mention_rows(annotated)
    assert mentions.schema == MENTION_SCHEMA
    assert {"屏幕", "电池"} <= set(mentions.column("term").to_pylist())
    assert set(mentions.column("brand").to_pylist()) == {"华为"}
    expected = annotator.annotate(["屏幕很清晰，但是电池不耐用"])[0]
    assert mentions.num_rows == len(expected.mentions)


def test_bad_input_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScaleError, match="no such file"):
        resolve_input(str(tmp_path / "missing"))
    with pytest.raises(ScaleError, match=r"no \.parquet file"):
        resolve_input(str(tmp_path))
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": [1], "text": ["好"]}), bad)
    with pytest.raises(ScaleError, match=r"bad\.parquet: missing column\(s\) feedback_id"):
        check_input_schema(resolve_input(str(tmp_path / "*.parquet")))
