"""The 行动 page's parts: queue filters, the queue table (overdue rows highlighted), the case detail panel
(feedback, status/assignee/priority/note form, audit trail) and the export buttons.

Cases change with every click, so they are read fresh on each run (small tables; no ``st.cache_data``).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd
import streamlit as st

from components import cache, downloads
from components.actions_ui import current_actor, priority_label, status_label
from components.i18n import register, t
from components.safe_text import escape_markdown
from data import cases as case_store

register(
    {
        "queue.status": ("状态", "Status"),
        "queue.priority": ("优先级", "Priority"),
        "queue.assignee": ("处理人", "Assignee"),
        "queue.assignee.all": ("全部", "Everyone"),
        "queue.assignee.none": ("未分配", "Unassigned"),
        "queue.overdue": ("只看逾期", "Overdue only"),
        "queue.counts": (
            "待处理 {open} 件，其中逾期 {overdue} 件；已解决 {resolved} 件，已关闭 {closed} 件。",
            "{open} open, {overdue} of them overdue; {resolved} resolved, {closed} closed.",
        ),
        "queue.empty": ("没有符合条件的工单。", "No case matches."),
        "queue.shown": ("显示 {n} 件工单（逾期的标红）。", "{n} cases (overdue ones in red)."),
        "queue.col.case_id": ("编号", "No."),
        "queue.col.title": ("标题", "Title"),
        "queue.col.status": ("状态", "Status"),
        "queue.col.priority": ("优先级", "Priority"),
        "queue.col.assignee": ("处理人", "Assignee"),
        "queue.col.due_at": ("截止时间 (UTC)", "Due (UTC)"),
        "queue.col.overdue": ("逾期", "Overdue"),
        "queue.col.brand": ("品牌", "Brand"),
        "queue.col.product": ("型号", "Model"),
        "queue.col.channel": ("渠道", "Channel"),
        "queue.col.created_at": ("创建时间 (UTC)", "Created (UTC)"),
        "queue.overdue_mark": ("⚠ 逾期", "⚠ overdue"),
        "queue.pick": ("查看工单", "Open case"),
        "queue.csv": ("导出 CSV", "Export CSV"),
        "queue.xlsx": ("导出 Excel", "Export Excel"),
        "detail.meta": (
            "{status} · 优先级 {priority} · 处理人 {assignee} · 截止 {due} · 创建 {created}（{creator}）",
            "{status} · priority {priority} · assignee {assignee} · due {due} · "
            "created {created} ({creator})",
        ),
        "detail.overdue": ("该工单已逾期。", "This case is overdue."),
        "detail.where": ("范围：{what}", "Scope: {what}"),
        "detail.feedback": (
            "关联的客户反馈 #{id}（{date} · {channel}）",
            "Linked feedback #{id} ({date} · {channel})",
        ),
        "detail.feedback_missing": (
            "关联的反馈 #{id} 已不存在（所属数据集已被删除），工单保留。",
            "The linked feedback #{id} no longer exists (its dataset was deleted); the case is kept.",
        ),
        "detail.no_feedback": (
            "该工单不关联单条反馈（由汇总规则或手工创建）。",
            "This case is not linked to one piece of feedback (aggregate rule or by hand).",
        ),
        "detail.update": ("更新工单", "Update the case"),
        "detail.status": ("状态", "Status"),
        "detail.assignee": ("处理人", "Assignee"),
        "detail.priority": ("优先级", "Priority"),
        "detail.note": ("备注（写入处理记录）", "Note (goes into the audit trail)"),
        "detail.save": ("保存", "Save"),
        "detail.saved": ("已保存。", "Saved."),
        "detail.failed": ("无法保存：{message}", "Cannot save: {message}"),
        "detail.trail": ("处理记录", "Audit trail"),
        "detail.none": ("—", "—"),
        "trail.event_at": ("时间 (UTC)", "Time (UTC)"),
        "trail.actor": ("操作人", "Actor"),
        "trail.action": ("操作", "Action"),
        "trail.old_value": ("原值", "Old value"),
        "trail.new_value": ("新值", "New value"),
        "trail.note": ("说明", "Note"),
        "trail.created": ("创建", "created"),
        "trail.status": ("改状态", "status"),
        "trail.assignee": ("分配", "assigned"),
        "trail.priority": ("改优先级", "priority"),
        "trail.due_at": ("改截止时间", "due date"),
        "trail.title": ("改标题", "title"),
        "trail.note_action": ("备注", "note"),
        "trail.alert": ("新告警", "new alert"),
    }
)

KEY_STATUS, KEY_PRIORITY = "actions_status", "actions_priority"
KEY_ASSIGNEE, KEY_OVERDUE, KEY_PICK = "actions_assignee", "actions_overdue", "actions_case"
ALL, UNASSIGNED = "__all__", "__none__"
QUEUE_COLUMNS = (
    "case_id",
    "title",
    "status",
    "priority",
    "assignee",
    "due_at",
    "overdue",
    "brand",
    "product",
    "channel",
    "created_at",
)


@dataclass(frozen=True)
class QueueFilters:
    statuses: tuple[str, ...]
    priorities: tuple[str, ...]
    assignee: str
    overdue_only: bool


def queue_filters(con: duckdb.DuckDBPyConnection) -> QueueFilters:
    """The filter row above the queue (stable keys ``actions_*``); open cases by default."""
    cols = st.columns([3, 3, 2, 2])
    statuses = cols[0].multiselect(
        t("queue.status"),
        case_store.STATUSES,
        default=list(case_store.OPEN_STATUSES),
        format_func=status_label,
        key=KEY_STATUS,
    )
    priorities = cols[1].multiselect(
        t("queue.priority"), case_store.PRIORITIES, format_func=priority_label, key=KEY_PRIORITY,
        placeholder=t("queue.assignee.all"),
    )
    names = case_store.assignees(con)
    options = [ALL, UNASSIGNED, *names]
    labels = {ALL: t("queue.assignee.all"), UNASSIGNED: t("queue.assignee.none")}
    assignee = cols[2].selectbox(
        t("queue.assignee"), options, format_func=lambda a: labels.get(a, a), key=KEY_ASSIGNEE
    )
    overdue = cols[3].toggle(t("queue.overdue"), key=KEY_OVERDUE)
    return QueueFilters(tuple(statuses), tuple(priorities), assignee, bool(overdue))


def load_queue(con: duckdb.DuckDBPyConnection, scope: case_store.Scope, chosen: QueueFilters) -> pd.DataFrame:
    assignee = None if chosen.assignee == ALL else "" if chosen.assignee == UNASSIGNED else chosen.assignee
    return case_store.list_cases(
        con,
        scope=scope,
        status=chosen.statuses or None,
        priority=chosen.priorities or None,
        assignee=assignee,
        overdue=True if chosen.overdue_only else None,
    )


def counts_caption(con: duckdb.DuckDBPyConnection, scope: case_store.Scope) -> None:
    st.caption(t("queue.counts", **case_store.case_counts(con, scope)))


def _display(queue: pd.DataFrame) -> pd.DataFrame:
    shown = queue[list(QUEUE_COLUMNS)].copy()
    shown["status"] = shown["status"].map(status_label)
    shown["priority"] = shown["priority"].map(priority_label)
    shown["overdue"] = shown["overdue"].map({True: t("queue.overdue_mark"), False: ""})
    shown["assignee"] = shown["assignee"].fillna("")
    for column in ("due_at", "created_at"):
        shown[column] = pd.to_datetime(shown[column]).dt.strftime("%Y-%m-%d %H:%M").fillna("")
    return shown.rename(columns={c: t(f"queue.col.{c}") for c in QUEUE_COLUMNS})


def queue_table(queue: pd.DataFrame) -> None:
    """The queue as a table; overdue rows have a red background."""
    st.caption(t("queue.shown", n=len(queue)))
    shown = _display(queue)
    overdue = queue["overdue"].to_numpy()

    def colour(row: pd.Series) -> list[str]:
        style = "background-color: #fde2e1" if overdue[row.name] else ""
        return [style] * len(row)

    st.dataframe(shown.style.apply(colour, axis=1), hide_index=True, key="actions_queue_table")


def export_buttons(queue: pd.DataFrame) -> None:
    flat = case_store.export_frame(queue)
    left, right = st.columns(2)
    with left:
        downloads.csv_download_button(flat, label=t("queue.csv"), file_name="cases.csv", key="actions_csv")
    with right:
        downloads.xlsx_download_button(
            flat, label=t("queue.xlsx"), file_name="cases.xlsx", key="actions_xlsx"
        )


def pick_case(queue: pd.DataFrame) -> int | None:
    ids = [int(i) for i in queue["case_id"]]
    titles = dict(zip(ids, queue["title"].astype(str), strict=True))
    if st.session_state.get(KEY_PICK) not in ids:
        st.session_state.pop(KEY_PICK, None)
    return st.selectbox(t("queue.pick"), ids, format_func=lambda i: f"#{i} · {titles[i][:80]}", key=KEY_PICK)


def _when(value: object) -> str:
    if value is None or pd.isna(value):
        return t("detail.none")
    return f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"


def _feedback_block(row: pd.Series) -> None:
    if pd.isna(row["feedback_id"]):
        st.caption(t("detail.no_feedback"))
        return
    fid = int(row["feedback_id"])
    if bool(row["feedback_missing"]):
        st.warning(t("detail.feedback_missing", id=fid))
        return
    channel = row["channel"] if isinstance(row["channel"], str) else t("detail.none")
    st.caption(
        escape_markdown(t("detail.feedback", id=fid, date=_when(row["feedback_created_at"]), channel=channel))
    )
    text = row["feedback_text"]
    with st.container(border=True):
        st.markdown(escape_markdown(text) if isinstance(text, str) and text.strip() else t("detail.none"))


def _allowed_statuses(current: str) -> list[str]:
    return [current, *sorted(case_store.TRANSITIONS[current], key=case_store.STATUSES.index)]


def update_form(con: duckdb.DuckDBPyConnection, case: case_store.Case) -> bool:
    """Status / assignee / priority / note in one form; True after a successful save."""
    # The version in the keys gives fresh widgets (current values, empty note) after every change.
    key = f"case_{case.case_id}_{pd.Timestamp(case.updated_at).value}"
    with st.form(key=f"{key}_update"):
        st.markdown(f"**{t('detail.update')}**")
        cols = st.columns(3)
        status = cols[0].selectbox(
            t("detail.status"), _allowed_statuses(case.status), format_func=status_label, key=f"{key}_status"
        )
        assignee = cols[1].text_input(
            t("detail.assignee"),
            value=case.assignee or "",
            max_chars=case_store.MAX_NAME,
            key=f"{key}_assignee",
        )
        priority = cols[2].selectbox(
            t("detail.priority"),
            case_store.PRIORITIES,
            index=case_store.PRIORITIES.index(case.priority),
            format_func=priority_label,
            key=f"{key}_priority",
        )
        note = st.text_area(t("detail.note"), max_chars=case_store.MAX_NOTE, key=f"{key}_note")
        submitted = st.form_submit_button(t("detail.save"), type="primary")
    if not submitted:
        return False
    try:
        case_store.update_case(
            con,
            case.case_id,
            current_actor(),
            status=status,
            assignee=assignee or None,
            priority=priority,
            note=note or None,
        )
    except (case_store.CaseError, duckdb.Error) as exc:
        st.error(t("detail.failed", message=escape_markdown(exc)))
        return False
    return True


def _trail(con: duckdb.DuckDBPyConnection, case_id: int) -> pd.DataFrame:
    events = case_store.case_events(con, case_id)
    actions = {"note": "trail.note_action"}
    events["action"] = events["action"].map(lambda a: t(actions.get(a, f"trail.{a}")))
    events["event_at"] = pd.to_datetime(events["event_at"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    for column in ("old_value", "new_value"):
        events[column] = events.apply(
            lambda r, c=column: (
                status_label(r[c])
                if r["field"] == "status" and isinstance(r[c], str)
                else priority_label(r[c])
                if r["field"] == "priority" and isinstance(r[c], str)
                else r[c]
            ),
            axis=1,
        )
    events = events.drop(columns=["field"])
    return events.rename(columns={c: t(f"trail.{c}") for c in events.columns})


def detail_panel(con: duckdb.DuckDBPyConnection, row: pd.Series, *, editable: bool = True) -> bool:
    """One case: what, where, the feedback, the update form and the audit trail. True after a save."""
    case = case_store.get_case(con, int(row["case_id"]))
    st.subheader(f"#{case.case_id} {escape_markdown(case.title)}")
    st.caption(
        escape_markdown(
            t(
                "detail.meta",
                status=status_label(case.status),
                priority=priority_label(case.priority),
                assignee=case.assignee or t("queue.assignee.none"),
                due=_when(case.due_at),
                created=_when(case.created_at),
                creator=case.created_by or t("detail.none"),
            )
        )
    )
    where = " · ".join(str(v) for v in (case.brand, case.product, case.region, case.channel) if v)
    if where:
        st.caption(escape_markdown(t("detail.where", what=where)))
    if case.is_overdue():
        st.error(t("detail.overdue"), icon=":material/alarm:")
    _feedback_block(row)
    saved = update_form(con, case) if editable else False
    st.markdown(f"**{t('detail.trail')}**")
    st.dataframe(_trail(con, case.case_id), hide_index=True, key=f"case_{case.case_id}_trail")
    return saved


def writer() -> duckdb.DuckDBPyConnection:
    """The cursor the case writes go through."""
    return cache.write_cursor()
