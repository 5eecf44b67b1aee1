"""Shared pieces of the 行动 (actions) UI: who is acting, labels, and "create a case" from a quote or by hand.

:func:`current_actor` is the ONE place that decides the name written into the audit trail; :func:`can_manage`
the one place that decides whether the case buttons show. Both read the sign-in of ``components.auth``.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd
import streamlit as st

from analytics.alerts import RunSummary, case_scope, run_rules
from analytics.filters import Filters
from components import cache
from components.i18n import register, t
from components.safe_text import escape_markdown
from data import cases as case_store

register(
    {
        "case.status.new": ("新建", "New"),
        "case.status.in_progress": ("处理中", "In progress"),
        "case.status.resolved": ("已解决", "Resolved"),
        "case.status.closed": ("已关闭", "Closed"),
        "case.priority.low": ("低", "Low"),
        "case.priority.medium": ("中", "Medium"),
        "case.priority.high": ("高", "High"),
        "case.priority.urgent": ("紧急", "Urgent"),
        "case.from_quote": ("创建工单", "Create case"),
        "case.form.title": ("标题", "Title"),
        "case.form.priority": ("优先级", "Priority"),
        "case.form.sla": ("处理时限（小时）", "SLA (hours)"),
        "case.form.assignee": ("处理人（可留空）", "Assignee (optional)"),
        "case.form.note": ("备注", "Note"),
        "case.form.brand": ("品牌", "Brand"),
        "case.form.product": ("型号", "Model"),
        "case.form.feedback": ("关联反馈编号（可留空）", "Linked feedback id (optional)"),
        "case.form.submit": ("创建", "Create"),
        "case.form.cancel": ("取消", "Cancel"),
        "case.created": (
            "已创建工单 #{case_id}，可在“行动”页处理。",
            "Case #{case_id} created; see the Actions page.",
        ),
        "case.failed": ("无法创建工单：{message}", "Cannot create the case: {message}"),
        "case.quote_title": ("客户原声：{snippet}", "Customer quote: {snippet}"),
        "alerts.after_import": (
            "告警规则：新告警 {alerts} 条，新工单 {cases} 件（见“行动”页）。",
            "Alert rules: {alerts} new alerts, {cases} new cases (see the Actions page).",
        ),
        "alerts.after_import_failed": (
            "告警规则未能运行：{message}。可稍后在“告警规则”页或用 `python cli.py alerts run` 运行。",
            "The alert rules did not run: {message}. Run them later on the Alert rules page or with "
            "`python cli.py alerts run`.",
        ),
    }
)

ACTOR_KEY = "auth_user"  # components.auth.USER_KEY: the signed-in user's name
DEMO_ACTOR = "demo"


def current_actor() -> str:
    """The name written into the audit trail: the signed-in user, or ``demo`` when nobody is signed in."""
    name = st.session_state.get(ACTOR_KEY)
    return name if isinstance(name, str) and name else DEMO_ACTOR


def can_manage() -> bool:
    """Whether the signed-in user may create and work cases (role agent or admin)."""
    from components.auth import current_user
    from data.users import Permission

    user = current_user()
    return user is not None and user.can(Permission.MANAGE_CASES)


def permission_filters() -> Filters:
    """No filter but the signed-in user's data permissions (the 行动 page has no sidebar filters)."""
    from components.auth import current_scope

    return Filters().within(current_scope())


def status_label(status: str) -> str:
    return t(f"case.status.{status}")


def priority_label(priority: str) -> str:
    return t(f"case.priority.{priority}")


def scope_for(filters: Filters) -> tuple[str, dict[str, object]]:
    """The data-permission WHERE for the ``cases c`` table from the page's filters (see analytics.alerts)."""
    where, params = case_scope(filters, alias="c")
    return where, dict(params)


def _snippet(text: object, limit: int = 40) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def create_case_form(
    key: str, *, feedback_id: int | None = None, title: str = "", context: Mapping[str, object] | None = None
) -> int | None:
    """A form that creates a case (linked to ``feedback_id`` when given); returns the new case id once."""
    context = context or {}
    with st.form(key=f"{key}_form", border=True):
        title_value = st.text_input(
            t("case.form.title"), value=title, max_chars=case_store.MAX_TITLE, key=f"{key}_title"
        )
        cols = st.columns(3)
        priority = cols[0].selectbox(
            t("case.form.priority"),
            case_store.PRIORITIES,
            index=2,
            format_func=priority_label,
            key=f"{key}_priority",
        )
        sla = cols[1].number_input(
            t("case.form.sla"), min_value=1, max_value=24 * 365, value=72, step=1, key=f"{key}_sla"
        )
        assignee = cols[2].text_input(
            t("case.form.assignee"), max_chars=case_store.MAX_NAME, key=f"{key}_assignee"
        )
        linked = feedback_id
        brand = product = None
        if feedback_id is None:
            cols = st.columns(3)
            brand = cols[0].text_input(t("case.form.brand"), key=f"{key}_brand") or None
            product = cols[1].text_input(t("case.form.product"), key=f"{key}_product") or None
            raw = cols[2].text_input(t("case.form.feedback"), key=f"{key}_feedback").strip()
            linked = int(raw) if raw.isdigit() else None
        note = st.text_area(t("case.form.note"), max_chars=case_store.MAX_NOTE, key=f"{key}_note")
        submitted = st.form_submit_button(t("case.form.submit"), type="primary")
    if not submitted:
        return None
    try:
        case_id = case_store.create_case(
            cache.write_cursor(),
            title=title_value,
            actor=current_actor(),
            feedback_id=linked,
            brand=brand or context.get("brand"),
            product=product or context.get("product"),
            priority=priority,
            assignee=assignee or None,
            sla_hours=int(sla),
            note=note or None,
        )
    except (case_store.CaseError, duckdb.Error) as exc:
        st.error(t("case.failed", message=escape_markdown(exc)))
        return None
    st.success(t("case.created", case_id=case_id))
    return case_id


def run_rules_after_import(con: duckdb.DuckDBPyConnection) -> RunSummary | None:
    """After an import (and its annotation): evaluate the rules; a toast says what they found, a failure is
    a warning (the import itself is done)."""
    try:
        summary = run_rules(con, actor="system")
    except duckdb.Error as exc:
        st.warning(t("alerts.after_import_failed", message=escape_markdown(exc)))
        return None
    if summary.new_alerts:
        st.toast(t("alerts.after_import", alerts=summary.new_alerts, cases=len(summary.cases_created)))
    return summary


DRAFT_KEY = "case_draft_feedback"


def quote_case_button(row: pd.Series, key: str) -> None:
    """Under a quote card: a 创建工单 button; once clicked, the create-case form for that feedback."""
    if "feedback_id" not in row or pd.isna(row["feedback_id"]) or not can_manage():
        return
    feedback_id = int(row["feedback_id"])
    if st.session_state.get(DRAFT_KEY) != feedback_id:
        if st.button(t("case.from_quote"), key=f"{key}_case_{feedback_id}", icon=":material/assignment_add:"):
            st.session_state[DRAFT_KEY] = feedback_id
            st.rerun()
        return
    title = t("case.quote_title", snippet=_snippet(row.get("text")))
    created = create_case_form(f"{key}_draft_{feedback_id}", feedback_id=feedback_id, title=title)
    if created is not None:
        st.session_state.pop(DRAFT_KEY, None)
