"""Alert rules: the validated rule model, its storage in ``alert_rules``, and the default rule set.

Six kinds (codes stored in English; the UI names them in Chinese):

- per feedback: ``nps_at_most`` (an NPS answer ≤ ``max_score``), ``aspect_negative`` (a negative
  mention of one of ``aspects`` with confidence ≥ ``min_confidence``), ``keyword`` (the text contains
  one of ``keywords``);
- aggregate, per group (``group_by``: product, brand or channel) and period (``period``: week or month):
  ``aspect_net_drop`` (net sentiment of an aspect fell by ≥ ``min_drop`` points against the period before,
  significantly), ``nps_below`` (NPS below ``threshold``), ``complaint_volume`` (more than ``max_count``
  negative reviews, or negative mentions of ``aspect``).

Every parameter is checked by :func:`validate_params`; a bad value raises :class:`RuleError` naming the
parameter, in English (``str(exc)``) and Chinese (``exc.zh``). ``scope`` narrows a rule to brands, products,
channels or regions. See docs/ACT.md for the statistics and the default rules.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import duckdb

from analytics.filters import Filters
from data.cases import DEFAULT_SLA_HOURS, PRIORITIES, utc_now
from data.store import WRITE_LOCK, transaction

PER_FEEDBACK_KINDS: Final = ("nps_at_most", "aspect_negative", "keyword")
AGGREGATE_KINDS: Final = ("aspect_net_drop", "nps_below", "complaint_volume")
RULE_KINDS: Final = (*PER_FEEDBACK_KINDS, *AGGREGATE_KINDS)
GROUP_BY: Final = ("product", "brand", "channel")
RULE_PERIODS: Final = ("week", "month")
SCOPE_FIELDS: Final = ("brands", "products", "channels", "regions")
MAX_LIST_ITEMS = 50
MAX_ITEM_CHARS = 50
MAX_NAME_CHARS = 100


class RuleError(ValueError):
    """An invalid rule. ``str(exc)`` is English; ``exc.zh`` is the same in Chinese; ``exc.field`` the part."""

    def __init__(self, en: str, zh: str, field: str | None = None) -> None:
        super().__init__(en)
        self.zh = zh
        self.field = field


@dataclass(frozen=True)
class ParamSpec:
    kind: str  # int | float | list | choice | bool | optional_int | optional_str
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False


_LOOKBACK_DAYS = ParamSpec("optional_int", 7, 1, 3650)
_LOOKBACK_PERIODS = ParamSpec("optional_int", None, 1, 520)
_GROUP = ParamSpec("choice", "product", choices=GROUP_BY)
_PERIOD = ParamSpec("choice", "week", choices=RULE_PERIODS)

PARAM_SPECS: Final[Mapping[str, Mapping[str, ParamSpec]]] = {
    "nps_at_most": {"max_score": ParamSpec("int", 6, 0, 10), "lookback_days": _LOOKBACK_DAYS},
    "aspect_negative": {
        "aspects": ParamSpec("list", required=True),
        "min_confidence": ParamSpec("float", 0.8, 0.0, 1.0),
        "lookback_days": _LOOKBACK_DAYS,
    },
    "keyword": {"keywords": ParamSpec("list", required=True), "lookback_days": _LOOKBACK_DAYS},
    "aspect_net_drop": {
        "aspects": ParamSpec("list", ()),
        "group_by": _GROUP,
        "period": _PERIOD,
        "min_drop": ParamSpec("float", 30.0, 1.0, 200.0),
        "min_mentions": ParamSpec("int", 20, 5, 100_000),
        "baseline_periods": ParamSpec("int", 4, 1, 52),
        "alpha": ParamSpec("float", 0.001, 1e-9, 0.2),
        "lookback_periods": _LOOKBACK_PERIODS,
    },
    "nps_below": {
        "threshold": ParamSpec("float", 0.0, -100.0, 100.0),
        "group_by": ParamSpec("choice", "brand", choices=GROUP_BY),
        "period": _PERIOD,
        "min_answers": ParamSpec("int", 30, 5, 100_000),
        "confident": ParamSpec("bool", True),
        "lookback_periods": _LOOKBACK_PERIODS,
    },
    "complaint_volume": {
        "max_count": ParamSpec("int", 50, 0, 10_000_000),
        "aspect": ParamSpec("optional_str", None),
        "group_by": _GROUP,
        "period": _PERIOD,
        "lookback_periods": _LOOKBACK_PERIODS,
    },
}


def _bad(name: str, en: str, zh: str) -> RuleError:
    return RuleError(f"parameter {name}: {en}", f"参数 {name}：{zh}", name)


def _number(name: str, value: Any, spec: ParamSpec, integer: bool) -> float | int:
    if isinstance(value, bool):
        raise _bad(name, "must be a number, not true/false", "必须是数字")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(name, f"{value!r} is not a number", f"“{value}”不是数字") from None
    if number != number:  # NaN
        raise _bad(name, "must be a number", "必须是数字")
    if integer:
        if number != int(number):
            raise _bad(name, f"{value!r} is not a whole number", f"“{value}”不是整数")
        number = int(number)
    if (spec.low is not None and number < spec.low) or (spec.high is not None and number > spec.high):
        raise _bad(
            name,
            f"{value} is outside {spec.low:g}…{spec.high:g}",
            f"{value} 超出范围 {spec.low:g}…{spec.high:g}",
        )
    return number


def _text_list(name: str, value: Any, required: bool) -> list[str]:
    if value is None:
        items: list[str] = []
    elif isinstance(value, str):
        items = value.replace("，", ",").replace("、", ",").split(",")
    elif isinstance(value, Sequence):
        items = [str(v) for v in value]
    else:
        raise _bad(name, "must be a list of words", "必须是词语列表")
    clean = list(dict.fromkeys(" ".join(i.split()) for i in items if str(i).strip()))
    if required and not clean:
        raise _bad(name, "needs at least one entry", "至少需要一项")
    if len(clean) > MAX_LIST_ITEMS:
        raise _bad(name, f"has {len(clean)} entries; at most {MAX_LIST_ITEMS}", f"最多 {MAX_LIST_ITEMS} 项")
    for item in clean:
        if len(item) > MAX_ITEM_CHARS:
            raise _bad(
                name,
                f"entry {item[:20]!r}… is longer than {MAX_ITEM_CHARS} characters",
                f"“{item[:20]}…”超过 {MAX_ITEM_CHARS} 个字符",
            )
    return clean


def validate_params(kind: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the complete, normalised parameters of a ``kind`` rule (defaults filled in), or raise."""
    if kind not in PARAM_SPECS:
        raise RuleError(
            f"kind {kind!r} is not one of {', '.join(RULE_KINDS)}", f"未知的规则类型“{kind}”", "kind"
        )
    given = dict(params or {})
    specs = PARAM_SPECS[kind]
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise RuleError(
            f"unknown parameter(s) {', '.join(unknown)} for {kind}; allowed: {', '.join(specs)}",
            f"规则类型 {kind} 没有参数 {', '.join(unknown)}（可用：{', '.join(specs)}）",
            unknown[0],
        )
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        value = given.get(name, spec.default)
        if spec.kind == "list":
            out[name] = _text_list(name, value, spec.required)
        elif spec.kind in ("int", "float"):
            out[name] = _number(name, value, spec, spec.kind == "int")
        elif spec.kind == "optional_int":
            out[name] = None if value in (None, "", 0) else _number(name, value, spec, True)
        elif spec.kind == "optional_str":
            text = " ".join(str(value).split()) if value is not None else ""
            if len(text) > MAX_ITEM_CHARS:
                raise _bad(
                    name, f"is longer than {MAX_ITEM_CHARS} characters", f"超过 {MAX_ITEM_CHARS} 个字符"
                )
            out[name] = text or None
        elif spec.kind == "choice":
            if value not in spec.choices:
                raise _bad(
                    name,
                    f"{value!r} is not one of {', '.join(spec.choices)}",
                    f"“{value}”不是可选值（{', '.join(spec.choices)}）",
                )
            out[name] = value
        elif spec.kind == "bool":
            if not isinstance(value, bool):
                raise _bad(name, "must be true or false", "必须是 是/否")
            out[name] = value
    return out


def validate_scope(scope: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """``{brands, products, channels, regions}`` lists (empty: no restriction); unknown keys are an error."""
    given = dict(scope or {})
    unknown = sorted(set(given) - set(SCOPE_FIELDS))
    if unknown:
        raise RuleError(
            f"unknown scope field(s) {', '.join(unknown)}; allowed: {', '.join(SCOPE_FIELDS)}",
            f"范围只能限定 {', '.join(SCOPE_FIELDS)}",
            "scope",
        )
    return {name: _text_list(f"scope.{name}", given.get(name), False) for name in SCOPE_FIELDS}


@dataclass(frozen=True)
class Rule:
    """One alert rule. ``params`` and ``scope`` are validated and complete (see :func:`make_rule`)."""

    name: str
    kind: str
    params: Mapping[str, Any]
    scope: Mapping[str, list[str]] = field(default_factory=dict)
    priority: str = "medium"
    sla_hours: int = DEFAULT_SLA_HOURS
    create_case: bool = True
    enabled: bool = True
    rule_id: int | None = None

    @property
    def per_feedback(self) -> bool:
        return self.kind in PER_FEEDBACK_KINDS

    def filters(self) -> Filters:
        """The rule's scope as a filter object (no dates, no user restriction: rules see the whole store)."""
        return Filters(**{name: tuple(self.scope.get(name, ())) for name in SCOPE_FIELDS})


def make_rule(
    name: str,
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    scope: Mapping[str, Any] | None = None,
    priority: str = "medium",
    sla_hours: int = DEFAULT_SLA_HOURS,
    create_case: bool = True,
    enabled: bool = True,
    rule_id: int | None = None,
) -> Rule:
    """A validated :class:`Rule`; raises :class:`RuleError` naming what is wrong."""
    clean_name = " ".join(str(name or "").split())
    if not clean_name:
        raise RuleError("the rule needs a name", "规则名称不能为空", "name")
    if len(clean_name) > MAX_NAME_CHARS:
        raise RuleError(
            f"the name is longer than {MAX_NAME_CHARS} characters",
            f"规则名称超过 {MAX_NAME_CHARS} 个字符",
            "name",
        )
    if priority not in PRIORITIES:
        raise RuleError(
            f"priority {priority!r} is not one of {', '.join(PRIORITIES)}", "优先级无效", "priority"
        )
    sla = _number("sla_hours", sla_hours, ParamSpec("int", low=1, high=24 * 365), True)
    return Rule(
        name=clean_name,
        kind=kind,
        params=validate_params(kind, params),
        scope=validate_scope(scope),
        priority=priority,
        sla_hours=int(sla),
        create_case=bool(create_case),
        enabled=bool(enabled),
        rule_id=rule_id,
    )


# --- storage --------------------------------------------------------------------------------------

_COLUMNS = "rule_id, name, kind, params, scope, priority, sla_hours, create_case, enabled"


def _from_row(row: Sequence[Any]) -> Rule:
    rule_id, name, kind, params, scope, priority, sla_hours, create_case, enabled = row
    return make_rule(
        name,
        kind,
        json.loads(params) if params else {},
        scope=json.loads(scope) if scope else None,
        priority=priority,
        sla_hours=sla_hours,
        create_case=create_case,
        enabled=enabled,
        rule_id=int(rule_id),
    )


def load_rules(con: duckdb.DuckDBPyConnection, *, enabled_only: bool = False) -> list[Rule]:
    """Every stored rule (or the enabled ones), by id."""
    cur = con.cursor()
    try:
        where = "WHERE enabled" if enabled_only else ""
        rows = cur.execute(f"SELECT {_COLUMNS} FROM alert_rules {where} ORDER BY rule_id").fetchall()
    finally:
        cur.close()
    return [_from_row(r) for r in rows]


def get_rule(con: duckdb.DuckDBPyConnection, rule_id: int) -> Rule:
    cur = con.cursor()
    try:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM alert_rules WHERE rule_id = ?", [int(rule_id)]).fetchall()
    finally:
        cur.close()
    if not rows:
        raise RuleError(f"rule #{rule_id} does not exist", f"规则 #{rule_id} 不存在", "rule_id")
    return _from_row(rows[0])


def _name_taken(cur: duckdb.DuckDBPyConnection, name: str, rule_id: int | None) -> bool:
    rows = cur.execute(
        "SELECT count(*) FROM alert_rules WHERE name = ? AND rule_id IS DISTINCT FROM ?", [name, rule_id]
    ).fetchall()
    return bool(rows[0][0])


def save_rule(con: duckdb.DuckDBPyConnection, rule: Rule, actor: str | None = None) -> int:
    """Insert ``rule`` (``rule_id`` None) or update the stored rule with its id; return the id."""
    params_json = json.dumps(dict(rule.params), ensure_ascii=False)
    scope_json = json.dumps({k: v for k, v in rule.scope.items() if v}, ensure_ascii=False)
    now = utc_now()
    cur = con.cursor()
    try:
        with WRITE_LOCK, transaction(cur):
            if _name_taken(cur, rule.name, rule.rule_id):
                raise RuleError(
                    f"a rule named {rule.name!r} exists already", f"已有同名规则“{rule.name}”", "name"
                )
            values = [
                rule.name,
                rule.kind,
                params_json,
                scope_json,
                rule.priority,
                rule.sla_hours,
                rule.create_case,
                rule.enabled,
            ]
            if rule.rule_id is None:
                return int(
                    cur.execute(
                        "INSERT INTO alert_rules (name, kind, params, scope, priority, sla_hours,"
                        " create_case, enabled, created_by, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " RETURNING rule_id",
                        [*values, actor, now, now],
                    ).fetchall()[0][0]
                )
            updated = cur.execute(
                "UPDATE alert_rules SET name = ?, kind = ?, params = ?, scope = ?, priority = ?,"
                " sla_hours = ?,"
                " create_case = ?, enabled = ?, updated_at = ? WHERE rule_id = ? RETURNING rule_id",
                [*values, now, rule.rule_id],
            ).fetchall()
            if not updated:
                raise RuleError(
                    f"rule #{rule.rule_id} does not exist", f"规则 #{rule.rule_id} 不存在", "rule_id"
                )
            return int(rule.rule_id)
    finally:
        cur.close()


def set_enabled(con: duckdb.DuckDBPyConnection, rule_id: int, enabled: bool) -> None:
    rule = get_rule(con, rule_id)
    save_rule(con, Rule(**{**rule.__dict__, "enabled": bool(enabled)}))


# --- the default rule set -------------------------------------------------------------------------

SAFETY_KEYWORDS: Final = ("爆炸", "起火", "着火", "冒烟", "自燃", "烧焦", "烫伤", "漏电", "鼓包")

# Why these, and why per-feedback rules only look at the last days: docs/ACT.md ("Default rules").
DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    make_rule(
        "NPS 贬损者回访（0–6 分）",
        "nps_at_most",
        {"max_score": 6, "lookback_days": 7},
        priority="medium",
        sla_hours=48,
    ),
    make_rule(
        "安全隐患关键词（爆炸/起火/冒烟…）",
        "keyword",
        {"keywords": list(SAFETY_KEYWORDS), "lookback_days": 30},
        priority="urgent",
        sla_hours=24,
    ),
    make_rule(
        "发热负面（高置信度）",
        "aspect_negative",
        {"aspects": ["电池/发热"], "min_confidence": 0.9, "lookback_days": 7},
        priority="high",
        sla_hours=24,
    ),
    make_rule(
        "机型指标净情感周环比骤降",
        "aspect_net_drop",
        {"group_by": "product", "min_drop": 30, "min_mentions": 15, "baseline_periods": 4, "alpha": 0.001},
        priority="high",
        sla_hours=72,
    ),
    make_rule(
        "品牌指标净情感周环比骤降",
        "aspect_net_drop",
        {"group_by": "brand", "min_drop": 30, "min_mentions": 20, "baseline_periods": 4, "alpha": 0.001},
        priority="high",
        sla_hours=72,
    ),
    make_rule(
        "渠道指标净情感周环比骤降",
        "aspect_net_drop",
        {"group_by": "channel", "min_drop": 30, "min_mentions": 20, "baseline_periods": 4, "alpha": 0.001},
        priority="high",
        sla_hours=72,
    ),
    make_rule(
        "品牌周 NPS 低于 0",
        "nps_below",
        {"threshold": 0, "group_by": "brand", "min_answers": 30, "confident": True},
        priority="high",
        sla_hours=72,
    ),
    make_rule(
        "机型发热差评周量过高",
        "complaint_volume",
        {"max_count": 10, "aspect": "电池/发热", "group_by": "product", "period": "week"},
        priority="high",
        sla_hours=72,
    ),
)


def ensure_default_rules(con: duckdb.DuckDBPyConnection) -> int:
    """Store :data:`DEFAULT_RULES` when the store has no rule at all (first use); return how many were added.

    Rules are never deleted in the UI (only disabled), so an empty table means "never set up".
    """
    cur = con.cursor()
    try:
        with WRITE_LOCK, transaction(cur):
            if cur.execute("SELECT count(*) FROM alert_rules").fetchall()[0][0]:
                return 0
            now = utc_now()
            for rule in DEFAULT_RULES:
                cur.execute(
                    "INSERT INTO alert_rules (name, kind, params, scope, priority, sla_hours, create_case,"
                    " enabled, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        rule.name,
                        rule.kind,
                        json.dumps(dict(rule.params), ensure_ascii=False),
                        "{}",
                        rule.priority,
                        rule.sla_hours,
                        rule.create_case,
                        rule.enabled,
                        "system",
                        now,
                        now,
                    ],
                )
            return len(DEFAULT_RULES)
    finally:
        cur.close()


def describe_params(params: Mapping[str, Any]) -> str:
    """``key=value`` pairs for lists and logs."""
    parts = []
    for key, value in params.items():
        if value is None or value == []:
            continue
        shown = "、".join(value) if isinstance(value, list) else value
        parts.append(f"{key}={shown}")
    return "; ".join(parts)


def as_date(value: dt.date | dt.datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d}"
