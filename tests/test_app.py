"""AppTests: the frame and every page run on a small fixture store (one test builds the real demo)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from analytics.filters import Filters
from tests.app_session import signed_in
from tests.fixture_store import Fixture, build_store
from tests.test_analytics_overview import select

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 60


class ServerLikePagesManager(PagesManager):
    """Keep Streamlit's "legacy pages/ folder" flag across reruns, as a real server process does.

    A server computes the flag once (True here, since ``pages/`` exists) and ``st.navigation`` turns it off
    for good. ``AppTest`` resets it before every run, which would send each rerun through the legacy path;
    that path drops an uploaded file. The first run of each test still starts in the legacy mode, so the
    guard in ``components/frame.py`` is exercised (see ``test_deep_link_on_a_fresh_server``).
    """

    runs = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        if ServerLikePagesManager.runs:
            PagesManager.uses_pages_directory = False
        ServerLikePagesManager.runs += 1
        super().__init__(*args, **kwargs)


@pytest.fixture(autouse=True)
def server_like_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    ServerLikePagesManager.runs = 0
    monkeypatch.setattr(app_test_module, "PagesManager", ServerLikePagesManager)


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Fixture]:
    path = tmp_path_factory.mktemp("store") / "fixture.duckdb"
    return path, build_store(path)


@pytest.fixture
def app(fixture_db, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("TINGJIAN_DB", str(fixture_db[0]))
    return signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT))


@pytest.fixture
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the fixture store, for tests that change it."""
    path = tmp_path / "own.duckdb"
    build_store(path)
    monkeypatch.setenv("TINGJIAN_DB", str(path))
    yield path


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return values[0]


def plotly_charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# --- overview ----------------------------------------------------------------------------------------------


def test_overview_renders_counts_nps_and_charts(app: AppTest, fixture_db) -> None:
    at = app.run()
    assert_ok(at)
    assert at.title[0].value == "总览"
    assert metric(at, "反馈总数") == "440"
    assert metric(at, "评论") == "240"
    assert metric(at, "调查回答") == "200"
    assert metric(at, "NPS").startswith("+")
    assert any("95% 区间" in c.value and "n = 200" in c.value for c in at.caption)
    assert len(plotly_charts(at)) == 3  # promoter mix, NPS trend, volume by channel
    labels = {w.label for w in at.sidebar.multiselect}
    assert {"品牌", "型号", "渠道", "数据集"} <= labels
    assert len(at.sidebar.date_input) == 1


def plotly_values(values: list | dict) -> list:
    """Plotly serialises numeric arrays as ``{"dtype": ..., "bdata": base64}``; decode them."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in plotly_charts(at)]


def test_a_brand_filter_changes_the_figures_and_the_url(app: AppTest, fixture_db) -> None:
    _, fixture = fixture_db
    at = app.run()
    before = metric(at, "反馈总数")
    trend_before = chart_specs(at)[1]
    at.sidebar.multiselect(key="filter_brands").set_value(["华为"]).run()
    assert_ok(at)
    expected = select(fixture.combined(), Filters(brands=("华为",)))
    assert metric(at, "反馈总数") == f"{len(expected):,}" != before
    # The NPS trend chart now shows the brand's answers: its n bars sum to the brand's dated NPS answers.
    trend_after = chart_specs(at)[1]
    assert trend_after != trend_before
    n_bars = next(trace for trace in trend_after["data"] if trace["type"] == "bar")
    dated_answers = expected["nps_score"].notna() & expected["created_at"].notna()
    assert sum(plotly_values(n_bars["y"])) == int(dated_answers.sum())
    assert at.query_params.get("brands") == "华为"
    # Products offered are narrowed to the chosen brand.
    assert set(at.sidebar.multiselect(key="filter_products").options) == {"Mate 60", "P70"}


def test_quarterly_period_regroups_the_trend(app: AppTest) -> None:
    at = app.run()
    monthly = chart_specs(at)[1]
    at.segmented_control(key="overview_period").set_value("quarter").run()
    assert_ok(at)
    quarterly = chart_specs(at)[1]
    def n_of(spec: dict) -> list:
        return plotly_values(next(trace for trace in spec["data"] if trace["type"] == "bar")["y"])

    assert len(n_of(monthly)) == 6 and len(n_of(quarterly)) == 2  # fixture: 2025-01 … 2025-06
    assert sum(n_of(monthly)) == sum(n_of(quarterly))


def test_english_switch_changes_the_title(app: AppTest) -> None:
    at = app.run()
    at.sidebar.radio(key="lang").set_value("en").run()
    assert_ok(at)
    assert at.title[0].value == "Overview"
    assert metric(at, "Feedback") == "440"
    assert at.query_params.get("lang") == "en"


def test_query_params_restore_the_view(app: AppTest, fixture_db) -> None:
    _, fixture = fixture_db
    app.query_params = {"brands": "华为~Apple", "channels": "京东", "from": "2025-02-01", "to": "2025-04-30",
                        "lang": "en"}
    at = app.run()
    assert_ok(at)
    assert at.title[0].value == "Overview"
    assert at.sidebar.multiselect(key="filter_brands").value == ["Apple", "华为"]
    assert at.sidebar.multiselect(key="filter_channels").value == ["京东"]
    f = Filters(brands=("华为", "Apple"), channels=("京东",), date_from=pd.Timestamp("2025-02-01").date(),
                date_to=pd.Timestamp("2025-04-30").date())
    assert metric(at, "Feedback") == f"{len(select(fixture.combined(), f)):,}"


def test_invalid_query_params_are_ignored(app: AppTest) -> None:
    app.query_params = {"brands": "诺基亚", "from": "2025-13-45", "dataset_ids": "abc~99", "lang": "fr",
                        "channels": ""}
    at = app.run()
    assert_ok(at)
    assert at.title[0].value == "总览"
    assert metric(at, "反馈总数") == "440"
    assert at.sidebar.multiselect(key="filter_brands").value == []


def test_a_filter_that_selects_nothing_explains_itself(app: AppTest, fixture_db) -> None:
    _, fixture = fixture_db
    app.query_params = {"dataset_ids": str(fixture.reviews_result.dataset_id), "channels": "问卷"}
    at = app.run()
    assert_ok(at)
    assert not plotly_charts(at)
    assert any("没有选中任何数据" in w.value for w in at.warning)


def test_deep_link_on_a_fresh_server(app: AppTest) -> None:
    """The first request after a server start asks for /overview directly: the frame must still run."""
    app.query_params = {"brands": "华为"}
    at = app.switch_page("pages/overview.py").run()
    assert_ok(at)
    assert at.title[0].value == "总览"
    assert at.sidebar.multiselect(key="filter_brands").value == ["华为"]
    assert at.sidebar.radio(key="lang").value == "zh"


def test_locked_store_shows_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.duckdb"
    build_store(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(path)!r})
            print("ready", flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        monkeypatch.setenv("TINGJIAN_DB", str(path))
        at = signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT)).run()
        assert_ok(at)
        assert any("正被另一个程序占用" in e.value for e in at.error)
    finally:
        holder.kill()
        holder.wait()


# --- import page -------------------------------------------------------------------------------------------

CSV = (
    "评论内容,评分,购买时间,手机型号,平台\n"
    "屏幕很清楚，续航一般,4,2025-03-01 10:00,华为 Mate 60,京东\n"
    "拍照好看,5,2025-03-02,Apple iPhone 15,天猫\n"
    "=HYPERLINK(\"http://x\"),3,2025-03-03,华为 Mate 60,京东\n"
    "电池太差了,11,2025-03-04,华为 Mate 60,京东\n"
)


def open_import_page(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("pages/import_data.py").run()
    assert_ok(at)
    return at


def test_import_page_without_upload(app: AppTest) -> None:
    at = open_import_page(app)
    assert at.title[0].value == "数据导入"
    uploader = at.file_uploader(key="import_file")
    assert set(uploader.allowed_type) >= {".csv", ".xlsx", ".parquet", ".jsonl"}
    assert len(at.dataframe) == 1  # the dataset list
    assert not at.sidebar.multiselect  # no analysis filters on this page


def test_upload_map_and_import_a_gbk_file(fresh_db: Path) -> None:
    at = open_import_page(signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT)))
    at.file_uploader(key="import_file").set_value(("新评论.csv", CSV.encode("gbk"), "text/csv")).run()
    assert_ok(at)
    assert any(c.value.startswith("已读取 4 行、5 列") and "编码 gb" in c.value.lower() for c in at.caption)
    assert at.selectbox(key="import_kind").value == "reviews"
    assert at.text_input(key="import_name").value == "新评论"
    assert at.selectbox(key="import_map_text").value == "评论内容"
    assert at.selectbox(key="import_map_rating").value == "评分"
    preview = at.dataframe[0].value
    assert preview["text"].iloc[0] == "屏幕很清楚，续航一般"
    at.button(key="import_button").click().run()
    assert_ok(at)
    assert metric(at, "已导入") == "3"
    assert metric(at, "被拒绝") == "1"
    download = at.get("download_button")
    assert download, "the rejected rows can be downloaded"
    # The new dataset is listed and offered by the sidebar filter on the overview.
    at.switch_page("pages/overview.py").run()
    assert_ok(at)
    assert "新评论" in [at.sidebar.multiselect(key="filter_datasets").format_func(o)
                      for o in at.sidebar.multiselect(key="filter_datasets").options]
    assert metric(at, "反馈总数") == "443"


def test_a_refused_file_shows_the_reason(app: AppTest) -> None:
    at = open_import_page(app)
    at.file_uploader(key="import_file").set_value(("noise.csv", bytes(range(256)) * 40, "text/csv")).run()
    assert_ok(at)
    assert any("noise\\.csv" in e.value for e in at.error)  # the name is shown escaped, as text
    assert "import_button" not in [b.key for b in at.button]


def test_delete_dataset_with_confirmation(fresh_db: Path) -> None:
    at = open_import_page(signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT)))
    at.selectbox(key="datasets_pick").select_index(0).run()
    at.button(key="datasets_delete").click().run()
    assert_ok(at)
    assert any("不能撤销" in w.value for w in at.warning)
    at.button(key="datasets_delete_no").click().run()
    assert not any("不能撤销" in w.value for w in at.warning)
    for _ in range(2):
        at.selectbox(key="datasets_pick").select_index(0).run()
        at.button(key="datasets_delete").click().run()
        at.button(key="datasets_delete_yes").click().run()
        assert_ok(at)
        assert any("已删除数据集" in s.value for s in at.success)
    assert any("还没有数据集" in i.value for i in at.info)
    # With every dataset gone the overview explains how to get data (the demo is not rebuilt mid-run).
    at.switch_page("pages/overview.py").run()
    assert_ok(at)
    assert any("还没有任何反馈" in i.value for i in at.info)


PAGE_FILES = sorted(p.name for p in (ROOT / "pages").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("page_file", PAGE_FILES)
def test_every_page_file_is_in_the_navigation_and_runs(app: AppTest, page_file: str) -> None:
    """Smoke test: each file in pages/ is a registered page (no orphans) and renders without an exception."""
    at = app.run()
    at.switch_page(f"pages/{page_file}").run()
    assert_ok(at)
    assert at.title, f"pages/{page_file} shows no title"
    assert at.sidebar.radio(key="lang").value == "zh"  # the frame ran around the page


# --- first start ------------------------------------------------------------------------------------------


@pytest.mark.slow  # builds and annotates the full demo market (~40,000 rows)
def test_first_start_builds_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINGJIAN_DB", str(tmp_path / "empty.duckdb"))
    started = time.perf_counter()
    at = signed_in(AppTest.from_file(APP, default_timeout=180)).run()
    elapsed = time.perf_counter() - started
    assert_ok(at)
    assert int(metric(at, "反馈总数").replace(",", "")) > 1000
    assert len(plotly_charts(at)) == 3
    print(f"first start with demo build: {elapsed:.1f} s")
