"""Evaluate alert rules in SQL and turn what fires into alerts and cases, idempotently.

Each rule kind is one parameterised query over ``feedback`` / ``feedback_sentiment`` / ``aspect_mentions``
(scope through :class:`analytics.filters.Filters`), returning :class:`AlertCandidate` rows with a
deterministic ``alert_key``:

- per feedback: ``rule:{rule_id}:fb:{feedback_id}``;
- aggregate: ``rule:{rule_id}:{group}|{aspect}:{period start}`` (group = brand|product, brand or channel).

:func:`run_rules` inserts the candidates whose key is not stored yet (``alerts.alert_key`` is UNIQUE, so a
re-run adds nothing) and, for rules with ``create_case``, opens a case per new alert through
:mod:`data.cases` — unless an open case already covers the same thing (the same feedback, or the same rule
and group), in which case the alert is recorded on that case's audit trail instead. One transaction per
rule. Time windows are anchored on the newest feedback date in the store, not on the wall clock, so a
store of last year's data (the demo ends 2025-06-30) still has a "last 7 days". Details: docs/ACT.md.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from analytics.alert_rules import Rule, ensure_default_rules, load_rules
from analytics.aspects import mention_where
from analytics.filters import Filters
from analytics.metrics import nps_interval
from analytics.stats import net_sentiment, net_sentiment_change
from data import cases as case_store
from data.attach import read_cursor
from data.store import WRITE_LOCK, transaction

Progress = Callable[[float, str], None]

GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "product": ("brand", "product"),
    "brand": ("brand",),
    "channel": ("channel",),
}
PERIOD_SQL = {"week": "week", "month": "month"}  # whitelist: rule period -> date_trunc part / interval unit
SNIPPET_CHARS = 80


@dataclass(frozen=True)
class AlertCandidate:
    """One firing of a rule, before it is stored."""

    alert_key: str
    group_key: str
    summary: str
    title: str
    feedback_id: int | None = None
    brand: str | None = None
    product: str | None = None
    region: str | None = None
    channel: str | None = None
    period_start: dt.datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RuleResult:
    rule_id: int
    name: str
    kind: str
    fired: int = 0
    new_alerts: int = 0
    cases_created: list[int] = field(default_factory=list)
    cases_updated: list[int] = field(default_factory=list)
    new_summaries: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class RunSummary:
    results: list[RuleResult] = field(default_factory=list)
    seeded: int = 0
    seconds: float = 0.0

    @property
    def new_alerts(self) -> int:
        return sum(r.new_alerts for r in self.results)

    @property
    def cases_created(self) -> list[int]:
        return [c for r in self.results for c in r.cases_created]

    @property
    def cases_updated(self) -> list[int]:
        return sorted({c for r in self.results for c in r.cases_updated})

    @property
    def errors(self) -> list[str]:
        return [f"{r.name}: {r.error}" for r in self.results if r.error]


# --- shared helpers -------------------------------------------------------------------------------


def _snippet(text: object, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _anchor(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """The newest feedback time in the store: "now" for the rules' windows."""
    value = con.execute("SELECT max(created_at) FROM feedback").fetchall()[0][0]
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def _feedback_window(rule: Rule, anchor: dt.datetime | None) -> tuple[str, dict[str, object]]:
    """Per-feedback rules look at the last ``lookback_days`` before the newest feedback (undated feedback:
    by its import time)."""
    days = rule.params.get("lookback_days")
    if days is None or anchor is None:
        return "TRUE", {}
    since = anchor - dt.timedelta(days=int(days))
    return "coalesce(f.created_at, d.imported_at) >= $since", {"since": since}


def _period_window(rule: Rule, anchor: dt.datetime | None, column: str) -> tuple[str, dict[str, object]]:
    periods = rule.params.get("lookback_periods")
    if periods is None or anchor is None:
        return "TRUE", {}
    unit = PERIOD_SQL[rule.params["period"]]
    start = pd.Timestamp(anchor).to_period("W-SUN" if unit == "week" else "M").start_time
    offset = (
        pd.DateOffset(weeks=int(periods) - 1) if unit == "week" else pd.DateOffset(months=int(periods) - 1)
    )
    return f"{column} >= $since", {"since": (start - offset).to_pydatetime()}


def _group(rule: Rule) -> tuple[tuple[str, ...], str]:
    columns = GROUP_COLUMNS[rule.params["group_by"]]
    return columns, " AND ".join(f"{{a}}.{c} IS NOT NULL" for c in columns)


def _group_fields(rule: Rule, row: pd.Series) -> dict[str, Any]:
    return {c: row[c] for c in GROUP_COLUMNS[rule.params["group_by"]]}


def _group_label(values: dict[str, Any]) -> str:
    return " ".join(str(v) for v in values.values())


def _period_label(rule: Rule, start: dt.datetime) -> str:
    if rule.params["period"] == "month":
        return f"{start:%Y-%m} 月"
    return f"{start:%Y-%m-%d} 起的一周"


def _aspect_join(aspects: Sequence[str]) -> tuple[str, str, dict[str, object]]:
    """(join, label expression, params): every top-level aspect, or the listed tops/paths."""
    if not aspects:
        return "", "m.aspect_top", {}
    join = (
        "JOIN (SELECT unnest($aspects) AS aspect) a ON (CASE WHEN contains(a.aspect, '/')"
        " THEN m.aspect_path = a.aspect ELSE m.aspect_top = a.aspect END)"
    )
    return join, "a.aspect", {"aspects": list(aspects)}


# --- per-feedback kinds ---------------------------------------------------------------------------

_FEEDBACK_COLUMNS = (
    "f.feedback_id, f.brand, f.product, f.region, f.channel, f.created_at, f.nps_score, f.text"
)


def _feedback_candidates(
    rule: Rule, frame: pd.DataFrame, describe: Callable[[pd.Series], str]
) -> list[AlertCandidate]:
    out = []
    for _, row in frame.iterrows():
        fid = int(row["feedback_id"])
        what = describe(row)
        names = " ".join(str(v) for v in (row["brand"], row["product"]) if v is not None and not pd.isna(v))
        text = row["text"]
        summary = (
            what if text is None or pd.isna(text) or not str(text).strip() else f"{what}：{_snippet(text)}"
        )
        created = row["created_at"]
        out.append(
            AlertCandidate(
                alert_key=f"rule:{rule.rule_id}:fb:{fid}",
                group_key=f"fb:{fid}",
                summary=summary,
                title=_snippet(f"{rule.name} · {names or '—'} · {what}", 200),
                feedback_id=fid,
                brand=None if pd.isna(row["brand"]) else row["brand"],
                product=None if pd.isna(row["product"]) else row["product"],
                region=None if pd.isna(row["region"]) else row["region"],
                channel=None if pd.isna(row["channel"]) else row["channel"],
                period_start=None if pd.isna(created) else pd.Timestamp(created).to_pydatetime(),
                details={"rule": rule.name, **{k: _plain(row[k]) for k in row.index if k not in ("text",)}},
            )
        )
    return out


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, (list, str)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        return pd.Timestamp(value).isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _run_feedback_query(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    anchor: dt.datetime | None,
    extra_sql: str,
    extra_params: dict[str, object],
    select_extra: str = "",
    join: str = "",
    group: bool = False,
) -> pd.DataFrame:
    where, params = rule.filters().where(alias="f")
    window, window_params = _feedback_window(rule, anchor)
    group_sql = f"GROUP BY {_FEEDBACK_COLUMNS}" if group else ""
    return con.execute(
        f"""
        SELECT {_FEEDBACK_COLUMNS}{select_extra}
        FROM feedback f JOIN datasets d ON d.dataset_id = f.dataset_id {join}
        WHERE {where} AND {window} AND {extra_sql}
        {group_sql}
        ORDER BY f.feedback_id
        """,
        {**params, **window_params, **extra_params},
    ).df()


def evaluate_nps_at_most(
    con: duckdb.DuckDBPyConnection, rule: Rule, anchor: dt.datetime | None
) -> list[AlertCandidate]:
    frame = _run_feedback_query(
        con, rule, anchor, "f.nps_score <= $max_score", {"max_score": int(rule.params["max_score"])}
    )
    return _feedback_candidates(rule, frame, lambda r: f"NPS {int(r['nps_score'])} 分")


def evaluate_aspect_negative(
    con: duckdb.DuckDBPyConnection, rule: Rule, anchor: dt.datetime | None
) -> list[AlertCandidate]:
    join, _, aspect_params = _aspect_join(rule.params["aspects"])
    frame = _run_feedback_query(
        con,
        rule,
        anchor,
        "m.polarity = 'negative' AND m.confidence >= $min_confidence",
        {"min_confidence": float(rule.params["min_confidence"]), **aspect_params},
        select_extra=", string_agg(DISTINCT m.aspect_path, '、' ORDER BY m.aspect_path) AS aspects,"
        " string_agg(DISTINCT m.term, '、' ORDER BY m.term) AS terms, max(m.confidence) AS confidence",
        join=f"JOIN aspect_mentions m ON m.feedback_id = f.feedback_id {join}",
        group=True,
    )
    return _feedback_candidates(
        rule, frame, lambda r: f"{r['aspects']} 负面（“{r['terms']}”，置信度 {float(r['confidence']):.2f}）"
    )


def evaluate_keyword(
    con: duckdb.DuckDBPyConnection, rule: Rule, anchor: dt.datetime | None
) -> list[AlertCandidate]:
    keywords = list(rule.params["keywords"])
    params = {f"kw{i}": k.lower() for i, k in enumerate(keywords)}
    matches = " OR ".join(f"contains(lower(f.text), $kw{i})" for i in range(len(keywords)))
    frame = _run_feedback_query(con, rule, anchor, f"f.text IS NOT NULL AND ({matches})", params)

    def describe(row: pd.Series) -> str:
        text = str(row["text"]).lower()
        hits = [k for k in keywords if k.lower() in text]
        return f"含关键词“{'、'.join(hits)}”"

    return _feedback_candidates(rule, frame, describe)


# --- aggregate kinds ------------------------------------------------------------------------------


def _aggregate_candidate(
    rule: Rule, row: pd.Series, aspect: str | None, summary: str, details: dict[str, Any]
) -> AlertCandidate:
    group = _group_fields(rule, row)
    start = pd.Timestamp(row["period"]).to_pydatetime()
    parts = "|".join(str(v) for v in group.values()) + (f"|{aspect}" if aspect else "")
    return AlertCandidate(
        alert_key=f"rule:{rule.rule_id}:{parts}:{start:%Y-%m-%d}",
        group_key=f"rule:{rule.rule_id}:{parts}",
        summary=summary,
        title=_snippet(summary, 200),
        brand=group.get("brand"),
        product=group.get("product"),
        channel=group.get("channel"),
        period_start=start,
        details={
            "rule": rule.name,
            "group": group,
            "aspect": aspect,
            "period": rule.params["period"],
            **details,
        },
    )


def evaluate_aspect_net_drop(
    con: duckdb.DuckDBPyConnection, rule: Rule, anchor: dt.datetime | None
) -> list[AlertCandidate]:
    p = rule.params
    columns, not_null = _group(rule)
    unit = PERIOD_SQL[p["period"]]
    join, label, aspect_params = _aspect_join(p["aspects"])
    where, params = mention_where(rule.filters(), alias="m")
    window, window_params = _period_window(rule, anchor, "c.period")
    keys = ", ".join(f"m.{c}" for c in columns)
    on = " AND ".join(f"p.{c} = c.{c}" for c in (*columns, "aspect"))
    baseline = int(p["baseline_periods"])
    # One vote per review and aspect (a review's mentions of one aspect are not independent): positive when
    # it has more positive than negative mentions of the aspect, negative when more negative, else neutral.
    frame = con.execute(
        f"""
        WITH r AS (
            SELECT {keys}, {label} AS aspect, date_trunc('{unit}', m.created_at) AS period, m.feedback_id,
                   sign(count(*) FILTER (WHERE m.polarity = 'positive')
                        - count(*) FILTER (WHERE m.polarity = 'negative')) AS vote
            FROM aspect_mentions m {join}
            WHERE {where} AND m.created_at IS NOT NULL AND {not_null.format(a="m")}
            GROUP BY ALL
        ), w AS (
            SELECT {", ".join(columns)}, aspect, period, count(*) AS n,
                   count(*) FILTER (WHERE vote > 0) AS positive,
                   count(*) FILTER (WHERE vote = 0) AS neutral,
                   count(*) FILTER (WHERE vote < 0) AS negative
            FROM r GROUP BY ALL
        ), b AS (
            SELECT {", ".join(f"c.{k}" for k in columns)}, c.aspect, c.period,
                   sum(p.n) AS n_before, sum(p.positive) AS positive_before,
                   sum(p.neutral) AS neutral_before, sum(p.negative) AS negative_before,
                   any_value(c.n) AS n, any_value(c.positive) AS positive, any_value(c.neutral) AS neutral,
                   any_value(c.negative) AS negative
            FROM w c JOIN w p ON {on}
                 AND p.period >= c.period - to_{unit}s($baseline) AND p.period < c.period
            WHERE {window}
            GROUP BY ALL
        )
        SELECT * FROM b
        WHERE n >= $min_n AND n_before >= $min_n
          AND 100.0 * (positive_before - negative_before) / n_before - 100.0 * (positive - negative) / n
              >= $min_drop
        ORDER BY period, aspect
        """,
        {
            **params,
            **aspect_params,
            **window_params,
            "baseline": baseline,
            "min_n": int(p["min_mentions"]),
            "min_drop": float(p["min_drop"]),
        },
    ).df()
    out = []
    for _, row in frame.iterrows():
        before = net_sentiment(row["positive_before"], row["neutral_before"], row["negative_before"])
        after = net_sentiment(row["positive"], row["neutral"], row["negative"])
        test = net_sentiment_change(before, after, alpha=float(p["alpha"]))
        if not (test.significant and test.difference < 0):
            continue
        drop = before.net - after.net
        summary = (
            f"{_group_label(_group_fields(rule, row))} · {row['aspect']}："
            f"净情感 {before.net:+.0f} → {after.net:+.0f}"
            f"（下降 {drop:.0f} 分，p={test.p_value:.1g}；评论 {before.n} → {after.n}；"
            f"{_period_label(rule, pd.Timestamp(row['period']).to_pydatetime())}）"
        )
        out.append(
            _aggregate_candidate(
                rule,
                row,
                str(row["aspect"]),
                summary,
                {
                    "net_before": round(before.net, 1),
                    "net_after": round(after.net, 1),
                    "drop": round(drop, 1),
                    "n_before": before.n,
                    "n_after": after.n,
                    "z": round(test.z, 2),
                    "p_value": test.p_value,
                },
            )
        )
    return out


def evaluate_nps_below(
    con: duckdb.DuckDBPyConnection, rule: Rule, anchor: dt.datetime | None
) -> list[AlertCandidate]:
    p = rule.params
    columns, not_null = _group(rule)
    unit = PERIOD_SQL[p["period"]]
    where, params = rule.filters().where(alias="f")
    window, window_params = _period_window(rule, anchor, f"date_trunc('{unit}', f.created_at)")
    frame = con.execute(
        f"""
        SELECT {", ".join(f"f.{c}" for c in columns)}, date_trunc('{unit}', f.created_at) AS period,
               count(*) FILTER (WHERE f.nps_score >= 9) AS promoters,
               count(*) FILTER (WHERE f.nps_score BETWEEN 7 AND 8) AS passives,
               count(*) FILTER (WHERE f.nps_score <= 6) AS detractors
        FROM feedback f
        WHERE {where} AND f.nps_score IS NOT NULL AND f.created_at IS NOT NULL AND {not_null.format(a="f")}
          AND {window}
        GROUP BY ALL HAVING count(*) >= $min_n
        ORDER BY period
        """,
        {**params, **window_params, "min_n": int(p["min_answers"])},
    ).df()
    out = []
    threshold = float(p["threshold"])
    for _, row in frame.iterrows():
        interval = nps_interval(int(row["promoters"]), int(row["passives"]), int(row["detractors"]))
        judged = interval.high if p["confident"] else interval.nps
        if not judged < threshold:
            continue
        summary = (
            f"{_group_label(_group_fields(rule, row))}："
            f"NPS {interval.nps:+.0f}（95% 区间 {interval.low:+.0f}…"
            f"{interval.high:+.0f}，{interval.n} 份）低于 {threshold:+.0f}；"
            f"{_period_label(rule, pd.Timestamp(row['period']).to_pydatetime())}"
        )
        out.append(
            _aggregate_candidate(
                rule,
                row,
                None,
                summary,
                {
                    "nps": round(interval.nps, 1),
                    "low": round(interval.low, 1),
                    "high": round(interval.high, 1),
                    "n": interval.n,
                    "threshold": threshold,
                },
            )
        )
    return out


def evaluate_complaint_volume(
    con: duckdb.DuckDBPyConnection, rule: Rule, anchor: dt.datetime | None
) -> list[AlertCandidate]:
    p = rule.params
    columns, not_null = _group(rule)
    unit = PERIOD_SQL[p["period"]]
    aspect = p["aspect"]
    if aspect:
        where, params = mention_where(rule.filters(), alias="m")
        join, _, aspect_params = _aspect_join([aspect])
        source = f"aspect_mentions m {join}"
        condition = "m.polarity = 'negative'"
        alias = "m"
    else:
        where, params = rule.filters().where(alias="f")
        aspect_params = {}
        source = "feedback f JOIN feedback_sentiment s ON s.feedback_id = f.feedback_id"
        condition = "s.sentiment = 'negative'"
        alias = "f"
    window, window_params = _period_window(rule, anchor, f"date_trunc('{unit}', {alias}.created_at)")
    frame = con.execute(
        f"""
        SELECT {", ".join(f"{alias}.{c}" for c in columns)},
               date_trunc('{unit}', {alias}.created_at) AS period,
               count(DISTINCT {alias}.feedback_id) AS complaints
        FROM {source}
        WHERE {where} AND {condition} AND {alias}.created_at IS NOT NULL AND {not_null.format(a=alias)}
          AND {window}
        GROUP BY ALL HAVING count(DISTINCT {alias}.feedback_id) > $max_count
        ORDER BY period
        """,
        {**params, **aspect_params, **window_params, "max_count": int(p["max_count"])},
    ).df()
    out = []
    what = f"{aspect} 负面反馈" if aspect else "负面反馈"
    for _, row in frame.iterrows():
        summary = (
            f"{_group_label(_group_fields(rule, row))}：{what} {int(row['complaints'])} 条，超过阈值 "
            f"{int(p['max_count'])}；{_period_label(rule, pd.Timestamp(row['period']).to_pydatetime())}"
        )
        out.append(_aggregate_candidate(rule, row, aspect, summary, {"complaints": int(row["complaints"])}))
    return out


EVALUATORS: dict[
    str, Callable[[duckdb.DuckDBPyConnection, Rule, dt.datetime | None], list[AlertCandidate]]
] = {
    "nps_at_most": evaluate_nps_at_most,
    "aspect_negative": evaluate_aspect_negative,
    "keyword": evaluate_keyword,
    "aspect_net_drop": evaluate_aspect_net_drop,
    "nps_below": evaluate_nps_below,
    "complaint_volume": evaluate_complaint_volume,
}


def evaluate_rule(con: duckdb.DuckDBPyConnection, rule: Rule) -> list[AlertCandidate]:
    """What ``rule`` fires on the store now (stored or not); read-only."""
    cur = read_cursor(con)  # includes annotations attached as Parquet (python cli.py attach)
    try:
        return EVALUATORS[rule.kind](cur, rule, _anchor(cur))
    finally:
        cur.close()


# --- storing alerts and cases ---------------------------------------------------------------------


def _open_case_for(cur: duckdb.DuckDBPyConnection, rule: Rule, candidate: AlertCandidate) -> int | None:
    """An open case covering the same thing: the same feedback (any rule), or the same rule and group."""
    if candidate.feedback_id is not None:
        rows = cur.execute(
            "SELECT case_id FROM cases WHERE feedback_id = ? AND status IN ('new', 'in_progress')"
            " ORDER BY case_id LIMIT 1",
            [candidate.feedback_id],
        ).fetchall()
    else:
        rows = cur.execute(
            "SELECT c.case_id FROM cases c JOIN alerts a ON a.alert_id = c.alert_id"
            " WHERE c.rule_id = ? AND json_extract_string(a.details, '$.group_key') = ?"
            " AND c.status IN ('new', 'in_progress') ORDER BY c.case_id LIMIT 1",
            [rule.rule_id, candidate.group_key],
        ).fetchall()
    return int(rows[0][0]) if rows else None


def store_candidates(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    candidates: Sequence[AlertCandidate],
    *,
    actor: str | None = "system",
    now: dt.datetime | None = None,
) -> RuleResult:
    """Insert the new alerts of ``rule`` and open/update its cases, in one transaction."""
    result = RuleResult(int(rule.rule_id or 0), rule.name, rule.kind, fired=len(candidates))
    if not candidates:
        return result
    at = now or case_store.utc_now()
    cur = con.cursor()
    try:
        with WRITE_LOCK, transaction(cur):
            stored = {
                r[0]
                for r in cur.execute(
                    "SELECT alert_key FROM alerts WHERE alert_key IN (SELECT unnest($keys))",
                    {"keys": [c.alert_key for c in candidates]},
                ).fetchall()
            }
            for candidate in candidates:
                if candidate.alert_key in stored:
                    continue
                stored.add(candidate.alert_key)
                details = {**candidate.details, "group_key": candidate.group_key}
                alert_id = int(
                    cur.execute(
                        "INSERT INTO alerts (rule_id, alert_key, feedback_id, brand, product, region,"
                        " channel,"
                        " period_start, summary, details, fired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " RETURNING alert_id",
                        [
                            rule.rule_id,
                            candidate.alert_key,
                            candidate.feedback_id,
                            candidate.brand,
                            candidate.product,
                            candidate.region,
                            candidate.channel,
                            candidate.period_start,
                            candidate.summary,
                            json.dumps(details, ensure_ascii=False, default=str),
                            at,
                        ],
                    ).fetchall()[0][0]
                )
                result.new_alerts += 1
                result.new_summaries.append(candidate.summary)
                if not rule.create_case:
                    continue
                open_case = _open_case_for(cur, rule, candidate)
                if open_case is not None:
                    case_store.link_alert(
                        cur,
                        open_case,
                        alert_id,
                        candidate.summary,
                        actor=actor,
                        priority=rule.priority,
                        now=at,
                    )
                    result.cases_updated.append(open_case)
                    continue
                case_id = case_store.insert_case(
                    cur,
                    title=candidate.title,
                    actor=actor,
                    feedback_id=candidate.feedback_id,
                    alert_id=alert_id,
                    rule_id=rule.rule_id,
                    brand=candidate.brand,
                    product=candidate.product,
                    region=candidate.region,
                    channel=candidate.channel,
                    priority=rule.priority,
                    sla_hours=rule.sla_hours,
                    note=candidate.summary,
                    now=at,
                )
                result.cases_created.append(case_id)
    finally:
        cur.close()
    return result


def run_rules(
    con: duckdb.DuckDBPyConnection,
    *,
    rule_ids: Sequence[int] | None = None,
    actor: str | None = "system",
    seed_defaults: bool = True,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> RunSummary:
    """Evaluate every enabled rule (or those in ``rule_ids``), store new alerts and cases; idempotent.

    A rule that fails (e.g. a database error) is reported in its :class:`RuleResult` and does not stop the
    others. With ``seed_defaults``, the default rules are stored first if the store has none.
    """
    started = time.perf_counter()
    summary = RunSummary(seeded=ensure_default_rules(con) if seed_defaults else 0)
    rules = [
        r for r in load_rules(con, enabled_only=rule_ids is None) if rule_ids is None or r.rule_id in rule_ids
    ]
    for i, rule in enumerate(rules):
        if progress is not None:
            progress(i / max(len(rules), 1), rule.name)
        try:
            candidates = evaluate_rule(con, rule)
            summary.results.append(store_candidates(con, rule, candidates, actor=actor, now=now))
        except (duckdb.Error, case_store.CaseError) as exc:
            summary.results.append(RuleResult(int(rule.rule_id or 0), rule.name, rule.kind, error=str(exc)))
    if progress is not None:
        progress(1.0, "")
    summary.seconds = time.perf_counter() - started
    return summary


def case_scope(filters: Filters, alias: str = "c") -> tuple[str, dict[str, object]]:
    """Data permissions and the brand/product/channel/region filters for ``cases``/``alerts`` rows.

    Dates and datasets do not apply (a case's ``created_at`` is when the case was opened, and cases have no
    dataset); the user's scope, carried by ``filters``, always does.
    """
    return filters.with_(date_from=None, date_to=None, dataset_ids=()).where(alias=alias)


def list_alerts(
    con: duckdb.DuckDBPyConnection,
    scope: tuple[str, dict[str, object]] = ("TRUE", {}),
    *,
    rule_id: int | None = None,
    limit: int | None = 500,
) -> pd.DataFrame:
    """Stored alerts, newest first, with their rule's name and kind and the case they opened (if any).

    ``scope`` is ``Filters.where(alias="a")`` of the caller (data permissions).
    """
    where, params = scope
    extra = "AND a.rule_id = $alert_rule" if rule_id is not None else ""
    limit_sql = f"LIMIT {int(limit)}" if limit is not None else ""
    cur = con.cursor()
    try:
        return cur.execute(
            f"""
            SELECT a.alert_id, a.fired_at, r.name AS rule, r.kind, a.brand, a.product, a.channel,
                   a.period_start, a.summary, a.feedback_id, coalesce(c.case_id, e.case_id) AS case_id
            FROM alerts a LEFT JOIN alert_rules r ON r.rule_id = a.rule_id
            LEFT JOIN cases c ON c.alert_id = a.alert_id
            LEFT JOIN (SELECT DISTINCT ON (new_value) case_id, new_value FROM case_events
                       WHERE action = 'alert') e ON e.new_value = CAST(a.alert_id AS VARCHAR)
            WHERE {where} {extra}
            ORDER BY a.alert_id DESC {limit_sql}
            """,
            {**params, **({"alert_rule": int(rule_id)} if rule_id is not None else {})},
        ).df()
    finally:
        cur.close()
