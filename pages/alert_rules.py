"""告警规则 Alert rules: list, add, edit, enable/disable the rules; run them now and see what fired."""

from __future__ import annotations

import streamlit as st

from components import cache, frame, rule_editor
from components.i18n import register, t

register(
    {
        "alertrules.title": ("告警规则", "Alert rules"),
        "alertrules.intro": (
            "每次导入数据后以及运行 `python cli.py alerts run` 时自动检查。单条规则只看最近几天的反馈；"
            "汇总规则按周（或月）比较，并做显著性检验，避免因随机波动报警。说明见 docs/ACT.md。",
            "Checked after every import and by `python cli.py alerts run`. Per-feedback rules look at the "
            "last days only; aggregate rules compare weeks (or months) with a significance test so that "
            "noise does not fire. See docs/ACT.md.",
        ),
        "alertrules.run": ("运行规则", "Run the rules"),
        "alertrules.edit": ("新建或编辑规则", "Add or edit a rule"),
    }
)


def main() -> None:
    frame.require_frame()
    st.title(t("alertrules.title"))
    st.caption(t("alertrules.intro"))
    con = cache.write_cursor()
    rule_editor.ensure_defaults(con)
    saved = st.session_state.pop("rules_saved", None)
    if saved is not None:
        st.success(t("rules.saved", rule_id=saved))
    rules = rule_editor.load(con)
    rule_editor.rules_table(rules)
    st.subheader(t("alertrules.run"))
    rule_editor.run_now()
    st.subheader(t("alertrules.edit"))
    rule_editor.rule_form(rules)


main()
