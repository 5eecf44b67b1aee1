"""Stored order: feedback lands in date order (per import, undated last) on both import paths, and the
annotation appends ``feedback_sentiment`` / ``aspect_mentions`` rows in the same order.

Why it matters (docs/SCALE.md): stored by date, DuckDB's Top-N ("newest N rows") pushes a dynamic filter
into the scan and skips whole row groups, so the quotes, search and verbatim queries read a few row groups
instead of every text. The input files here are shuffled, so these tests fail if either ORDER BY is removed.
``feedback_id`` still follows the file order (the import allocates ids in file order).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from data import ingest
from data.ingest import ingest_file, ingest_frame
from data.store import connect
from models.annotate import Annotator
from models.annotation_store import annotate_dataset
from models.aspects import AspectMatcher
from models.taxonomy import load_taxonomy

ROWS = 400
UNDATED = 25
CLAUSES = (
    "屏幕很好", "电池续航差", "物流太慢了", "拍照不错", "系统流畅", "客服态度好", "充电很快", "价格实惠"
)


class _Sentiment:
    version = "sorted-test-1"

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return np.asarray([0.8 if "好" in t else 0.2 for t in texts], dtype=np.float32)


class _Aspects:
    version = "sorted-aspects-1"

    def predict(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> list[tuple[str, float]]:
        return [("positive", 0.9) for _ in texts]


@pytest.fixture(scope="module")
def annotator() -> Annotator:
    return Annotator(_Sentiment(), _Aspects(), AspectMatcher(load_taxonomy("phone")))


def _shuffled_reviews(seed: int) -> pd.DataFrame:
    """``ROWS`` reviews over two years in a random order, ``UNDATED`` of them without a date; every text
    is distinct and names 1–3 aspects."""
    rng = random.Random(seed)
    first = dt.datetime(2024, 1, 1)
    rows = []
    for i in range(ROWS):
        clauses = rng.sample(CLAUSES, rng.randint(1, 3))
        when = first + dt.timedelta(seconds=rng.randrange(730 * 86_400))
        rows.append(
            {
                "评论内容": "，".join(clauses) + f"，第{i}条",
                "评分": str(rng.randint(1, 5)),
                "评论时间": "" if i % (ROWS // UNDATED) == 3 else when.strftime("%Y-%m-%d %H:%M:%S"),
                "品牌": "华为",
                "机型": "Mate 60",
                "渠道": "京东",
            }
        )
    return pd.DataFrame(rows)


def _order_report(con: duckdb.DuckDBPyConnection, table: str, dataset_id: int) -> tuple[float, int, int]:
    """(corr(rowid, epoch(created_at)), rows whose date is older than the previous stored row's, dated
    rows stored after an undated one) for one dataset's rows of ``table``."""
    if table == "feedback_sentiment":
        source = (
            "(SELECT s.rowid AS r, f.created_at FROM feedback_sentiment s"
            " JOIN feedback f USING (dataset_id, feedback_id) WHERE s.dataset_id = $d)"
        )
    else:
        source = f"(SELECT rowid AS r, created_at FROM {table} WHERE dataset_id = $d)"
    corr, backwards, dated_after_null = con.execute(
        f"""
        WITH t AS (
            SELECT r, created_at, lag(created_at) OVER (ORDER BY r) AS prev,
                   bool_or(created_at IS NULL) OVER (ORDER BY r ROWS UNBOUNDED PRECEDING) AS null_seen
            FROM {source}
        )
        SELECT corr(r, epoch(created_at)), count(*) FILTER (WHERE created_at < prev),
               count(*) FILTER (WHERE created_at IS NOT NULL AND null_seen)
        FROM t
        """,
        {"d": dataset_id},
    ).fetchall()[0]
    return float(corr), int(backwards), int(dated_after_null)


def _assert_date_order(con: duckdb.DuckDBPyConnection, dataset_id: int) -> None:
    for table in ("feedback", "feedback_sentiment", "aspect_mentions"):
        corr, backwards, dated_after_null = _order_report(con, table, dataset_id)
        assert corr > 0.99, f"{table}: rows are not stored in date order (corr {corr:.3f})"
        assert backwards == 0 and dated_after_null == 0, table


def _assert_ids_in_file_order(con: duckdb.DuckDBPyConnection, dataset_id: int) -> None:
    offsets = con.execute(
        "SELECT count(DISTINCT feedback_id - source_row), count(*) FROM feedback WHERE dataset_id = ?",
        [dataset_id],
    ).fetchall()[0]
    assert offsets == (1, ROWS)  # feedback_id = first id + source_row − 1: allocated in file order


def test_shuffled_input_is_unordered() -> None:
    frame = _shuffled_reviews(1)
    dates = pd.to_datetime(frame["评论时间"].replace("", None))
    corr = np.corrcoef(np.arange(len(frame))[dates.notna()], dates.dropna().astype("int64"))[0, 1]
    assert abs(corr) < 0.2  # so the stored order below comes from the import, not from the file


def test_fast_path_import_and_annotation_store_rows_by_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, annotator: Annotator
) -> None:
    path = tmp_path / "reviews.csv"
    _shuffled_reviews(1).to_csv(path, index=False)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("this file must take the SQL fast path")

    con = connect(tmp_path / "store.duckdb")
    try:
        with monkeypatch.context() as patch:
            patch.setattr(ingest, "read_table", refuse)
            result = ingest_file(con, path, name="shuffled", kind="reviews")
        assert result.imported == ROWS
        # several Python batches (the model path)
        summary = annotate_dataset(con, "shuffled", batch_size=60, annotator_factory=lambda _t: annotator)
        assert summary.feedback_annotated == ROWS and summary.batches > 3 and summary.texts_scored == ROWS
        _assert_date_order(con, result.dataset_id)
        _assert_ids_in_file_order(con, result.dataset_id)
    finally:
        con.close()


def test_pandas_path_import_and_cached_annotation_store_rows_by_date(
    tmp_path: Path, annotator: Annotator
) -> None:
    con = connect(tmp_path / "store.duckdb")
    try:
        first = ingest_frame(con, _shuffled_reviews(1), name="first", kind="reviews", mapping=None,
                             source_file="first.csv")
        annotate_dataset(con, "first", batch_size=100, annotator_factory=lambda _t: annotator)
        # the same texts in another order and file: every annotation is served from the cache in SQL
        again = _shuffled_reviews(1).sample(frac=1.0, random_state=5).reset_index(drop=True)
        again["渠道"] = "天猫"
        second = ingest_frame(con, again, name="second", kind="reviews", mapping=None,
                              source_file="second.csv")
        served = annotate_dataset(con, "second", annotator_factory=lambda _t: annotator)
        assert served.texts_scored == 0 and served.feedback_annotated == ROWS
        for dataset_id in (first.dataset_id, second.dataset_id):
            _assert_date_order(con, dataset_id)
            _assert_ids_in_file_order(con, dataset_id)
        # a second import is appended after the first: each import is sorted on its own
        assert con.execute("SELECT max(rowid) FROM feedback WHERE dataset_id = ?", [first.dataset_id]
                           ).fetchall()[0][0] < con.execute(
            "SELECT min(rowid) FROM feedback WHERE dataset_id = ?", [second.dataset_id]).fetchall()[0][0]
    finally:
        con.close()


def test_resumed_annotation_keeps_date_order(tmp_path: Path, annotator: Annotator) -> None:
    """A run killed after some batches resumes with the rest, still in date order, nothing twice."""

    class _Killed(Exception):
        pass

    calls = {"n": 0}

    class _Dying(_Sentiment):
        def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
            calls["n"] += 1
            if calls["n"] > 2:
                raise _Killed
            return super().predict_proba(texts, batch_size)

    dying = Annotator(_Dying(), _Aspects(), AspectMatcher(load_taxonomy("phone")))
    con = connect(tmp_path / "store.duckdb")
    try:
        result = ingest_frame(con, _shuffled_reviews(2), name="resume", kind="reviews", mapping=None,
                              source_file="resume.csv")
        with pytest.raises(_Killed):
            annotate_dataset(con, "resume", batch_size=50, annotator_factory=lambda _t: dying)
        done = con.execute("SELECT count(*), max(f.created_at) FROM feedback_sentiment s"
                           " JOIN feedback f USING (feedback_id)").fetchall()[0]
        assert done[0] == 100  # two whole batches: the 100 oldest reviews
        oldest_pending = con.execute(
            "SELECT min(created_at) FROM feedback WHERE feedback_id NOT IN"
            " (SELECT feedback_id FROM feedback_sentiment)").fetchall()[0][0]
        assert done[1] <= oldest_pending
        rest = annotate_dataset(con, "resume", batch_size=50, annotator_factory=lambda _t: annotator)
        assert rest.feedback_annotated == ROWS - 100
        assert con.execute("SELECT count(*), count(DISTINCT feedback_id) FROM feedback_sentiment"
                           ).fetchall()[0] == (ROWS, ROWS)
        _assert_date_order(con, result.dataset_id)
    finally:
        con.close()
