"""Cases (data/cases.py): creation, transitions, audit trail, SLA and overdue, permission WHERE, export."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from analytics.alerts import case_scope
from analytics.filters import Filters
from data import cases as cs
from data.export import csv_bytes
from data.ingest import delete_dataset, ingest_frame
from data.scope import Scope
from data.store import connect

T0 = dt.datetime(2026, 1, 5, 9, 0, 0)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = connect(":memory:")
    frame = pd.DataFrame(
        {
            "text": ["手机发热严重", "售后推三阻四", "物流太慢了"],
            "nps_score": [3, 5, 2],
            "brand": ["vivo", "华为", "小米"],
            "product": ["X100 Pro", "Mate 60", "14"],
            "region": ["广东", "北京", "上海"],
            "channel": ["京东", "天猫", "京东"],
            "created_at": ["2025-06-01", "2025-06-02", "2025-06-03"],
        }
    )
    ingest_frame(
        con, frame, name="survey", kind="survey", mapping={c: c for c in frame.columns}, source_file="t.csv"
    )
    yield con
    con.close()


def feedback_id(con: duckdb.DuckDBPyConnection, brand: str) -> int:
    return int(con.execute("SELECT feedback_id FROM feedback WHERE brand = ?", [brand]).fetchall()[0][0])


def test_case_from_feedback_copies_its_dimensions_and_sets_due_from_sla(con) -> None:
    fid = feedback_id(con, "vivo")
    case_id = cs.create_case(con, title="回访", actor="alice", feedback_id=fid, sla_hours=24, now=T0)
    case = cs.get_case(con, case_id)
    assert (case.brand, case.product, case.region, case.channel) == ("vivo", "X100 Pro", "广东", "京东")
    assert case.status == "new" and case.created_by == "alice"
    assert case.due_at == T0 + dt.timedelta(hours=24)
    events = cs.case_events(con, case_id)
    assert events["action"].tolist() == ["created"]
    assert events.iloc[0]["actor"] == "alice" and events.iloc[0]["new_value"] == "new"


def test_every_change_is_one_event_with_old_and_new_value(con) -> None:
    case_id = cs.create_case(con, title="t", actor="alice", brand="华为", now=T0)
    cs.update_case(
        con, case_id, "bob", status="in_progress", assignee="carol", priority="high", note="已联系客户"
    )
    events = cs.case_events(con, case_id).set_index("action")
    assert events.loc["status", ["old_value", "new_value", "actor"]].tolist() == ["new", "in_progress", "bob"]
    assert pd.isna(events.loc["assignee", "old_value"]) and events.loc["assignee", "new_value"] == "carol"
    assert events.loc["priority", ["old_value", "new_value"]].tolist() == ["medium", "high"]
    assert events.loc["note", "note"] == "已联系客户"
    before = len(cs.case_events(con, case_id))
    cs.update_case(con, case_id, "bob", status="in_progress", assignee="carol", priority="high")  # no change
    assert len(cs.case_events(con, case_id)) == before
    cs.assign(con, case_id, None, "bob")  # unassign
    assert cs.get_case(con, case_id).assignee is None
    last = cs.case_events(con, case_id).iloc[-1]
    assert (last["field"], last["old_value"]) == ("assignee", "carol") and pd.isna(last["new_value"])


def test_transitions_allowed_and_refused(con) -> None:
    case_id = cs.create_case(con, title="t", actor="a", now=T0)
    with pytest.raises(cs.CaseError, match="status 'bogus' is not one of"):
        cs.transition(con, case_id, "bogus", "a")
    cs.transition(con, case_id, "in_progress", "a")
    n_events = len(cs.case_events(con, case_id))
    with pytest.raises(cs.CaseError, match="in_progress; it can move to closed, resolved, not to new"):
        cs.transition(con, case_id, "new", "a", note="should not be written")
    assert cs.get_case(con, case_id).status == "in_progress"
    assert len(cs.case_events(con, case_id)) == n_events  # the refused change wrote nothing
    resolved = cs.transition(con, case_id, "resolved", "a")
    assert resolved.resolved_at is not None
    reopened = cs.transition(con, case_id, "in_progress", "a")
    assert reopened.resolved_at is None
    closed = cs.transition(con, case_id, "closed", "a")
    assert closed.status == "closed" and closed.resolved_at is not None


def test_bad_input_is_a_clear_error(con) -> None:
    with pytest.raises(cs.CaseError, match="title must not be empty"):
        cs.create_case(con, title="  ", actor="a")
    with pytest.raises(cs.CaseError, match="priority 'asap'"):
        cs.create_case(con, title="t", actor="a", priority="asap")
    with pytest.raises(cs.CaseError, match="feedback #999999 does not exist"):
        cs.create_case(con, title="t", actor="a", feedback_id=999999)
    with pytest.raises(cs.CaseError, match="case #4242 does not exist"):
        cs.transition(con, 4242, "closed", "a")
    with pytest.raises(cs.CaseError, match="the note is empty"):
        cs.add_note(con, cs.create_case(con, title="t", actor="a"), "   ", "a")
    with pytest.raises(cs.CaseError, match="SLA must be a positive"):
        cs.create_case(con, title="t", actor="a", sla_hours=0)


def test_overdue_only_while_open(con) -> None:
    late = cs.create_case(con, title="late", actor="a", sla_hours=1, now=T0)
    fresh = cs.create_case(con, title="fresh", actor="a", sla_hours=1000, now=T0)
    done = cs.create_case(con, title="done", actor="a", sla_hours=1, now=T0)
    cs.transition(con, done, "resolved", "a")
    now = T0 + dt.timedelta(hours=2)
    overdue = cs.list_cases(con, overdue=True, now=now)
    assert overdue["case_id"].tolist() == [late]
    everything = cs.list_cases(con, now=now).set_index("case_id")
    assert everything.loc[late, "overdue"] and not everything.loc[fresh, "overdue"]
    assert not everything.loc[done, "overdue"]
    assert cs.list_cases(con, now=now).iloc[0]["case_id"] == late  # overdue first
    assert cs.case_counts(con, now=now) == {
        "new": 2,
        "in_progress": 0,
        "resolved": 1,
        "closed": 0,
        "open": 2,
        "overdue": 1,
    }
    assert cs.get_case(con, late).is_overdue(now) and not cs.get_case(con, done).is_overdue(now)


def test_list_filters(con) -> None:
    a = cs.create_case(
        con, title="a", actor="x", brand="华为", product="Mate 60", priority="high", assignee="li"
    )
    b = cs.create_case(con, title="b", actor="x", brand="vivo", priority="low")
    cs.transition(con, b, "in_progress", "x")
    assert cs.list_cases(con, status="in_progress")["case_id"].tolist() == [b]
    assert cs.list_cases(con, priority=["high", "urgent"])["case_id"].tolist() == [a]
    assert cs.list_cases(con, assignee="li")["case_id"].tolist() == [a]
    assert cs.list_cases(con, assignee="")["case_id"].tolist() == [b]  # unassigned
    assert cs.list_cases(con, brand="vivo")["case_id"].tolist() == [b]
    assert cs.list_cases(con, product="Mate 60")["case_id"].tolist() == [a]
    with pytest.raises(cs.CaseError, match="status 'open'"):
        cs.list_cases(con, status="open")
    assert cs.assignees(con) == ["li"]


def test_permission_where_from_filters(con) -> None:
    ids = {
        brand: cs.create_case(con, title=brand, actor="x", feedback_id=feedback_id(con, brand))
        for brand in ("vivo", "华为", "小米")
    }
    huawei_only = Filters().within(Scope(brands=("华为",)))
    # Dates and datasets of the page do not hide cases; the user's scope always applies.
    scoped = huawei_only.with_(date_from=dt.date(2030, 1, 1), dataset_ids=(99,))
    assert cs.list_cases(con, scope=case_scope(scoped))["case_id"].tolist() == [ids["华为"]]
    assert cs.case_counts(con, case_scope(huawei_only))["open"] == 1
    # A sidebar brand outside the scope gives nothing, never other rows.
    assert cs.list_cases(con, scope=case_scope(huawei_only.with_(brands=("vivo",)))).empty
    by_region = case_scope(Filters(regions=("上海",)))
    assert cs.list_cases(con, scope=by_region)["case_id"].tolist() == [ids["小米"]]
    assert cs.list_cases(con, scope=case_scope(Filters().within(Scope.nothing()))).empty


def test_cases_survive_dataset_deletion_and_say_the_link_dangles(con) -> None:
    fid = feedback_id(con, "华为")
    case_id = cs.create_case(con, title="回访", actor="a", feedback_id=fid)
    row = cs.list_cases(con).set_index("case_id").loc[case_id]
    assert row["feedback_text"] == "售后推三阻四" and not row["feedback_missing"]
    delete_dataset(con, "survey")
    row = cs.list_cases(con).set_index("case_id").loc[case_id]
    assert row["feedback_missing"] and row["feedback_id"] == fid
    assert len(cs.case_events(con, case_id)) == 1


def test_export_is_formula_safe(con) -> None:
    cs.create_case(con, title='=HYPERLINK("http://x")', actor="a", note="n")
    data = csv_bytes(cs.export_frame(cs.list_cases(con))).decode("utf-8-sig")
    assert "'=HYPERLINK" in data
    assert data.splitlines()[0].startswith("case_id,title,status")
