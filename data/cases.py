"""Cases (工单): create, assign, comment, move through statuses; every change is audited in ``case_events``.

A case is one thing a person must act on: a detractor to call back, a quote to investigate, an aspect whose
sentiment fell. It is created by an alert rule (``analytics.alerts.run_rules``) or by hand from any quote.

Rules kept here (no Streamlit, no analytics import: data/ is the bottom layer):
- Every change writes its ``case_events`` row(s) in the same transaction as the change: actor, field,
  old value → new value. Creation writes a ``created`` event; a note writes a ``note`` event.
- Status codes are English in the store (``new``, ``in_progress``, ``resolved``, ``closed``); the UI shows
  新建/处理中/已解决/已关闭. Allowed transitions: see :data:`TRANSITIONS`.
- ``due_at`` = creation time + the rule's SLA hours (a hand-made case: the SLA chosen in the form).
  A case is *overdue* when ``due_at < now`` and its status is still ``new`` or ``in_progress``.
- Times are naive UTC (``datetime.now(UTC)`` without tzinfo), set by Python, never by the database clock.
- Data permissions: :func:`list_cases` takes a ``(where_sql, params)`` pair built by the caller from
  ``analytics.filters.Filters.where(alias="c")`` (cases carry brand/product/region/channel for exactly this).
- A case outlives its feedback: deleting a dataset keeps the case; ``feedback_missing`` says the link dangles.

Functions named ``insert_*``/``link_*`` run inside the caller's transaction (the rule engine creates alerts
and cases atomically); the others open their own transaction under :data:`data.store.WRITE_LOCK`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import duckdb
import pandas as pd

from data.store import WRITE_LOCK, transaction

STATUSES: Final = ("new", "in_progress", "resolved", "closed")
OPEN_STATUSES: Final = ("new", "in_progress")
PRIORITIES: Final = ("low", "medium", "high", "urgent")
PRIORITY_RANK: Final = {p: i for i, p in enumerate(PRIORITIES)}

# status -> statuses it may move to. No way back to "new"; resolved and closed cases can be reopened.
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "new": frozenset({"in_progress", "resolved", "closed"}),
    "in_progress": frozenset({"resolved", "closed"}),
    "resolved": frozenset({"in_progress", "closed"}),
    "closed": frozenset({"in_progress"}),
}

MAX_TITLE = 300
MAX_NOTE = 4000
MAX_NAME = 100
DEFAULT_SLA_HOURS = 72

# Columns that list_cases and the export return (plus computed ones).
CASE_COLUMNS: Final = (
    "case_id",
    "title",
    "status",
    "priority",
    "assignee",
    "due_at",
    "created_at",
    "updated_at",
    "resolved_at",
    "created_by",
    "brand",
    "product",
    "region",
    "channel",
    "feedback_id",
    "alert_id",
    "rule_id",
)


class CaseError(ValueError):
    """A request the store refuses (unknown case, forbidden transition, bad value); the message says why."""


def utc_now() -> dt.datetime:
    """Now, as the naive UTC timestamp every case time is stored in."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Case:
    case_id: int
    title: str
    status: str
    priority: str
    assignee: str | None
    due_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    resolved_at: dt.datetime | None
    created_by: str | None
    brand: str | None
    product: str | None
    region: str | None
    channel: str | None
    feedback_id: int | None
    alert_id: int | None
    rule_id: int | None

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        return is_overdue(self.status, self.due_at, now)


def is_overdue(status: str, due_at: dt.datetime | None, now: dt.datetime | None = None) -> bool:
    """``due_at`` has passed and the case is still open."""
    if due_at is None or status not in OPEN_STATUSES:
        return False
    return pd.Timestamp(due_at).to_pydatetime() < (now or utc_now())


# --- validation -----------------------------------------------------------------------------------


def _clean_text(value: object, what: str, limit: int, *, required: bool) -> str | None:
    text = "" if value is None else " ".join(str(value).split()) if what != "note" else str(value).strip()
    if not text:
        if required:
            raise CaseError(f"{what} must not be empty")
        return None
    if len(text) > limit:
        raise CaseError(f"{what} is {len(text)} characters long; at most {limit} are allowed")
    return text


def _check_priority(priority: str) -> str:
    if priority not in PRIORITIES:
        raise CaseError(f"priority {priority!r} is not one of {', '.join(PRIORITIES)}")
    return priority


def _check_status(status: str) -> str:
    if status not in STATUSES:
        raise CaseError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    return status


def _actor(actor: str | None) -> str:
    return _clean_text(actor, "actor", MAX_NAME, required=False) or "system"


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


# --- writes inside the caller's transaction -------------------------------------------------------


def _event(
    cur: duckdb.DuckDBPyConnection,
    case_id: int,
    actor: str,
    action: str,
    *,
    at: dt.datetime,
    field: str | None = None,
    old: object = None,
    new: object = None,
    note: str | None = None,
) -> None:
    cur.execute(
        "INSERT INTO case_events (case_id, event_at, actor, action, field, old_value, new_value, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [case_id, at, actor, action, field, _as_text(old), _as_text(new), note],
    )


def _feedback_context(cur: duckdb.DuckDBPyConnection, feedback_id: int) -> dict[str, Any]:
    rows = cur.execute(
        "SELECT brand, product, region, channel FROM feedback WHERE feedback_id = ? LIMIT 1", [feedback_id]
    ).fetchall()
    if not rows:
        raise CaseError(f"feedback #{feedback_id} does not exist (deleted with its dataset?)")
    return dict(zip(("brand", "product", "region", "channel"), rows[0], strict=True))


def insert_case(
    cur: duckdb.DuckDBPyConnection,
    *,
    title: str,
    actor: str | None,
    feedback_id: int | None = None,
    alert_id: int | None = None,
    rule_id: int | None = None,
    brand: str | None = None,
    product: str | None = None,
    region: str | None = None,
    channel: str | None = None,
    priority: str = "medium",
    assignee: str | None = None,
    sla_hours: int | None = DEFAULT_SLA_HOURS,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Insert a case and its ``created`` event (and a ``note`` event) in the caller's transaction.

    With ``feedback_id``, brand/product/region/channel not given are copied from the feedback, so data
    permissions apply to the case as to the feedback. ``sla_hours`` None: no due date.
    """
    who = _actor(actor)
    clean_title = _clean_text(title, "title", MAX_TITLE, required=True)
    _check_priority(priority)
    clean_assignee = _clean_text(assignee, "assignee", MAX_NAME, required=False)
    clean_note = _clean_text(note, "note", MAX_NOTE, required=False)
    if sla_hours is not None and (int(sla_hours) != sla_hours or sla_hours <= 0):
        raise CaseError(f"SLA must be a positive number of hours, got {sla_hours!r}")
    context = {"brand": brand, "product": product, "region": region, "channel": channel}
    if feedback_id is not None:
        from_feedback = _feedback_context(cur, int(feedback_id))
        context = {k: v if v is not None else from_feedback[k] for k, v in context.items()}
    created = now or utc_now()
    due = created + dt.timedelta(hours=int(sla_hours)) if sla_hours is not None else None
    case_id = int(
        cur.execute(
            """
            INSERT INTO cases (title, feedback_id, alert_id, rule_id, brand, product, region, channel, status,
                               priority, assignee, due_at, created_by, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?, ?)
            RETURNING case_id
            """,
            [
                clean_title,
                feedback_id,
                alert_id,
                rule_id,
                context["brand"],
                context["product"],
                context["region"],
                context["channel"],
                priority,
                clean_assignee,
                due,
                who,
                created,
                created,
            ],
        ).fetchall()[0][0]
    )
    _event(
        cur,
        case_id,
        who,
        "created",
        at=created,
        field="status",
        new="new",
        note=f"alert #{alert_id}" if alert_id is not None else None,
    )
    if clean_assignee:
        _event(cur, case_id, who, "assignee", at=created, field="assignee", new=clean_assignee)
    if clean_note:
        _event(cur, case_id, who, "note", at=created, note=clean_note)
    return case_id


def link_alert(
    cur: duckdb.DuckDBPyConnection,
    case_id: int,
    alert_id: int,
    summary: str,
    *,
    actor: str | None = "system",
    priority: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Record a further alert on an open case (an ``alert`` event); raise its priority if ``priority`` is
    higher. Runs in the caller's transaction."""
    at = now or utc_now()
    who = _actor(actor)
    _event(cur, case_id, who, "alert", at=at, field="alert_id", new=alert_id, note=summary[:MAX_NOTE])
    if priority is not None:
        current = cur.execute("SELECT priority FROM cases WHERE case_id = ?", [case_id]).fetchall()[0][0]
        if PRIORITY_RANK[_check_priority(priority)] > PRIORITY_RANK[current]:
            cur.execute("UPDATE cases SET priority = ? WHERE case_id = ?", [priority, case_id])
            _event(cur, case_id, who, "priority", at=at, field="priority", old=current, new=priority)
    cur.execute("UPDATE cases SET updated_at = ? WHERE case_id = ?", [at, case_id])


# --- public operations with their own transaction -------------------------------------------------


def create_case(con: duckdb.DuckDBPyConnection, **kwargs: Any) -> int:
    """Create a case by hand (or from code) in one transaction; see :func:`insert_case` for the arguments."""
    cur = con.cursor()
    try:
        with WRITE_LOCK, transaction(cur):
            return insert_case(cur, **kwargs)
    finally:
        cur.close()


def _row(cur: duckdb.DuckDBPyConnection, case_id: int) -> Case:
    rows = cur.execute(f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE case_id = ?", [case_id]).fetchall()
    if not rows:
        raise CaseError(f"case #{case_id} does not exist")
    values = dict(zip(CASE_COLUMNS, rows[0], strict=True))
    return Case(**values)


def get_case(con: duckdb.DuckDBPyConnection, case_id: int) -> Case:
    cur = con.cursor()
    try:
        return _row(cur, int(case_id))
    finally:
        cur.close()


_UNCHANGED: Any = object()


def update_case(
    con: duckdb.DuckDBPyConnection,
    case_id: int,
    actor: str | None,
    *,
    status: str | None = None,
    priority: str | None = None,
    assignee: str | None = _UNCHANGED,
    due_at: dt.datetime | None = _UNCHANGED,
    title: str | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """Change any of status/priority/assignee/due date/title and add a note, in one transaction.

    Each field that really changes gets its own event (old → new); unchanged values write nothing.
    ``assignee=None`` unassigns. A forbidden status change raises :class:`CaseError` and changes nothing.
    """
    who = _actor(actor)
    at = now or utc_now()
    cur = con.cursor()
    try:
        with WRITE_LOCK, transaction(cur):
            case = _row(cur, int(case_id))
            changes: list[tuple[str, object, object]] = []
            if status is not None and _check_status(status) != case.status:
                if status not in TRANSITIONS[case.status]:
                    allowed = ", ".join(sorted(TRANSITIONS[case.status]))
                    raise CaseError(
                        f"case #{case.case_id} is {case.status}; it can move to {allowed}, not to {status}"
                    )
                changes.append(("status", case.status, status))
            if priority is not None and _check_priority(priority) != case.priority:
                changes.append(("priority", case.priority, priority))
            if assignee is not _UNCHANGED:
                clean = _clean_text(assignee, "assignee", MAX_NAME, required=False)
                if clean != case.assignee:
                    changes.append(("assignee", case.assignee, clean))
            if due_at is not _UNCHANGED and due_at != case.due_at:
                changes.append(("due_at", case.due_at, due_at))
            if title is not None:
                clean_title = _clean_text(title, "title", MAX_TITLE, required=True)
                if clean_title != case.title:
                    changes.append(("title", case.title, clean_title))
            clean_note = _clean_text(note, "note", MAX_NOTE, required=False)
            for field, old, new in changes:
                cur.execute(f"UPDATE cases SET {field} = ? WHERE case_id = ?", [new, case.case_id])
                _event(cur, case.case_id, who, field, at=at, field=field, old=old, new=new)
                if field == "status":
                    resolved = at if new in ("resolved", "closed") else None
                    if new in ("resolved", "closed") and case.resolved_at is not None:
                        resolved = case.resolved_at  # closing a resolved case keeps its resolution time
                    cur.execute(
                        "UPDATE cases SET resolved_at = ? WHERE case_id = ?", [resolved, case.case_id]
                    )
            if clean_note:
                _event(cur, case.case_id, who, "note", at=at, note=clean_note)
            if changes or clean_note:
                cur.execute("UPDATE cases SET updated_at = ? WHERE case_id = ?", [at, case.case_id])
            return _row(cur, case.case_id)
    finally:
        cur.close()


def transition(
    con: duckdb.DuckDBPyConnection, case_id: int, status: str, actor: str | None, note: str | None = None
) -> Case:
    """Move a case to ``status`` (allowed moves: :data:`TRANSITIONS`), optionally with a note."""
    return update_case(con, case_id, actor, status=status, note=note)


def assign(con: duckdb.DuckDBPyConnection, case_id: int, assignee: str | None, actor: str | None) -> Case:
    return update_case(con, case_id, actor, assignee=assignee)


def add_note(con: duckdb.DuckDBPyConnection, case_id: int, note: str, actor: str | None) -> Case:
    if not str(note or "").strip():
        raise CaseError("the note is empty")
    return update_case(con, case_id, actor, note=note)


# --- reads ----------------------------------------------------------------------------------------

Scope = tuple[str, Mapping[str, object]]
UNRESTRICTED: Scope = ("TRUE", {})


def _values(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def list_cases(
    con: duckdb.DuckDBPyConnection,
    *,
    scope: Scope = UNRESTRICTED,
    status: str | Sequence[str] | None = None,
    priority: str | Sequence[str] | None = None,
    assignee: str | Sequence[str] | None = None,
    brand: str | Sequence[str] | None = None,
    product: str | Sequence[str] | None = None,
    overdue: bool | None = None,
    case_ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Cases matching every given filter, most urgent first (overdue, priority, due date).

    ``scope`` is ``Filters.where(alias="c")`` of the caller (data permissions; no date or dataset filter);
    its parameter names must not start with ``case_``. ``assignee=""`` selects unassigned cases.
    Columns: :data:`CASE_COLUMNS`, ``overdue``, ``feedback_text``, ``feedback_created_at`` and
    ``feedback_missing`` (the case links to feedback that no longer exists).
    """
    where_sql, scope_params = scope
    if any(str(name).startswith("case_") for name in scope_params):
        raise ValueError("scope parameter names must not start with 'case_'")
    clauses = [f"({where_sql})"]
    params: dict[str, object] = {**scope_params, "case_now": now or utc_now()}
    for name, value, check in (("status", status, _check_status), ("priority", priority, _check_priority)):
        values = _values(value)
        if values:
            for v in values:
                check(v)
            clauses.append(f"c.{name} IN (SELECT unnest($case_{name}))")
            params[f"case_{name}"] = values
    for name, value in (("brand", brand), ("product", product)):
        values = _values(value)
        if values:
            clauses.append(f"c.{name} IN (SELECT unnest($case_{name}))")
            params[f"case_{name}"] = values
    assignees = _values(assignee)
    if assignees:
        named = [a for a in assignees if a]
        parts = ["c.assignee IN (SELECT unnest($case_assignee))"] if named else []
        if "" in assignees:
            parts.append("c.assignee IS NULL")
        clauses.append("(" + " OR ".join(parts) + ")")
        if named:
            params["case_assignee"] = named
    overdue_sql = "(c.due_at IS NOT NULL AND c.due_at < $case_now AND c.status IN ('new', 'in_progress'))"
    if overdue is not None:
        clauses.append(overdue_sql if overdue else f"NOT {overdue_sql}")
    if case_ids is not None:
        clauses.append("c.case_id IN (SELECT unnest($case_ids))")
        params["case_ids"] = [int(i) for i in case_ids]
    limit_sql = f"LIMIT {int(limit)}" if limit is not None else ""
    columns = ", ".join(f"c.{name}" for name in CASE_COLUMNS)
    cur = con.cursor()
    try:
        frame = cur.execute(
            f"""
            SELECT {columns}, {overdue_sql} AS overdue,
                   f.text AS feedback_text, f.created_at AS feedback_created_at,
                   (c.feedback_id IS NOT NULL AND f.feedback_id IS NULL) AS feedback_missing
            FROM cases c
            LEFT JOIN (SELECT DISTINCT ON (feedback_id) feedback_id, text, created_at FROM feedback
                       WHERE feedback_id IN (SELECT feedback_id FROM cases WHERE feedback_id IS NOT NULL)) f
                   ON f.feedback_id = c.feedback_id
            WHERE {" AND ".join(clauses)}
            ORDER BY overdue DESC, c.status IN ('resolved', 'closed'),
                     CASE c.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END,
                     c.due_at NULLS LAST, c.case_id
            {limit_sql}
            """,
            params,
        ).df()
    finally:
        cur.close()
    return frame


def case_events(con: duckdb.DuckDBPyConnection, case_id: int) -> pd.DataFrame:
    """The audit trail of one case, oldest first."""
    cur = con.cursor()
    try:
        return cur.execute(
            "SELECT event_at, actor, action, field, old_value, new_value, note FROM case_events"
            " WHERE case_id = ? ORDER BY event_at, rowid",
            [int(case_id)],
        ).df()
    finally:
        cur.close()


def case_counts(
    con: duckdb.DuckDBPyConnection, scope: Scope = UNRESTRICTED, now: dt.datetime | None = None
) -> dict[str, int]:
    """``open``, ``overdue`` and per-status counts of the cases the scope allows."""
    where_sql, params = scope
    cur = con.cursor()
    try:
        rows = cur.execute(
            f"""
            SELECT c.status, count(*),
                   count(*) FILTER (WHERE c.due_at < $case_now AND c.status IN ('new', 'in_progress'))
            FROM cases c WHERE {where_sql} GROUP BY c.status
            """,
            {**params, "case_now": now or utc_now()},
        ).fetchall()
    finally:
        cur.close()
    counts = {status: 0 for status in STATUSES}
    overdue = 0
    for status, n, late in rows:
        counts[str(status)] = int(n)
        overdue += int(late)
    counts["open"] = counts["new"] + counts["in_progress"]
    counts["overdue"] = overdue
    return counts


def assignees(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every assignee name used so far (for the queue filter and the assign box)."""
    cur = con.cursor()
    try:
        rows = cur.execute(
            "SELECT DISTINCT assignee FROM cases WHERE assignee IS NOT NULL ORDER BY assignee"
        ).fetchall()
    finally:
        cur.close()
    return [str(r[0]) for r in rows]


def export_frame(cases: pd.DataFrame) -> pd.DataFrame:
    """A :func:`list_cases` frame as the export table (no computed helper columns except overdue)."""
    columns = [*CASE_COLUMNS, "overdue", "feedback_missing", "feedback_text"]
    return cases[[c for c in columns if c in cases.columns]].copy()
