"""The 告警规则 page's parts: the rule list, the add/edit form (fields generated from the rule kind's
parameter specs, validated by ``analytics.alert_rules``), enable/disable, and "run now" with progress."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from analytics import alert_rules as rules_model
from analytics.alerts import RunSummary, run_rules
from components import cache
from components.actions_ui import current_actor, priority_label
from components.i18n import current_lang, register, t
from components.safe_text import escape_markdown
from data.cases import PRIORITIES

register(
    {
        "rule.kind.nps_at_most": ("单条：NPS 低分", "Per answer: low NPS"),
        "rule.kind.aspect_negative": ("单条：指标负面（高置信度）", "Per review: negative aspect mention"),
        "rule.kind.keyword": ("单条：关键词", "Per feedback: keyword"),
        "rule.kind.aspect_net_drop": ("汇总：指标净情感骤降", "Aggregate: aspect net sentiment drop"),
        "rule.kind.nps_below": ("汇总：NPS 低于阈值", "Aggregate: NPS below a threshold"),
        "rule.kind.complaint_volume": ("汇总：差评量超阈值", "Aggregate: complaint volume above a threshold"),
        "rule.param.max_score": ("NPS 不高于（0–10）", "NPS at most (0–10)"),
        "rule.param.lookback_days": ("只看最近几天（0 = 全部）", "Only the last N days (0 = all)"),
        "rule.param.aspects": (
            "指标（逗号分隔，如 电池/发热, 客服；汇总规则留空 = 全部一级指标）",
            "Aspects (comma-separated, e.g. 电池/发热, 客服; aggregate: empty = all)",
        ),
        "rule.param.min_confidence": ("最低置信度（0–1）", "Minimum confidence (0–1)"),
        "rule.param.keywords": (
            "关键词（逗号分隔，任一出现即触发）",
            "Keywords (comma-separated, any one fires)",
        ),
        "rule.param.group_by": ("分组", "Group by"),
        "rule.param.period": ("周期", "Period"),
        "rule.param.min_drop": ("下降至少（分）", "Drop of at least (points)"),
        "rule.param.min_mentions": ("每期最少评论数", "Minimum reviews per period"),
        "rule.param.baseline_periods": ("对比前几期（1 = 严格环比）", "Compare with the previous N periods"),
        "rule.param.alpha": ("显著性水平 α", "Significance level α"),
        "rule.param.lookback_periods": ("只看最近几期（0 = 全部历史）", "Only the last N periods (0 = all)"),
        "rule.param.threshold": ("NPS 阈值", "NPS threshold"),
        "rule.param.min_answers": ("每期最少答卷数", "Minimum answers per period"),
        "rule.param.confident": (
            "置信区间上限也低于阈值才触发",
            "Fire only when the interval's upper bound is below",
        ),
        "rule.param.max_count": ("每期差评数超过", "Complaints per period above"),
        "rule.param.aspect": ("指标（留空 = 整体负面评论）", "Aspect (empty = all negative reviews)"),
        "rule.choice.product": ("机型", "Model"),
        "rule.choice.brand": ("品牌", "Brand"),
        "rule.choice.channel": ("渠道", "Channel"),
        "rule.choice.week": ("周", "Week"),
        "rule.choice.month": ("月", "Month"),
        "rules.col.rule_id": ("编号", "No."),
        "rules.col.name": ("名称", "Name"),
        "rules.col.kind": ("类型", "Kind"),
        "rules.col.params": ("参数", "Parameters"),
        "rules.col.scope": ("范围", "Scope"),
        "rules.col.priority": ("优先级", "Priority"),
        "rules.col.sla_hours": ("时限（小时）", "SLA (h)"),
        "rules.col.create_case": ("生成工单", "Creates cases"),
        "rules.col.enabled": ("启用", "Enabled"),
        "rules.pick": ("编辑规则", "Edit rule"),
        "rules.new": ("＋ 新建规则", "+ New rule"),
        "rules.name": ("规则名称", "Rule name"),
        "rules.kind": ("规则类型", "Kind"),
        "rules.priority": ("工单优先级", "Case priority"),
        "rules.sla": ("处理时限（小时）", "SLA (hours)"),
        "rules.create_case": ("触发时生成工单", "Open a case when it fires"),
        "rules.enabled": ("启用", "Enabled"),
        "rules.scope": ("只看这些（逗号分隔，留空 = 不限）", "Only these (comma-separated, empty = all)"),
        "rules.scope.brands": ("品牌", "Brands"),
        "rules.scope.products": ("型号", "Models"),
        "rules.scope.channels": ("渠道", "Channels"),
        "rules.scope.regions": ("地区", "Regions"),
        "rules.save": ("保存规则", "Save rule"),
        "rules.saved": ("规则已保存（#{rule_id}）。", "Rule saved (#{rule_id})."),
        "rules.invalid": ("规则无效：{message}", "Invalid rule: {message}"),
        "rules.toggle_off": ("停用此规则", "Disable this rule"),
        "rules.toggle_on": ("启用此规则", "Enable this rule"),
        "rules.run": ("立即运行全部启用的规则", "Run all enabled rules now"),
        "rules.running": ("正在运行：{name}", "Running: {name}"),
        "rules.ran": (
            "完成：新告警 {alerts} 条，新工单 {cases} 件，更新已有工单 {updated} 件（{seconds:.1f} 秒）。",
            "Done: {alerts} new alerts, {cases} new cases, {updated} open cases updated ({seconds:.1f} s).",
        ),
        "rules.failed": ("规则“{name}”运行失败：{message}", "Rule “{name}” failed: {message}"),
        "rules.res.name": ("规则", "Rule"),
        "rules.res.fired": ("命中", "Fired"),
        "rules.res.new_alerts": ("新告警", "New alerts"),
        "rules.res.cases": ("新工单", "New cases"),
        "rules.res.updated": ("更新工单", "Updated cases"),
        "rules.yes": ("是", "yes"),
        "rules.no": ("否", "no"),
    }
)

KEY_PICK, KEY_SEEDED, KEY_KIND = "rules_pick", "rules_seeded_for", "rules_kind"
KEY_NAME, KEY_PRIORITY, KEY_SLA = "rules_name", "rules_priority", "rules_sla"
KEY_CASE, KEY_ENABLED, KEY_RESULT = "rules_create_case", "rules_enabled", "rules_last_run"
KEY_NEXT_PICK = "rules_pick_next"
NEW_RULE = 0


def param_key(name: str) -> str:
    return f"rules_param_{name}"


def scope_key(name: str) -> str:
    return f"rules_scope_{name}"


def kind_label(kind: str) -> str:
    return t(f"rule.kind.{kind}")


def rules_table(rules: list[rules_model.Rule]) -> None:
    yes, no = t("rules.yes"), t("rules.no")
    frame = pd.DataFrame(
        [
            {
                "rule_id": r.rule_id,
                "name": r.name,
                "kind": kind_label(r.kind),
                "params": rules_model.describe_params(r.params),
                "scope": rules_model.describe_params(r.scope),
                "priority": priority_label(r.priority),
                "sla_hours": r.sla_hours,
                "create_case": yes if r.create_case else no,
                "enabled": yes if r.enabled else no,
            }
            for r in rules
        ]
    )
    if frame.empty:
        return
    st.dataframe(
        frame.rename(columns={c: t(f"rules.col.{c}") for c in frame.columns}),
        hide_index=True,
        key="rules_table",
    )


def _widget_value(spec: rules_model.ParamSpec, value: Any) -> Any:
    if spec.kind == "list":
        return ", ".join(value or [])
    if spec.kind == "optional_int":
        return int(value or 0)
    if spec.kind == "optional_str":
        return value or ""
    if spec.kind == "float":
        return float(value)
    return value


def _seed_params(kind: str, params: dict[str, Any] | None) -> None:
    for name, spec in rules_model.PARAM_SPECS[kind].items():
        value = (params or {}).get(name, spec.default)
        st.session_state[param_key(name)] = _widget_value(spec, value)


def _seed(rule: rules_model.Rule | None) -> None:
    kind = rule.kind if rule else rules_model.RULE_KINDS[0]
    st.session_state[KEY_KIND] = kind
    st.session_state[KEY_NAME] = rule.name if rule else ""
    st.session_state[KEY_PRIORITY] = rule.priority if rule else "medium"
    st.session_state[KEY_SLA] = rule.sla_hours if rule else 72
    st.session_state[KEY_CASE] = rule.create_case if rule else True
    st.session_state[KEY_ENABLED] = rule.enabled if rule else True
    for name in rules_model.SCOPE_FIELDS:
        st.session_state[scope_key(name)] = ", ".join(rule.scope.get(name, [])) if rule else ""
    _seed_params(kind, dict(rule.params) if rule else None)


def _on_kind_change() -> None:
    _seed_params(st.session_state[KEY_KIND], None)


def _param_widget(name: str, spec: rules_model.ParamSpec, column: Any) -> Any:
    label, key = t(f"rule.param.{name}"), param_key(name)
    if spec.kind == "int":
        return column.number_input(label, min_value=int(spec.low), max_value=int(spec.high), step=1, key=key)
    if spec.kind == "float":
        small = spec.high is not None and spec.high <= 1
        return column.number_input(
            label,
            min_value=float(spec.low),
            max_value=float(spec.high),
            step=0.001 if small else 1.0,
            format="%.4f" if small else "%.1f",
            key=key,
        )
    if spec.kind == "optional_int":
        return column.number_input(label, min_value=0, max_value=int(spec.high), step=1, key=key) or None
    if spec.kind == "choice":
        return column.selectbox(label, spec.choices, format_func=lambda c: t(f"rule.choice.{c}"), key=key)
    if spec.kind == "bool":
        return column.checkbox(label, key=key)
    return column.text_input(label, key=key)  # list / optional_str


def rule_form(rules: list[rules_model.Rule]) -> None:
    """Pick a rule (or a new one), edit it, save it; enable/disable it."""
    by_id = {int(r.rule_id or 0): r for r in rules}
    options = [NEW_RULE, *by_id]
    if KEY_NEXT_PICK in st.session_state:
        st.session_state[KEY_PICK] = st.session_state.pop(KEY_NEXT_PICK)
        st.session_state[KEY_SEEDED] = st.session_state[KEY_PICK]  # keep what was just saved in the form
    picked = st.selectbox(
        t("rules.pick"),
        options,
        key=KEY_PICK,
        format_func=lambda i: t("rules.new") if i == NEW_RULE else f"#{i} {by_id[i].name}",
    )
    if st.session_state.get(KEY_SEEDED) != picked:
        _seed(by_id.get(picked))
        st.session_state[KEY_SEEDED] = picked
    rule = by_id.get(picked)
    cols = st.columns([3, 3])
    name = cols[0].text_input(t("rules.name"), max_chars=rules_model.MAX_NAME_CHARS, key=KEY_NAME)
    kind = cols[1].selectbox(
        t("rules.kind"),
        rules_model.RULE_KINDS,
        format_func=kind_label,
        key=KEY_KIND,
        on_change=_on_kind_change,
    )
    specs = rules_model.PARAM_SPECS[kind]
    grid = st.columns(3)
    params = {n: _param_widget(n, spec, grid[i % 3]) for i, (n, spec) in enumerate(specs.items())}
    st.caption(t("rules.scope"))
    grid = st.columns(4)
    scope = {
        n: grid[i].text_input(t(f"rules.scope.{n}"), key=scope_key(n))
        for i, n in enumerate(rules_model.SCOPE_FIELDS)
    }
    grid = st.columns(4)
    priority = grid[0].selectbox(
        t("rules.priority"), PRIORITIES, format_func=priority_label, key=KEY_PRIORITY
    )
    sla = grid[1].number_input(t("rules.sla"), min_value=1, max_value=24 * 365, step=1, key=KEY_SLA)
    create_case = grid[2].checkbox(t("rules.create_case"), key=KEY_CASE)
    enabled = grid[3].checkbox(t("rules.enabled"), key=KEY_ENABLED)
    left, right = st.columns(2)
    if left.button(t("rules.save"), type="primary", key="rules_save"):
        _save(name, kind, params, scope, priority, int(sla), create_case, enabled, rule)
    if rule is not None:
        label = t("rules.toggle_off") if rule.enabled else t("rules.toggle_on")
        if right.button(label, key="rules_toggle"):
            rules_model.set_enabled(cache.write_cursor(), int(rule.rule_id or 0), not rule.enabled)
            st.session_state.pop(KEY_SEEDED, None)
            st.rerun()


def _save(
    name: str,
    kind: str,
    params: dict[str, Any],
    scope: dict[str, str],
    priority: str,
    sla: int,
    create_case: bool,
    enabled: bool,
    rule: rules_model.Rule | None,
) -> None:
    try:
        new = rules_model.make_rule(
            name,
            kind,
            params,
            scope=scope,
            priority=priority,
            sla_hours=sla,
            create_case=create_case,
            enabled=enabled,
            rule_id=rule.rule_id if rule else None,
        )
        rule_id = rules_model.save_rule(cache.write_cursor(), new, actor=current_actor())
    except rules_model.RuleError as exc:
        message = exc.zh if current_lang() == "zh" else str(exc)
        st.error(t("rules.invalid", message=escape_markdown(message)))
        return
    except duckdb.Error as exc:
        st.error(t("rules.invalid", message=escape_markdown(exc)))
        return
    st.session_state[KEY_NEXT_PICK] = rule_id  # applied before the picker is drawn on the rerun
    st.session_state["rules_saved"] = rule_id
    st.rerun()


def run_now() -> None:
    """The "run now" button: a progress bar while the rules run, then what each rule did."""
    if st.button(t("rules.run"), key="rules_run", icon=":material/play_arrow:"):
        bar = st.progress(0.0)

        def update(fraction: float, name: str) -> None:
            bar.progress(min(max(fraction, 0.0), 1.0), text=t("rules.running", name=name) if name else None)

        summary = run_rules(cache.write_cursor(), actor=current_actor(), progress=update)
        bar.empty()
        st.session_state[KEY_RESULT] = summary
    summary = st.session_state.get(KEY_RESULT)
    if isinstance(summary, RunSummary):
        show_run(summary)


def show_run(summary: RunSummary) -> None:
    st.success(
        t(
            "rules.ran",
            alerts=summary.new_alerts,
            cases=len(summary.cases_created),
            updated=len(summary.cases_updated),
            seconds=summary.seconds,
        )
    )
    for r in summary.results:
        if r.error:
            st.error(t("rules.failed", name=escape_markdown(r.name), message=escape_markdown(r.error)))
    frame = pd.DataFrame(
        [
            {
                "name": r.name,
                "fired": r.fired,
                "new_alerts": r.new_alerts,
                "cases": len(r.cases_created),
                "updated": len(set(r.cases_updated)),
            }
            for r in summary.results
        ]
    )
    if not frame.empty:
        st.dataframe(
            frame.rename(columns={c: t(f"rules.res.{c}") for c in frame.columns}),
            hide_index=True,
            key="rules_run_table",
        )


def ensure_defaults(con: duckdb.DuckDBPyConnection) -> None:
    """Store the default rules on first use, so the page never starts empty."""
    rules_model.ensure_default_rules(con)


def load(con: duckdb.DuckDBPyConnection) -> list[rules_model.Rule]:
    return rules_model.load_rules(con)
