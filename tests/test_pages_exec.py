"""AppTests of the executive screens (Overview's CEM index and aspect changes, NPS 趋势, 驱动因素) on a small
annotated store: the analytics fixture (reviews and survey answers with aspect mentions) plus a constructed
华为 after-sales survey whose NPS falls sharply in 2025-01, the demo market's planted story."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.testing.v1 import AppTest

from components import charts_exec
from data.store import connect
from tests.analytics_fixture import _build
from tests.app_session import signed_in
from tests.test_app import ServerLikePagesManager

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 60
DROP_MONTH = "2025-01"
# Per month of the after-sales survey: (promoters, passives, detractors) before and from the drop month.
BEFORE = (50, 20, 10)  # NPS +50
AFTER = (20, 20, 40)  # NPS −25


def after_sales_survey(first_id: int) -> pd.DataFrame:
    """华为 after-sales answers, 2024-10 … 2025-03, with the drop planted in 2025-01."""
    rows = []
    for month in pd.period_range("2024-10", "2025-03", freq="M"):
        counts = AFTER if str(month) >= DROP_MONTH else BEFORE
        scores = [10] * counts[0] + [8] * counts[1] + [3] * counts[2]
        for k, score in enumerate(scores):
            i = first_id + len(rows)
            rows.append(
                {
                    "feedback_id": i,
                    "dataset_id": 3,
                    "source_row": len(rows) + 1,
                    "content_hash": f"as{i}",
                    "channel": "售后回访",
                    "brand": "华为",
                    "product": "Mate 60",
                    "created_at": month.start_time + pd.Timedelta(hours=9 * k),
                    "rating": None,
                    "nps_score": score,
                    "text": f"售后回访{i}：客服{'很差' if score <= 6 else '不错'}",
                    "region": "广东",
                    "store": "店0",
                    "customer_id": None,
                    "extra": None,
                }
            )
    return pd.DataFrame(rows)


def write_store(path: Path) -> None:
    fx = _build(3, 900, 600)
    survey = after_sales_survey(first_id=100_000).astype({"rating": "Int8", "nps_score": "Int8"})
    feedback = pd.concat([fx.feedback, survey[fx.feedback.columns]], ignore_index=True)
    con = connect(path)
    try:
        con.execute(
            "INSERT INTO datasets (dataset_id, name, kind) VALUES "
            "(1, '评论', 'reviews'), (2, '问卷', 'survey'), (3, '售后回访', 'survey')"
        )
        for table, frame in (
            ("feedback", feedback),
            ("aspect_mentions", fx.mentions),
            ("feedback_sentiment", fx.sentiment),
            ("products", fx.products),
        ):
            con.register("_frame", frame)
            columns = ", ".join(frame.columns)
            con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _frame")
            con.unregister("_frame")
    finally:
        con.close()


@pytest.fixture(autouse=True)
def server_like_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    ServerLikePagesManager.runs = 0
    monkeypatch.setattr(app_test_module, "PagesManager", ServerLikePagesManager)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exec") / "exec.duckdb"
    write_store(path)
    return path


@pytest.fixture
def app(store: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("TINGJIAN_DB", str(store))
    return signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT))


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def values(data: list | dict) -> list:
    """Plotly serialises numeric arrays as ``{"dtype": ..., "bdata": base64}``; decode them."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def axis_title(spec: dict, axis: str) -> str:
    return str(spec["layout"].get(axis, {}).get("title", {}).get("text", ""))


def chart_with(at: AppTest, axis: str, text: str) -> dict:
    found = [s for s in specs(at) if text in axis_title(s, axis)]
    assert found, f"no chart with {axis} title {text!r}: {[axis_title(s, axis) for s in specs(at)]}"
    return found[0]


def marker_months(spec: dict, direction: str) -> list[str]:
    """Months (YYYY-MM) of the significance markers of one direction in a figure."""
    traces = [tr for tr in spec["data"] if tr.get("meta") == f"significance_{direction}"]
    assert traces, "no significance marker trace"
    return sorted({str(x)[:7] for tr in traces for x in values(tr.get("x", []))})


def open_page(app: AppTest, page: str, **params: str) -> AppTest:
    app.query_params = dict(params)
    at = app.switch_page(page).run()
    assert_ok(at)
    return at


# --- overview -----------------------------------------------------------------------------------------------


def test_overview_shows_cem_thermometer_brands_and_moved_aspects(app: AppTest) -> None:
    at = app.run()
    assert_ok(at)
    thermometer = chart_with(at, "yaxis", "CEM 指数")
    index = values(thermometer["data"][0]["y"])[0]
    assert 0 < index < 100
    brands = chart_with(at, "xaxis", "CEM 指数")
    labels = values(brands["data"][0]["y"])
    assert len(labels) == 3 and all("n=" in label for label in labels)  # 华为, 小米, vivo
    moved = chart_with(at, "xaxis", "净情感变化")
    assert all("n=" in label for label in values(moved["data"][0]["y"]))
    assert any("95% 区间" in c.value and "n = " in c.value and "方面提及" in c.value for c in at.caption)
    assert any("上一期" in c.value and "p = " in c.value for c in at.caption)
    assert any(m.label.startswith("近期 CEM 指数") for m in at.metric)


def test_overview_brand_filter_moves_the_index_and_marks_the_drop(app: AppTest) -> None:
    at = app.run()
    before = values(chart_with(at, "yaxis", "CEM 指数")["data"][0]["y"])[0]
    at.sidebar.multiselect(key="filter_brands").set_value(["vivo"]).run()
    assert_ok(at)
    after = values(chart_with(at, "yaxis", "CEM 指数")["data"][0]["y"])[0]
    assert after != before
    at.sidebar.multiselect(key="filter_brands").set_value(["华为"]).run()
    assert_ok(at)
    trend = chart_with(at, "yaxis", "NPS")
    assert DROP_MONTH in marker_months(trend, "down")


def test_overview_in_english(app: AppTest) -> None:
    at = app.run()
    at.sidebar.radio(key="lang").set_value("en").run()
    assert_ok(at)
    chart_with(at, "yaxis", "CEM index")
    assert any(s.value == "CEM customer-experience index" for s in at.subheader)


# --- NPS trend ---------------------------------------------------------------------------------------------


def test_nps_page_marks_the_after_sales_drop_and_shows_detractors(app: AppTest) -> None:
    at = open_page(app, "pages/nps.py", brands="华为")
    assert at.title[0].value == "NPS 趋势"
    trend = chart_with(at, "yaxis", "NPS")
    assert DROP_MONTH in marker_months(trend, "down")
    assert DROP_MONTH not in marker_months(trend, "up")
    # The verbatims open on the newest significant drop (only 2025-01 here) and hold detractors only.
    assert at.selectbox(key="nps_verbatim_period").value.startswith(DROP_MONTH)
    table = at.dataframe[-1].value
    assert len(table) > 0 and table["打分"].max() <= 6
    changes = at.dataframe[0].value
    assert DROP_MONTH in set(changes["时间"])


def test_nps_page_controls_change_the_figure(app: AppTest) -> None:
    at = open_page(app, "pages/nps.py")
    monthly = chart_with(at, "yaxis", "NPS")
    at.segmented_control(key="nps_period").set_value("quarter").run()
    assert_ok(at)
    quarterly = chart_with(at, "yaxis", "NPS")
    assert quarterly != monthly
    at.segmented_control(key="nps_split").set_value("channel").run()
    assert_ok(at)
    split = chart_with(at, "yaxis", "NPS")
    lines = [tr for tr in split["data"] if tr.get("mode") == "lines+markers"]
    assert {tr["name"].split(" (")[0] for tr in lines} == {"问卷", "售后回访"}
    at.segmented_control(key="nps_verbatim_group").set_value("promoters").run()
    assert_ok(at)
    assert at.dataframe[-1].value["打分"].min() >= 9


def test_nps_page_in_english_and_empty_selection(app: AppTest) -> None:
    at = open_page(app, "pages/nps.py", lang="en")
    assert at.title[0].value == "NPS trend"
    at.sidebar.multiselect(key="filter_datasets").set_value([1]).run()  # reviews only: no NPS answers
    assert_ok(at)
    assert not list(at.get("plotly_chart"))
    assert any("no dated NPS answers" in i.value for i in at.info)


# --- key drivers -------------------------------------------------------------------------------------------


def test_drivers_page_draws_the_quadrant(app: AppTest) -> None:
    at = open_page(app, "pages/drivers.py")
    assert at.title[0].value == "驱动因素"
    quadrant = chart_with(at, "yaxis", "重要性")
    names = {str(x) for tr in quadrant["data"] for x in tr.get("text", [])}
    assert {"电池", "屏幕", "拍照", "客服"} <= names
    assert not at.warning
    table = at.dataframe[0].value
    assert table["提及评论数 n"].min() > 0
    assert any("结果变量：NPS" in c.value for c in at.caption)


def test_drivers_outcome_switch_and_too_small_note(app: AppTest, store: Path) -> None:
    at = open_page(app, "pages/drivers.py")
    nps = chart_with(at, "yaxis", "重要性")
    at.segmented_control(key="drivers_outcome").set_value("rating").run()
    assert_ok(at)
    rating = chart_with(at, "yaxis", "重要性")
    assert rating != nps
    assert any("星级（1–5）" in c.value for c in at.caption)
    # One week of one model's reviews is far below the 100 reviews needed: the page says so.
    small = open_page(signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT)), "pages/drivers.py",
                      products="Y100", **{"from": "2025-03-01", "to": "2025-03-07"})
    assert any("样本太小" in w.value for w in small.warning)


def test_drivers_page_in_english(app: AppTest) -> None:
    at = open_page(app, "pages/drivers.py", lang="en")
    assert at.title[0].value == "Key drivers"
    chart_with(at, "yaxis", "Importance")


# --- chart builders ----------------------------------------------------------------------------------------


def test_significance_markers_follow_the_test_column() -> None:
    periods = pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"])
    trend = pd.DataFrame(
        {
            "period": periods, "segment": [None] * 3, "n": [100, 100, 100], "nps": [40.0, -10.0, 30.0],
            "low": [30.0, -20.0, 20.0], "high": [50.0, 0.0, 40.0], "small_sample": [False] * 3,
            "change": [np.nan, -50.0, 40.0], "p_value": [np.nan, 0.001, 0.002],
            "significant": [False, True, True],
        }
    )
    spec = json.loads(charts_exec.nps_significance_figure(trend).to_json())
    assert marker_months(spec, "down") == ["2025-02"]
    assert marker_months(spec, "up") == ["2025-03"]
    quiet = trend.assign(significant=False)
    spec = json.loads(charts_exec.nps_significance_figure(quiet).to_json())
    assert marker_months(spec, "down") == [] and marker_months(spec, "up") == []


def _click_script() -> None:
    from types import SimpleNamespace

    import pandas as pd
    import streamlit as st

    from components import nps_views

    trend = pd.DataFrame({"period": pd.to_datetime(["2025-01-01", "2025-02-01"])})
    x = st.session_state.get("click_x")
    event = SimpleNamespace(selection=SimpleNamespace(points=[{"x": x}] if x else []))
    nps_views.follow_click(event, trend)


def test_a_click_on_the_trend_picks_the_verbatims_period_once() -> None:
    at = AppTest.from_function(_click_script, default_timeout=TIMEOUT)
    at.session_state["click_x"] = "2025-02-01"
    at.run()
    assert_ok(at)
    assert at.session_state["nps_verbatim_period"] == "2025-02-01T00:00:00"
    # The user then picks another period in the select box; the chart still holds the old click.
    at.session_state["nps_verbatim_period"] = "2025-01-01T00:00:00"
    at.run()
    assert at.session_state["nps_verbatim_period"] == "2025-01-01T00:00:00"
