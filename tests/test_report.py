"""The periodic CEM report: period arithmetic, figures equal to the analytics functions, a self-contained and
escaped HTML file, a formula-safe XLSX, the CLI's exit codes, the overview's download, and (slow) the planted
demo problems in the weekly report."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import streamlit.testing.v1.app_test as app_test_module
from openpyxl import load_workbook
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from analytics.aspects import aspect_changes
from analytics.cem_index import cem_index
from analytics.filters import Filters
from analytics.metrics import nps_interval
from analytics.nps import nps_total
from analytics.overview import overview_kpis
from analytics.quotes import typical_quotes
from cli import app as cli_app
from components.report_download import KEY_BUILD, KEY_RESULT, BuiltReport
from data.store import connect
from reports.content import ReportContent, build_report
from reports.html import render_html
from reports.period import (
    Period,
    ReportError,
    ensure_has_data,
    last_complete_before,
    last_complete_with_data,
    period_containing,
    resolve_periods,
)
from reports.xlsx import render_xlsx, report_tables
from tests.analytics_fixture import annotated_store
from tests.app_session import signed_in
from tests.test_app import APP, ServerLikePagesManager
from tests.test_pages_exec import write_store

D = dt.date
NOW = dt.datetime(2026, 1, 10, 12, 0)
HOSTILE = "<script>alert(document.cookie)</script>"
FORMULA = "=HYPERLINK(\"http://evil.example\",\"点我\")"


# --- period arithmetic (pure) -------------------------------------------------------------------------------


def test_iso_week_boundaries_and_labels() -> None:
    assert period_containing("week", D(2025, 6, 30)) == Period("week", D(2025, 6, 30), D(2025, 7, 6))
    sunday = period_containing("week", D(2025, 6, 29))
    assert (sunday.start, sunday.end, sunday.label) == (D(2025, 6, 23), D(2025, 6, 29), "2025-W26")
    # ISO years: 2021-01-03 belongs to 2020-W53; 2024-12-30 to 2025-W01.
    assert period_containing("week", D(2021, 1, 3)).label == "2020-W53"
    assert period_containing("week", D(2024, 12, 30)).label == "2025-W01"
    assert sunday.previous() == Period("week", D(2025, 6, 16), D(2025, 6, 22))
    assert sunday.days == 7


def test_calendar_month_boundaries() -> None:
    assert period_containing("month", D(2024, 2, 15)) == Period("month", D(2024, 2, 1), D(2024, 2, 29))
    march = period_containing("month", D(2025, 3, 31))
    assert march.previous() == Period("month", D(2025, 2, 1), D(2025, 2, 28))
    assert period_containing("month", D(2025, 1, 9)).previous().label == "2024-12"
    assert march.days == 31 and march.previous().days == 28


def test_as_of_takes_the_last_period_that_ended_before_it() -> None:
    assert last_complete_before("week", D(2025, 6, 30)).label == "2025-W26"  # a Monday: last week
    assert last_complete_before("week", D(2025, 6, 29)).label == "2025-W25"  # a Sunday: W26 still runs
    assert last_complete_before("month", D(2025, 7, 1)).label == "2025-06"
    assert last_complete_before("month", D(2025, 6, 30)).label == "2025-05"


def test_last_complete_period_relative_to_the_data() -> None:
    # Newest feedback on a Sunday: that week is complete.
    assert last_complete_with_data("week", D(2025, 6, 29), None).label == "2025-W26"
    # On a Monday: that week is running; the week of the newest earlier feedback is taken (a gap is skipped).
    assert last_complete_with_data("week", D(2025, 6, 30), D(2025, 6, 13)).label == "2025-W24"
    assert last_complete_with_data("week", D(2025, 6, 30), None) is None
    assert last_complete_with_data("month", D(2025, 6, 30), None).label == "2025-06"
    assert last_complete_with_data("month", D(2025, 6, 29), D(2025, 5, 2)).label == "2025-05"


def test_unknown_period_kind_is_refused() -> None:
    with pytest.raises(ReportError, match="not one of week, month"):
        period_containing("year", D(2025, 1, 1))


# --- periods on a store -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def annotated() -> tuple[duckdb.DuckDBPyConnection, object]:
    con, fx = annotated_store()  # 2025-01-01 … 2025-06-30 (a Monday), 3 brands
    yield con, fx
    con.close()


def test_periods_of_the_fixture_store(annotated) -> None:
    con, _ = annotated
    week = resolve_periods(con, "week", Filters())
    assert (week.current.label, week.previous.label) == ("2025-W26", "2025-W25")
    month = resolve_periods(con, "month", Filters())
    assert (month.current.label, month.previous.label) == ("2025-06", "2025-05")
    # --as-of wins over the data; the scope's own dates are ignored.
    january = Filters(date_from=D(2025, 1, 1), date_to=D(2025, 1, 31))
    fixed = resolve_periods(con, "week", january, D(2025, 3, 5))
    assert fixed.current == Period("week", D(2025, 2, 24), D(2025, 3, 2))


def test_empty_selection_and_empty_period_are_refused(annotated) -> None:
    con, _ = annotated
    with pytest.raises(ReportError, match="no dated feedback"):
        resolve_periods(con, "week", Filters(brands=("不存在",)))
    periods = resolve_periods(con, "week", Filters(), as_of=D(2026, 1, 1))
    with pytest.raises(ReportError, match="ends on 2025-06-30"):
        ensure_has_data(con, periods, Filters())
    before = resolve_periods(con, "month", Filters(), as_of=D(2024, 6, 1))
    with pytest.raises(ReportError, match="starts on 2025-01-01"):
        ensure_has_data(con, before, Filters())


def test_no_complete_week_yet_is_refused() -> None:
    con = connect(":memory:")
    con.execute("INSERT INTO datasets (dataset_id, name, kind) VALUES (1, 'r', 'reviews')")
    con.execute(
        "INSERT INTO feedback (feedback_id, dataset_id, content_hash, created_at, rating) VALUES"
        " (1, 1, 'a', '2025-06-24 10:00', 5), (2, 1, 'b', '2025-06-25 10:00', 4)"  # a Tuesday and Wednesday
    )
    with pytest.raises(ReportError, match="no complete week yet"):
        resolve_periods(con, "week", Filters())
    assert resolve_periods(con, "week", Filters(), as_of=D(2025, 6, 30)).current.label == "2025-W26"
    con.close()


# --- the report's figures are the analytics functions' figures ----------------------------------------------


@pytest.fixture(scope="module")
def week_report(annotated) -> ReportContent:
    con, _ = annotated
    return build_report(con, "week", Filters(), now=NOW)


def _in(frame: pd.DataFrame, period: Period, column: str = "created_at") -> pd.DataFrame:
    dates = pd.to_datetime(frame[column])
    end = pd.Timestamp(period.end + dt.timedelta(days=1))
    return frame[(dates >= pd.Timestamp(period.start)) & (dates < end)]


def test_headline_figures_equal_the_analytics_functions(annotated, week_report: ReportContent) -> None:
    con, _ = annotated
    current = week_report.current.filters(Filters())
    previous = week_report.previous.filters(Filters())
    expected = cem_index(con, current).iloc[0]  # default weights: estimated on the current period
    assert week_report.index.current == pytest.approx(expected["index"])
    assert week_report.index.low == pytest.approx(expected["low"])
    assert week_report.index.high == pytest.approx(expected["high"])
    assert week_report.index.n == expected["n"]
    assert week_report.nps.current == nps_total(con, current)
    assert week_report.nps.previous == nps_total(con, previous)
    assert week_report.kpis == overview_kpis(con, current)
    assert week_report.kpis_previous == overview_kpis(con, previous)
    # A week's previous period has the same length, so the movers equal aspect_changes exactly.
    reference = aspect_changes(con, current).set_index("aspect")
    movers = week_report.movers.set_index("aspect")
    assert sorted(movers.index) == sorted(reference.index)
    assert movers["change"].to_numpy() == pytest.approx(reference.loc[movers.index, "change"].to_numpy(),
                                                        nan_ok=True)
    assert movers["p_value"].to_numpy() == pytest.approx(reference.loc[movers.index, "p_value"].to_numpy(),
                                                         nan_ok=True)


def test_top_problems_match_a_pandas_reference(annotated, week_report: ReportContent) -> None:
    con, fx = annotated
    mentions = _in(fx.mentions, week_report.current)
    negative = mentions[mentions["polarity"] == "negative"].groupby("aspect_path").size()
    assert week_report.problems, "the fixture has negative mentions in the week"
    top = week_report.problems[0]
    assert top.negative == negative.max() and top.aspect in set(negative[negative == negative.max()].index)
    counts = [p.negative for p in week_report.problems]
    assert counts == sorted(negative, reverse=True)[: len(counts)]
    for problem in week_report.problems:
        assert problem.n == int((mentions["aspect_path"] == problem.aspect).sum())
        bad = mentions[(mentions["aspect_path"] == problem.aspect) & (mentions["polarity"] == "negative")]
        assert set(problem.quotes["feedback_id"]) <= set(bad["feedback_id"])
        assert problem.n_matching == bad["feedback_id"].nunique()
    reference = typical_quotes(con, week_report.current.filters(Filters()), top.aspect, "negative", k=3)
    assert list(top.quotes["feedback_id"]) == list(reference.quotes["feedback_id"])


def test_product_table_matches_a_pandas_reference(annotated, week_report: ReportContent) -> None:
    _, fx = annotated
    rows = _in(fx.feedback, week_report.current)
    table = week_report.products.set_index(["brand", "product"])
    assert len(table) == rows.groupby(["brand", "product"]).ngroups
    for (brand, product), part in rows.groupby(["brand", "product"]):
        row = table.loc[(brand, product)]
        assert row["feedback"] == len(part)
        ratings = part["rating"].dropna().astype(float)
        assert row["rating_n"] == len(ratings)
        if len(ratings):
            assert row["rating"] == pytest.approx(ratings.mean())
        scores = part["nps_score"].dropna().astype(int)
        groups = (int((scores >= 9).sum()), int(scores.between(7, 8).sum()), int((scores <= 6).sum()))
        interval = nps_interval(*groups)
        assert row["nps_n"] == interval.n
        if interval.n:
            assert (row["nps"], row["nps_low"], row["nps_high"]) == pytest.approx(
                (interval.nps, interval.low, interval.high)
            )
    assert list(week_report.products["feedback"]) == sorted(week_report.products["feedback"], reverse=True)


def test_month_report_compares_calendar_months(annotated) -> None:
    con, _ = annotated
    report = build_report(con, "month", Filters(brands=("vivo",)), now=NOW)
    assert (report.current.label, report.previous.label) == ("2025-06", "2025-05")
    assert report.previous.days == 31 and report.current.days == 30
    assert set(report.products["brand"]) == {"vivo"}
    assert report.nps.previous == nps_total(con, report.previous.filters(Filters(brands=("vivo",))))


# --- cases --------------------------------------------------------------------------------------------------


CASES = (
    # title, brand, product, region, status, priority, due_at, created_at, resolved_at
    (HOSTILE, "华为", "Mate 60", "广东", "new", "high", "2026-01-09", "2025-06-24", None),
    (FORMULA, "华为", "nova 12", "北京", "in_progress", "low", "2026-02-01", "2025-06-01", None),
    ("已处理", "华为", "Mate 60", "广东", "resolved", "medium", "2026-01-01", "2025-06-01", "2025-06-25"),
    ("别的品牌", "小米", "14", "四川", "new", "urgent", "2026-01-01", "2025-06-23", None),
)


def _add_cases(con: duckdb.DuckDBPyConnection) -> None:
    """Cases as data/cases.py stores them (naive UTC times); overdue against NOW = 2026-01-10 12:00."""
    con.executemany(
        "INSERT INTO cases (title, brand, product, region, status, priority, due_at, created_at, resolved_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?::TIMESTAMP, ?::TIMESTAMP, ?::TIMESTAMP)",
        [list(row) for row in CASES],
    )


@pytest.fixture(scope="module")
def hostile_report() -> tuple[ReportContent, duckdb.DuckDBPyConnection]:
    """The fixture with hostile text in the week's negative reviews and in case titles."""
    con, _ = annotated_store()
    con.execute(
        "UPDATE feedback SET text = ? || text || ?"
        " WHERE created_at >= '2025-06-23' AND created_at < '2025-06-30'",
        [HOSTILE, FORMULA],
    )
    _add_cases(con)
    yield build_report(con, "week", Filters(brands=("华为",)), now=NOW), con
    con.close()


def test_open_and_overdue_cases_within_the_scope(hostile_report) -> None:
    report, _ = hostile_report
    cases = report.cases
    assert cases.available
    assert (cases.open, cases.overdue, cases.opened_in_period, cases.resolved_in_period) == (2, 1, 1, 1)
    assert list(cases.table["overdue"]) == [True, False]  # overdue first
    assert "别的品牌" not in set(cases.table["title"])  # 小米 is outside the brand filter


# --- HTML ---------------------------------------------------------------------------------------------------


def test_html_is_self_contained_and_complete(week_report: ReportContent) -> None:
    html = render_html(week_report, "zh")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    assert len(html.encode()) < 5_000_000
    sections = ("CEM 体验指数", "NPS 净推荐值", "变化最大的体验方面", "主要问题与典型原声", "分产品表现")
    for text in (*sections, "工单", "2025-W26", "2025-W25"):
        assert text in html, text
    ix = week_report.index
    assert f"{ix.current:,.1f}" in html and f"[{ix.low:,.1f}, {ix.high:,.1f}]" in html
    assert f"n = {ix.n:,}" in html
    nps = week_report.nps.current
    assert f"[{nps.low:,.1f}, {nps.high:,.1f}]" in html and f"回答 n = {nps.n:,}" in html
    for problem in week_report.problems:
        assert problem.aspect in html


def test_html_in_english(week_report: ReportContent) -> None:
    html = render_html(week_report, "en")
    assert '<html lang="en">' in html and "Tingjian CEM weekly report 2025-W26" in html
    assert "Top problems and typical quotes" in html and "主要问题" not in html
    with pytest.raises(ValueError, match="language"):
        render_html(week_report, "fr")


def test_user_text_is_escaped(hostile_report) -> None:
    report, _ = hostile_report
    assert report.problems and any(HOSTILE in t for p in report.problems for t in p.quotes["text"])
    html = render_html(report, "zh")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in html
    assert "href=" not in html.lower()  # the HYPERLINK text is text, not a link


# --- XLSX ---------------------------------------------------------------------------------------------------


def test_xlsx_has_every_table_and_neutralises_formulas(hostile_report) -> None:
    report, _ = hostile_report
    book = load_workbook(io.BytesIO(render_xlsx(report, "zh")))
    assert book.sheetnames == ["概览", "NPS走势", "方面变化", "主要问题", "典型原声", "分产品", "未结工单"]
    tables = report_tables(report, "zh")
    for name, frame in tables.items():
        assert book[name].max_row == len(frame) + 1, name
    cells = [cell for sheet in book for row in sheet.iter_rows() for cell in row]
    texts = [cell for cell in cells if isinstance(cell.value, str)]
    assert all(cell.data_type == "s" for cell in texts)
    assert not any(cell.value.startswith("=") for cell in texts)
    assert any(cell.value == "'" + FORMULA for cell in texts)  # the case title
    quotes = [c.value for c in book["典型原声"]["G"][1:]]
    assert quotes and all(q.startswith(HOSTILE) for q in quotes)
    summary = {row[0].value: row[1].value for row in book["概览"].iter_rows(min_row=2)}
    assert summary["未结工单"] == 2 and summary["已超期"] == 1
    assert summary["CEM 体验指数"] == pytest.approx(report.index.current)
    english = load_workbook(io.BytesIO(render_xlsx(report, "en")))
    assert english.sheetnames[0] == "Summary" and english["Products"]["A1"].value == "Brand"


# --- CLI ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "store.duckdb"
    write_store(path)
    con = connect(path)
    try:
        _add_cases(con)
    finally:
        con.close()
    return path


def _run(*args: str) -> object:
    return CliRunner().invoke(cli_app, ["report", *args])


def test_cli_writes_html_and_xlsx(store_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "weekly.html"
    result = _run("--period", "week", "--out", str(out), "--db", str(store_file))
    assert result.exit_code == 0, result.output
    assert out.exists() and (tmp_path / "weekly.xlsx").exists()
    assert "2025-W26" in result.stdout and "CEM index" in result.stdout
    html = out.read_text(encoding="utf-8")
    assert "听见 CEM 周报 2025-W26" in html and "&lt;script&gt;" in html
    load_workbook(tmp_path / "weekly.xlsx")
    month = tmp_path / "m.html"
    result = _run("--period", "month", "--lang", "en", "--brand", "华为", "--as-of", "2025-04-02",
                  "--out", str(month), "--xlsx", str(tmp_path / "tables.xlsx"), "--db", str(store_file))
    assert result.exit_code == 0, result.output
    assert "Tingjian CEM monthly report 2025-03" in month.read_text(encoding="utf-8")
    assert (tmp_path / "tables.xlsx").exists() and not (tmp_path / "m.xlsx").exists()
    only_html = tmp_path / "only.html"
    assert _run("--out", str(only_html), "--no-xlsx", "--db", str(store_file)).exit_code == 0
    assert not (tmp_path / "only.xlsx").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "year"], "--period 'year' is not one of week, month"),
        (["--as-of", "2025-02-30"], "is not a date"),
        (["--as-of", "2030-01-01"], "no feedback in 2029-W52"),
        (["--lang", "fr"], "--lang 'fr'"),
        (["--brand", "不存在"], "no dated feedback"),
    ],
)
def test_cli_refuses_bad_input(store_file: Path, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "r.html"
    result = _run("--out", str(out), "--db", str(store_file), *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert not out.exists()


def test_cli_refuses_bad_files_and_empty_stores(tmp_path: Path, store_file: Path) -> None:
    result = _run("--out", str(tmp_path / "r.pdf"), "--db", str(store_file))
    assert result.exit_code == 2 and "must end in .html" in result.stderr
    result = _run("--out", str(tmp_path / "nowhere" / "r.html"), "--db", str(store_file))
    assert result.exit_code == 2 and "does not exist" in result.stderr
    result = _run("--out", str(tmp_path / "r.html"), "--db", str(tmp_path / "missing.duckdb"))
    assert result.exit_code == 2 and "no store at" in result.stderr
    assert not (tmp_path / "missing.duckdb").exists()
    empty = tmp_path / "empty.duckdb"
    connect(empty).close()
    result = _run("--out", str(tmp_path / "r.html"), "--db", str(empty))
    assert result.exit_code == 2 and "holds no feedback" in result.stderr


# --- the overview's download --------------------------------------------------------------------------------


@pytest.fixture
def overview(store_file: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    ServerLikePagesManager.runs = 0
    monkeypatch.setattr(app_test_module, "PagesManager", ServerLikePagesManager)
    monkeypatch.setenv("TINGJIAN_DB", str(store_file))
    return AppTest.from_file(APP, default_timeout=90)


def _build_on_overview(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("pages/overview.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.get("download_button"), "nothing is built before the click"
    at.button(key=KEY_BUILD).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_overview_builds_the_report_for_download(overview: AppTest) -> None:
    at = _build_on_overview(signed_in(overview))
    assert len(at.get("download_button")) == 2
    built = at.session_state[KEY_RESULT]
    assert isinstance(built, BuiltReport) and built.label == "2025-W26"
    assert built.html.startswith(b"<!DOCTYPE html>") and "听见 CEM 周报".encode() in built.html
    assert load_workbook(io.BytesIO(built.xlsx)).sheetnames[0] == "概览"
    assert any("2025-W26" in s.value for s in at.success)


def test_restricted_user_report_holds_only_their_brand(overview: AppTest) -> None:
    at = _build_on_overview(signed_in(overview, "huawei"))
    html = at.session_state[KEY_RESULT].html.decode("utf-8")
    assert "华为" in html
    leaks = [html[max(0, m.start() - 200) : m.end() + 40] for m in re.finditer("小米|vivo", html)]
    assert not leaks  # the other brands' products, quotes and cases


# --- the real demo (slow) -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_weekly_report_on_the_demo_names_the_planted_problems(tmp_path: Path) -> None:
    from data.demo import build_demo
    from data.demo_truth import OVERHEATING_PRODUCT, SERVICE_BRAND
    from models.annotation_store import annotate_dataset

    path = tmp_path / "demo.duckdb"
    con = connect(path)
    try:
        build_demo(con)
        annotate_dataset(con)
        report = build_report(con, "week", Filters(), now=NOW)
        ours = build_report(con, "week", Filters(brands=(SERVICE_BRAND,)), now=NOW)
    finally:
        con.close()
    assert report.current.label == "2025-W26"  # the demo ends on Monday 2025-06-30
    products = report.products.set_index("product")
    assert products.loc[OVERHEATING_PRODUCT, "top_problem"] == "电池/发热"
    assert "客服/售后" in [p.aspect for p in ours.problems[:3]]
    assert set(ours.products["brand"]) == {SERVICE_BRAND}
    html = render_html(report)
    assert "电池/发热" in html and OVERHEATING_PRODUCT in html
    out = path.parent / "report.html"
    result = _run("--period", "week", "--out", str(out), "--db", str(path))
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000 and (path.parent / "report.xlsx").exists()
    assert not math.isnan(report.index.current) and np.isfinite(report.nps.current.nps)
