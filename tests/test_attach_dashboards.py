"""Issue 8: the dashboards read annotations from an attached Parquet directory as if they were local.

Two stores hold the same feedback (two datasets: reviews with ratings, survey answers with NPS scores).
``local`` is annotated by the local engine (``models.annotation_store.annotate_dataset``); ``attached`` has
no annotation of its own: the same feedback is annotated by the pure batch function the Ray actors run
(``models.distributed.annotate_frame``, no Ray) and written as Parquet in the ``annotate --engine ray``
layout, then attached. Every analytics function behind a dashboard must give the same numbers on both
(the attached one read through ``data.attach.read_cursor``), and every page must render on the attached
store through the app (``components.cache.cursor`` is a reading cursor).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.testing.v1 import AppTest

from analytics import aspects, cem_index, drivers, nps, overview, parameter_map, quotes
from analytics.filters import Filters
from data import attach
from data.attach import attach_parquet, attachments, detach_parquet, read_cursor
from data.ingest import delete_dataset, ingest_frame
from data.store import connect
from models.annotate import load_annotator
from models.annotation_store import annotate_dataset, dataset_taxonomy
from models.distributed import MENTIONS_DIR, SENTIMENT_DIR, annotate_frame, mention_rows, sentiment_rows
from tests.app_session import signed_in
from tests.fixture_store import review_frame, survey_frame
from tests.test_app import ServerLikePagesManager

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PAGE_FILES = sorted(p.name for p in (ROOT / "pages").glob("*.py") if p.name != "__init__.py")
TIMEOUT = 60
ANNOTATION_PAGES = {"overview.py", "drivers.py", "aspects.py"}  # pages that need aspect annotations

# Clauses the phone taxonomy knows, with both polarities, so aspects, drivers and quotes have material.
CLAUSES = (
    "屏幕很清晰", "屏幕有点暗", "电池很耐用", "电池不耐用", "续航一般", "充电很快", "发热严重", "手机有点烫",
    "拍照效果很好", "拍照模糊", "运行流畅", "玩游戏卡顿", "外观漂亮", "手感不错", "信号差", "信号很稳定",
    "物流很快", "快递太慢了", "客服态度很好", "客服不理人", "性价比高", "价格偏贵", "系统好用", "包装破损",
)
JOINERS = ("，", "，但是", "。", "，不过")


def _texts(seed: int, n: int, prefix: str) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = []
    for i in range(n):
        picked = [CLAUSES[j] for j in rng.choice(len(CLAUSES), size=int(rng.integers(1, 4)), replace=False)]
        text = picked[0]
        for clause in picked[1:]:
            text += JOINERS[int(rng.integers(0, len(JOINERS)))] + clause
        texts.append(f"{prefix}{i}：{text}")
    return texts


def fill(con: Any) -> None:
    """The same feedback in every store (same order, so the same feedback ids)."""
    reviews = review_frame().assign(text=_texts(3, 240, "评论"))
    survey = survey_frame().assign(text=_texts(5, 200, "问卷"))
    ingest_frame(con, reviews, name="测试评论", kind="reviews", mapping={c: c for c in reviews.columns},
                 source_file="reviews.csv")
    ingest_frame(con, survey, name="测试问卷", kind="survey", mapping={c: c for c in survey.columns},
                 source_file="survey.csv")


def write_parquet_annotations(con: Any, folder: Path) -> int:
    """Annotate the store's feedback with the Ray actors' batch function (no Ray) into ``folder``, in the
    layout of ``annotate --engine ray --output folder``; the number of feedback rows annotated."""
    feedback = con.execute(
        "SELECT feedback_id, dataset_id, text, brand, product, channel, created_at FROM feedback"
        " ORDER BY feedback_id"
    ).df()
    when = pd.Timestamp("2026-01-01").to_pydatetime()
    annotated = 0
    for part, (dataset_id, frame) in enumerate(feedback.groupby("dataset_id", sort=True)):
        annotator = load_annotator(dataset_taxonomy(con, int(dataset_id)))
        table = annotate_frame(annotator, frame.reset_index(drop=True), when)
        for name, rows in ((SENTIMENT_DIR, sentiment_rows(table)), (MENTIONS_DIR, mention_rows(table))):
            (folder / name).mkdir(parents=True, exist_ok=True)
            pq.write_table(rows, folder / name / f"part-{part}.parquet")
        annotated += table.num_rows
    return annotated


@dataclasses.dataclass(frozen=True)
class Stores:
    local: Path
    attached: Path
    parquet: Path
    annotated: int


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    root = tmp_path_factory.mktemp("attach_dashboards")
    local, attached, parquet = root / "local.duckdb", root / "attached.duckdb", root / "annotated"
    con = connect(local)
    try:
        fill(con)
        annotate_dataset(con)
    finally:
        con.close()
    con = connect(attached)
    try:
        fill(con)
        annotated = write_parquet_annotations(con, parquet)
        attach_parquet(con, parquet)
    finally:
        con.close()
    return Stores(local, attached, parquet, annotated)


# --- the same numbers ------------------------------------------------------------------------------------

ALL = Filters()
HUAWEI = Filters(brands=("华为",))
RATING_QUERIES: dict[str, Callable[[Any, Filters], object]] = {
    "aspect_heatmap product": lambda c, f: aspects.aspect_heatmap(c, f, "product"),
    "aspect_heatmap brand 电池": lambda c, f: aspects.aspect_heatmap(c, f, "brand", "电池"),
    "aspect_summary": lambda c, f: aspects.aspect_summary(c, f),
    "aspect_summary 电池": lambda c, f: aspects.aspect_summary(c, f, "电池"),
    "aspect_trend 电池": lambda c, f: aspects.aspect_trend(c, f, "电池", "month"),
    "aspect_volume_trend": lambda c, f: aspects.aspect_volume_trend(c, f, "month", None),
    "aspect_changes": lambda c, f: aspects.aspect_changes(c, f),
    "overview_kpis": lambda c, f: overview.overview_kpis(c, f),
    "typical_quotes": lambda c, f: quotes.typical_quotes(c, f, None, None, 5),
    "typical_quotes 电池 negative": lambda c, f: quotes.typical_quotes(c, f, "电池", "negative", 5),
    "search_feedback": lambda c, f: quotes.search_feedback(c, f, "屏幕", 50),
    "key_drivers rating": lambda c, f: drivers.key_drivers(c, f, "rating"),
    "key_drivers nps": lambda c, f: drivers.key_drivers(c, f, "nps"),
    "cem_weights": lambda c, f: cem_index.cem_weights(c, f),
    "cem_index": lambda c, f: cem_index.cem_index(c, f, None, cem_index.cem_weights(c, f)),
    "cem_index by brand": lambda c, f: cem_index.cem_index(c, f, "brand", cem_index.cem_weights(c, f)),
    "cem_index_change": lambda c, f: cem_index.cem_index_change(c, f, weights=cem_index.cem_weights(c, f)),
    "nps_trend_by": lambda c, f: nps.nps_trend_by(c, f, "month", None),
    "product_satisfaction 电池": lambda c, f: parameter_map.product_satisfaction(c, f, "aspect:电池")
    .sort_values(["brand", "product"]),  # its row order is unspecified
}


def assert_same(got: object, want: object, where: str) -> None:
    """Equal DataFrames, dataclasses (field by field), floats (to 1e-9) and everything else."""
    if isinstance(want, pd.DataFrame):
        assert isinstance(got, pd.DataFrame), where
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False, obj=where
        )
    elif dataclasses.is_dataclass(want) and not isinstance(want, type):
        assert type(got) is type(want), where
        for f in dataclasses.fields(want):
            assert_same(getattr(got, f.name), getattr(want, f.name), f"{where}.{f.name}")
    elif isinstance(want, float) and isinstance(got, float):
        same = (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert same, where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for key in want:
            assert_same(got[key], want[key], f"{where}[{key!r}]")
    else:
        assert got == want, where


def test_the_attached_store_has_no_local_annotation_and_reads_the_parquet(stores: Stores) -> None:
    con = connect(stores.attached)
    try:
        plain = con.cursor()
        assert plain.execute("SELECT count(*) FROM feedback_sentiment").fetchall()[0][0] == 0
        assert plain.execute("SELECT count(*) FROM aspect_mentions").fetchall()[0][0] == 0
        reader = read_cursor(con)
        assert reader.execute("SELECT count(*) FROM feedback_sentiment").fetchall()[0][0] == stores.annotated
        assert reader.execute("SELECT count(*) FROM aspect_mentions").fetchall()[0][0] > stores.annotated
        assert [a.path for a in attachments(con)] == [str(stores.parquet.resolve())]
    finally:
        con.close()
    assert stores.annotated == 440  # every review and answer of the fixture has text


@pytest.mark.parametrize("filters", [ALL, HUAWEI], ids=["all", "华为"])
def test_every_dashboard_query_gives_the_local_engine_numbers(stores: Stores, filters: Filters) -> None:
    local, attached = connect(stores.local), connect(stores.attached)
    try:
        summary = aspects.aspect_summary(local.cursor(), filters)
        assert len(summary) >= 5 and summary["n"].sum() > 100, "the fixture should mention many aspects"
        for name, query in RATING_QUERIES.items():
            want = query(local.cursor(), filters)
            got = query(read_cursor(attached), filters)
            assert_same(got, want, name)
        # not vacuous: without the attachment the attached store has no aspect at all
        assert aspects.aspect_summary(attached.cursor(), filters).empty
    finally:
        local.close()
        attached.close()


# --- the views' guards and the read cursor's cache ---------------------------------------------------------


def test_local_annotations_win_and_deleted_feedback_disappears(stores: Stores, tmp_path: Path) -> None:
    """After attaching, a local annotation of the same feedback replaces the Parquet rows (nothing counts
    twice), and a deleted dataset's attached rows are gone from the dashboards."""
    path = tmp_path / "copy.duckdb"
    shutil.copy(stores.attached, path)
    con = connect(path)
    try:
        reviews_id = con.execute("SELECT dataset_id FROM datasets WHERE name = '测试评论'").fetchall()[0][0]
        survey_id = con.execute("SELECT dataset_id FROM datasets WHERE name = '测试问卷'").fetchall()[0][0]
        annotate_dataset(con, reviews_id)  # the local engine: pending = not in the store's own table
        reader = read_cursor(con)
        counts = reader.execute(
            "SELECT count(*), count(DISTINCT feedback_id) FROM feedback_sentiment"
        ).fetchall()[0]
        assert counts == (stores.annotated, stores.annotated)
        local_mentions = con.execute("SELECT count(*) FROM main.aspect_mentions").fetchall()[0][0]
        assert local_mentions > 0
        want = aspects.aspect_summary(connect_local(stores), ALL)
        assert_same(aspects.aspect_summary(read_cursor(con), ALL), want, "aspect_summary")

        delete_dataset(con, survey_id)
        reader = read_cursor(con)
        left = reader.execute("SELECT DISTINCT dataset_id FROM aspect_mentions").fetchall()
        assert left == [(reviews_id,)]
    finally:
        con.close()


def connect_local(stores: Stores) -> Any:
    con = connect(stores.local, read_only=True)
    return con.cursor()


def test_read_cursor_follows_attach_detach_and_a_vanished_folder(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "annotated"
    shutil.copytree(stores.parquet, folder)
    path = tmp_path / "own.duckdb"
    con = connect(path)
    try:
        fill(con)
        count = "SELECT count(*) FROM feedback_sentiment"
        assert read_cursor(con).execute(count).fetchall()[0][0] == 0
        attach_parquet(con, folder)  # seen at once, though the last check was cached
        assert read_cursor(con).execute(count).fetchall()[0][0] == stores.annotated
        shutil.rmtree(folder)
        monkeypatch.setattr(attach, "RECHECK_SECONDS", 0.0)  # else noticed within RECHECK_SECONDS
        assert read_cursor(con).execute(count).fetchall()[0][0] == 0  # local rows only, no error
        assert "no longer holds" in attach.attachment_problems(con)[0]
        assert detach_parquet(con, folder)
        assert read_cursor(con).execute(count).fetchall()[0][0] == 0
        assert attachments(con) == []
    finally:
        con.close()


# --- every page through the app ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def server_like_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    ServerLikePagesManager.runs = 0
    monkeypatch.setattr(app_test_module, "PagesManager", ServerLikePagesManager)


def new_app(store: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app on ``store``, signed in as the demo admin (sees every brand)."""
    monkeypatch.setenv("TINGJIAN_DB", str(store))
    return signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT))


@pytest.mark.parametrize("page_file", PAGE_FILES)
def test_every_page_runs_on_the_attached_store(
    stores: Stores, page_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = new_app(stores.attached, monkeypatch).run()
    at.switch_page(f"pages/{page_file}").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"pages/{page_file} shows no title"
    if page_file in ANNOTATION_PAGES:  # read through a plain cursor, each says "no annotation" instead
        assert at.get("plotly_chart"), f"pages/{page_file} shows no chart"
        notes = [m.value for m in [*at.info, *at.warning]]
        assert not any("标注" in note or "提及" in note for note in notes), notes
    if page_file == "aspects.py":
        con = connect(stores.local, read_only=True)
        try:
            want = aspects.aspect_summary(con.cursor(), ALL)
            cells = aspects.aspect_heatmap(con.cursor(), ALL, "product")
        finally:
            con.close()
        shown = at.selectbox(key="aspects_cell_aspect").options
        assert set(shown) == set(cells["aspect"]) and set(shown) <= set(want["aspect"])
        assert at.get("plotly_chart"), "the aspect page shows no heatmap"


def test_a_store_attached_by_the_first_version_is_reported_and_rebuilt(
    stores: Stores, tmp_path: Path
) -> None:
    """The first version kept the views in a schema ``attached``: readers then see local rows only, the
    problem list says to attach again, and attaching again rebuilds the views and drops the old schema."""
    path = tmp_path / "old.duckdb"
    shutil.copy(stores.attached, path)
    con = connect(path)
    try:
        con.execute(f"DROP SCHEMA {attach.SCHEMA} CASCADE")
        con.execute("CREATE SCHEMA attached")
        con.execute("CREATE VIEW attached.feedback_sentiment AS SELECT * FROM main.feedback_sentiment")
        attach._changed()
        count = "SELECT count(*) FROM feedback_sentiment"
        assert read_cursor(con).execute(count).fetchall()[0][0] == 0
        assert "older version" in attach.attachment_problems(con)[0]
        attach_parquet(con, stores.parquet)
        assert read_cursor(con).execute(count).fetchall()[0][0] == stores.annotated
        assert attach.attachment_problems(con) == []
        schemas = con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
        assert ("attached",) not in schemas
    finally:
        con.close()
