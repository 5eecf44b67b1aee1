"""AppTests of 行动 (the case queue) and 告警规则 (the rule editor), and 创建工单 on a quote."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import alert_rules as rules_model
from data import cases as cs
from data.store import connect
from tests.app_session import signed_in
from tests.fixture_store import build_store
from tests.test_app import APP, assert_ok, server_like_pages  # noqa: F401 (autouse fixture)

TIMEOUT = 60
LONG_AGO = dt.datetime(2025, 1, 1, 8, 0)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A fixture store with three cases: one overdue (华为), one fresh (小米), one resolved."""
    path = tmp_path / "actions.duckdb"
    build_store(path)
    con = connect(path)
    try:
        fid = int(con.execute("SELECT min(feedback_id) FROM feedback WHERE brand = '华为'").fetchall()[0][0])
        ids = {
            "overdue": cs.create_case(
                con,
                title="逾期的回访",
                actor="demo",
                feedback_id=fid,
                sla_hours=1,
                priority="high",
                now=LONG_AGO,
            ),
            "fresh": cs.create_case(
                con, title="新的工单", actor="demo", brand="小米", sla_hours=24 * 365 * 20
            ),
            "done": cs.create_case(con, title="已处理", actor="demo", brand="华为"),
        }
        cs.transition(con, ids["done"], "resolved", "demo")
    finally:
        con.close()
    monkeypatch.setenv("TINGJIAN_DB", str(path))
    ids["feedback"] = fid
    ids["path"] = str(path)  # type: ignore[assignment]
    return ids


def open_page(page: str, user: str = "demo") -> AppTest:
    at = signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT), user).run()
    at.switch_page(page).run()
    assert_ok(at)
    return at


def queue_frame(at: AppTest):
    """The queue: the page's first table (AppTest does not report a dataframe's key)."""
    assert at.dataframe, "no queue table"
    return at.dataframe[0].value


def store_con(store: dict[str, int]):
    return connect(str(store["path"]))


def test_queue_shows_open_cases_with_overdue_marked(store) -> None:
    at = open_page("pages/actions.py")
    assert at.title[0].value == "行动"
    queue = queue_frame(at)
    assert queue["编号"].tolist() == [store["overdue"], store["fresh"]]  # open only, overdue first
    assert queue["逾期"].tolist() == ["⚠ 逾期", ""]
    assert any("其中逾期 1 件" in c.value for c in at.caption)
    at.toggle(key="actions_overdue").set_value(True).run()
    assert queue_frame(at)["编号"].tolist() == [store["overdue"]]
    at.toggle(key="actions_overdue").set_value(False).run()
    at.multiselect(key="actions_status").set_value(["resolved"]).run()
    assert queue_frame(at)["编号"].tolist() == [store["done"]]


def test_status_change_writes_the_audit_trail(store) -> None:
    at = open_page("pages/actions.py")
    at.selectbox(key="actions_case").set_value(store["overdue"]).run()
    assert_ok(at)
    assert any("逾期的回访" in s.value for s in at.subheader)
    assert any("该工单已逾期" in e.value for e in at.error)
    prefix = f"case_{store['overdue']}_"
    status = next(s for s in at.selectbox if s.key and s.key.startswith(prefix) and s.key.endswith("_status"))
    status.set_value("in_progress")
    next(
        t for t in at.text_input if t.key and t.key.startswith(prefix) and t.key.endswith("_assignee")
    ).input("王五")
    next(t for t in at.text_area if t.key and t.key.startswith(prefix)).input("已电话联系")
    next(b for b in at.button if b.label == "保存").click().run()
    assert_ok(at)
    con = store_con(store)
    try:
        case = cs.get_case(con, store["overdue"])
        events = cs.case_events(con, store["overdue"])
    finally:
        con.close()
    assert case.status == "in_progress" and case.assignee == "王五"
    assert events["action"].tolist() == ["created", "status", "assignee", "note"]
    assert set(events["actor"]) == {"demo"}
    trail = at.dataframe[-1].value  # the audit trail: the last table of the page
    assert "改状态" in trail["操作"].tolist() and "处理中" in trail["新值"].tolist()


def test_create_case_by_hand(store) -> None:
    at = open_page("pages/actions.py")
    at.text_input(key="actions_new_title").input("门店投诉跟进")
    at.text_input(key="actions_new_brand").input("华为")
    next(b for b in at.button if b.label == "创建").click().run()
    assert_ok(at)
    con = store_con(store)
    try:
        made = cs.list_cases(con, brand="华为", status="new")
    finally:
        con.close()
    assert "门店投诉跟进" in made["title"].tolist()


def test_restricted_viewer_cannot_open_the_queue(store) -> None:
    at = signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT), "huawei").run()
    at.switch_page("pages/actions.py").run()
    assert not at.dataframe and "行动" not in [t.value for t in at.title]


def test_rules_page_lists_adds_and_edits_rules(store) -> None:
    at = open_page("pages/alert_rules.py")
    table = at.dataframe[0].value  # the rule list
    assert len(table) == len(rules_model.DEFAULT_RULES)
    at.text_input(key="rules_name").input("冒烟投诉")
    at.selectbox(key="rules_kind").set_value("keyword").run()
    at.text_input(key="rules_param_keywords").input("")
    at.button(key="rules_save").click().run()
    assert any("needs at least one entry" in e.value or "至少需要一项" in e.value for e in at.error)
    at.text_input(key="rules_param_keywords").input("冒烟, 起火")
    at.button(key="rules_save").click().run()
    assert_ok(at)
    con = store_con(store)
    try:
        rule = next(r for r in rules_model.load_rules(con) if r.name == "冒烟投诉")
    finally:
        con.close()
    assert rule.kind == "keyword" and rule.params["keywords"] == ["冒烟", "起火"]
    assert at.selectbox(key="rules_pick").value == rule.rule_id
    at.text_input(key="rules_name").input("冒烟起火投诉")
    at.checkbox(key="rules_enabled").uncheck()
    at.button(key="rules_save").click().run()
    assert_ok(at)
    con = store_con(store)
    try:
        edited = rules_model.get_rule(con, int(rule.rule_id or 0))
    finally:
        con.close()
    assert edited.name == "冒烟起火投诉" and not edited.enabled


def test_run_now_shows_what_the_rules_did(store) -> None:
    at = open_page("pages/alert_rules.py")
    at.button(key="rules_run").click().run()
    assert_ok(at)
    assert any(s.value.startswith("完成：新告警") for s in at.success)
    results = at.dataframe[1].value  # below the rule list: what each rule did
    assert len(results) == len(rules_model.DEFAULT_RULES)


def search_page(user: str) -> AppTest:
    at = open_page("pages/quotes.py", user)
    at.segmented_control(key="quotes_mode").set_value("search").run()
    at.text_input(key="quotes_query").input("续航").run()
    assert_ok(at)
    return at


def test_case_from_a_quote(store) -> None:
    at = search_page("demo")
    buttons = [b for b in at.button if b.label == "创建工单"]
    assert buttons, "no 创建工单 button on the quotes"
    feedback_id = int(buttons[0].key.rsplit("_", 1)[1])
    buttons[0].click().run()
    assert_ok(at)
    next(b for b in at.button if b.label == "创建").click().run()
    assert_ok(at)
    assert any("已创建工单" in s.value for s in at.success)
    con = store_con(store)
    try:
        linked = cs.list_cases(con)
    finally:
        con.close()
    assert feedback_id in linked["feedback_id"].tolist()


def test_viewer_sees_no_case_button_on_quotes(store) -> None:
    at = search_page("huawei")
    assert not [b for b in at.button if b.label == "创建工单"]
