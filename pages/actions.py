"""行动 Actions: the case queue (filters, overdue highlighting, export), a case's detail, new cases."""

from __future__ import annotations

import streamlit as st

from components import actions_ui, case_queue, frame
from components.i18n import current_lang, register, t
from components.safe_text import escape_markdown

register(
    {
        "actions.title": ("行动", "Actions"),
        "actions.intro": (
            "告警规则和客户原声生成的工单：分配、跟进、关闭。范围：{what}",
            "Cases from the alert rules and from quotes: assign, follow up, close. Scope: {what}",
        ),
        "actions.new": ("手动创建工单", "Create a case by hand"),
        "actions.readonly": ("你的角色只能查看工单。", "Your role may only view cases."),
    }
)


def main() -> None:
    frame.require_frame()
    filters = actions_ui.permission_filters()
    st.title(t("actions.title"))
    st.caption(t("actions.intro", what=escape_markdown(filters.describe(current_lang()))))
    con = case_queue.writer()
    scope = actions_ui.scope_for(filters)
    may_act = actions_ui.can_manage()
    case_queue.counts_caption(con, scope)
    if may_act:
        with st.expander(t("actions.new"), icon=":material/add_task:"):
            if actions_ui.create_case_form("actions_new") is not None:
                st.rerun()
    else:
        st.info(t("actions.readonly"))
    chosen = case_queue.queue_filters(con)
    queue = case_queue.load_queue(con, scope, chosen)
    if queue.empty:
        st.info(t("queue.empty"))
        return
    case_queue.queue_table(queue)
    case_queue.export_buttons(queue)
    st.divider()
    picked = case_queue.pick_case(queue)
    if picked is None:
        return
    row = queue[queue["case_id"] == picked].iloc[0]
    if case_queue.detail_panel(con, row, editable=may_act):
        st.rerun()


main()
