"""``rollups status|rebuild``: the dashboards' pre-aggregated counts (data/rollups.py) on the command line.

``status`` exits 0 when the rollups account for every row of the base tables, 1 when they are stale (the
dashboards then read the base tables: correct, slower). ``rebuild`` recomputes them in one transaction (for
stores whose base tables were written without the maintenance calls, e.g. by an external tool).
"""

from __future__ import annotations

import time

import typer

from cli_commands.common import DbOption, open_store
from data import rollups
from data.store import WRITE_LOCK, transaction

rollups_app = typer.Typer(
    help="Rollup tables behind the dashboards: status and rebuild.", no_args_is_help=True
)


def _print_status(status: rollups.RollupStatus) -> None:
    state = "current" if status.current else "stale"
    typer.echo(
        f"rollups {state}: feedback {status.feedback:,} (in rollups {status.feedback_in_rollups:,}), "
        f"annotated {status.annotated:,} ({status.annotated_in_rollups:,}), "
        f"aspect mentions {status.mentions:,} ({status.mentions_in_rollups:,})"
    )
    if not status.layout_ok:
        typer.echo("  the rollup tables were written by another version of data/rollups.py")
    for table, rows in status.rows.items():
        typer.echo(f"  {table:<28} {rows:>12,} rows")


@rollups_app.command("status")
def status_command(db: DbOption = None) -> None:
    """Say whether the rollups are current (exit 0) or stale (exit 1), with each table's size."""
    con = open_store(db)
    try:
        status = rollups.status(con)
    finally:
        con.close()
    _print_status(status)
    if not status.current:
        typer.echo("run `python cli.py rollups rebuild` to bring them up to date", err=True)
        raise typer.Exit(1)


@rollups_app.command("rebuild")
def rebuild_command(db: DbOption = None) -> None:
    """Recompute every rollup from the base tables (one transaction: the old ones stay until it commits)."""
    con = open_store(db)
    try:
        started = time.perf_counter()
        with WRITE_LOCK, transaction(con):
            status = rollups.rebuild(con)
        seconds = time.perf_counter() - started
    finally:
        con.close()
    _print_status(status)
    typer.echo(f"rebuilt in {seconds:.2f} s")


def register(app: typer.Typer) -> None:
    app.add_typer(rollups_app, name="rollups")
