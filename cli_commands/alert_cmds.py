"""``alerts run|list|rules`` and ``cases list|export``: alert rules and the case queue on the command line.

``alerts run`` evaluates every enabled rule (the default rules are stored on first use), stores new alerts and
opens cases; re-running adds nothing new. It also runs after ``ingest`` and ``demo`` (after annotation).
Exit codes: 0 done, 1 a rule failed (the others still ran; the message names it), 2 the store cannot be
opened or an option is invalid.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import duckdb
import pandas as pd
import typer

from analytics.alert_rules import describe_params, load_rules
from analytics.alerts import RunSummary, list_alerts, run_rules
from cli_commands.common import DbOption, fail, open_store
from data.cases import OPEN_STATUSES, PRIORITIES, STATUSES, CaseError, export_frame, list_cases
from data.export import ExportError, write_export

alerts_app = typer.Typer(help="Alert rules: run them, list what fired.", no_args_is_help=True)
cases_app = typer.Typer(help="Cases (工单): list and export the queue.", no_args_is_help=True)

EXIT_RULE_FAILED = 1
SHOWN_CASES = 30


def print_run(summary: RunSummary) -> None:
    """What fired and which cases were created, rule by rule."""
    if summary.seeded:
        print(f"stored the {summary.seeded} default rules (edit them on the 告警规则 page)")
    for r in summary.results:
        line = f"#{r.rule_id} {r.name} [{r.kind}]: "
        if r.error:
            print(line + f"FAILED: {' '.join(r.error.split())}")
            continue
        line += f"fired {r.fired}, new alerts {r.new_alerts}, new cases {len(r.cases_created)}"
        if r.cases_updated:
            line += f", added to open cases {len(set(r.cases_updated))}"
        print(line)
        for text in r.new_summaries[:5]:
            print(f"    - {' '.join(text.split())[:150]}")
        if len(r.new_summaries) > 5:
            print(f"    … and {len(r.new_summaries) - 5} more")
    created = summary.cases_created
    print(
        f"{summary.new_alerts} new alerts, {len(created)} new cases, "
        f"{len(summary.cases_updated)} open cases updated, in {summary.seconds:.1f} s"
    )


def print_open_cases(frame: pd.DataFrame) -> None:
    """The open queue after the run (cases opened by earlier runs or at import included): aggregate-rule
    cases (a problem of a product, brand or channel) first, then per-feedback cases, then manual ones."""
    if frame.empty:
        print("open cases: none")
        return
    kind = frame["rule_id"].isna() * 2 + (frame["rule_id"].notna() & frame["feedback_id"].notna())
    ordered = frame.assign(_kind=kind).sort_values("_kind", kind="stable")
    print(f"open cases: {len(frame)} (python cli.py cases list; the 行动 page)")
    for case in ordered.head(SHOWN_CASES).itertuples():
        overdue = " OVERDUE" if case.overdue else ""
        print(f"    #{case.case_id} [{case.priority}{overdue}] {' '.join(str(case.title).split())[:120]}")
    if len(frame) > SHOWN_CASES:
        print(f"    … and {len(frame) - SHOWN_CASES} more")


def _run(con: duckdb.DuckDBPyConnection, rule_ids: list[int] | None) -> RunSummary:
    return run_rules(con, rule_ids=rule_ids, actor="cli")


@alerts_app.command("run")
def alerts_run(
    db: DbOption = None,
    rule: Annotated[
        list[int] | None,
        typer.Option("--rule", help="Run only this rule id (repeatable).", show_default=False),
    ] = None,
) -> None:
    """Evaluate the alert rules now: store new alerts, open cases, print what fired."""
    con = open_store(db)
    try:
        known = {r.rule_id for r in load_rules(con)}
        unknown = sorted(set(rule or []) - known) if known else []
        if unknown:
            fail(f"no rule with id {', '.join(map(str, unknown))} (see: python cli.py alerts rules)")
        summary = _run(con, list(rule) if rule else None)
        open_cases = list_cases(con, status=OPEN_STATUSES)
    finally:
        con.close()
    print_run(summary)
    print_open_cases(open_cases)
    if summary.errors:
        raise typer.Exit(EXIT_RULE_FAILED)


def run_after_import(db: str | None) -> None:
    """``ingest``/``demo``'s last step: run the rules on the new rows; a failure is a warning only."""
    try:
        con = open_store(db)
    except typer.Exit:
        return
    try:
        summary = _run(con, None)
    except duckdb.Error as exc:
        print(f"warning: the alert rules did not run: {exc}; run: python cli.py alerts run", file=sys.stderr)
        return
    finally:
        con.close()
    print(
        f"alert rules: {summary.new_alerts} new alerts, {len(summary.cases_created)} new cases "
        "(details: python cli.py alerts list / cases list)"
    )
    for error in summary.errors:
        print(f"warning: rule {error}", file=sys.stderr)


@alerts_app.command("list")
def alerts_list(
    db: DbOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest N alerts.")] = 50,
) -> None:
    """The newest alerts with their rule and the case they opened."""
    con = open_store(db)
    try:
        frame = list_alerts(con, limit=limit)
    finally:
        con.close()
    if frame.empty:
        print("no alerts yet (run: python cli.py alerts run)")
        return
    frame = frame.assign(
        fired_at=frame["fired_at"].astype("str").str.slice(0, 16),
        case_id=frame["case_id"].astype("Int64"),
        summary=frame["summary"].str.slice(0, 80),
    )
    print(frame[["alert_id", "fired_at", "rule", "case_id", "summary"]].to_string(index=False))


@alerts_app.command("rules")
def alerts_rules(db: DbOption = None) -> None:
    """The stored rules with their parameters."""
    con = open_store(db)
    try:
        rules = load_rules(con)
    finally:
        con.close()
    if not rules:
        print("no rules yet: `python cli.py alerts run` stores the default rules")
        return
    for r in rules:
        state = "enabled" if r.enabled else "disabled"
        case = f"case {r.priority}, SLA {r.sla_hours} h" if r.create_case else "alert only"
        print(f"#{r.rule_id} {r.name} [{r.kind}, {state}, {case}]: {describe_params(r.params)}")


def _cases(
    db: str | None, status: list[str] | None, priority: list[str] | None, assignee: str | None, overdue: bool
):
    for value in status or []:
        if value not in STATUSES:
            fail(f"--status {value!r} is not one of {', '.join(STATUSES)}")
    for value in priority or []:
        if value not in PRIORITIES:
            fail(f"--priority {value!r} is not one of {', '.join(PRIORITIES)}")
    con = open_store(db)
    try:
        return list_cases(
            con, status=status or None, priority=priority or None, assignee=assignee, overdue=overdue or None
        )
    except CaseError as exc:
        fail(str(exc))
    finally:
        con.close()


StatusOption = Annotated[
    list[str] | None,
    typer.Option("--status", help=f"One of {', '.join(STATUSES)} (repeatable).", show_default=False),
]
PriorityOption = Annotated[
    list[str] | None,
    typer.Option("--priority", help=f"One of {', '.join(PRIORITIES)} (repeatable).", show_default=False),
]
AssigneeOption = Annotated[str | None, typer.Option("--assignee", help="Assigned to this person.")]
OverdueOption = Annotated[bool, typer.Option("--overdue", help="Only open cases past their due time.")]


@cases_app.command("list")
def cases_list(
    db: DbOption = None,
    status: StatusOption = None,
    priority: PriorityOption = None,
    assignee: AssigneeOption = None,
    overdue: OverdueOption = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most N cases.")] = 100,
) -> None:
    """The case queue, most urgent first (overdue, priority, due time)."""
    frame = _cases(db, status, priority, assignee, overdue)
    if frame.empty:
        print("no cases match")
        return
    shown = frame.head(limit).assign(
        due_at=frame["due_at"].astype("str").str.slice(0, 16),
        title=frame["title"].str.slice(0, 60),
        overdue=frame["overdue"].map({True: "OVERDUE", False: ""}),
        assignee=frame["assignee"].fillna(""),
    )
    print(
        shown[["case_id", "status", "priority", "assignee", "due_at", "overdue", "title"]].to_string(
            index=False
        )
    )
    if len(frame) > limit:
        print(f"… {len(frame) - limit} more (use --limit or cases export)")


@cases_app.command("export")
def cases_export(
    out: Annotated[
        Path, typer.Option("--out", help="Write .csv (UTF-8 with BOM) or .xlsx.", show_default=False)
    ],
    db: DbOption = None,
    status: StatusOption = None,
    priority: PriorityOption = None,
    assignee: AssigneeOption = None,
    overdue: OverdueOption = False,
) -> None:
    """Export the cases (with the feedback text) to CSV or Excel; formula-like cells are neutralised."""
    frame = export_frame(_cases(db, status, priority, assignee, overdue))
    try:
        write_export(frame, out)
    except (ExportError, OSError) as exc:
        fail(str(exc))
    print(f"wrote {len(frame)} cases to {out}")


def register(app: typer.Typer, *rest: typer.Typer) -> None:
    """Add the ``alerts`` and ``cases`` groups to the main CLI."""
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(cases_app, name="cases")
