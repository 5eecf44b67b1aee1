"""``bench``: performance at scale (import, page queries against pandas, app cold start, peak memory)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from bench.run import BenchError, format_report, run_bench
from cli_commands.common import fail


def bench(
    reviews: Annotated[int, typer.Option("--reviews", help="Feedback rows to generate (>= 100).", min=100)],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (the last line).")
    ] = False,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="Folder for the generated store and files (default: a temporary "
                     "one, removed afterwards). A store of the same size and seed there is reused, else "
                     "replaced."),
    ] = None,
    repeat: Annotated[
        int, typer.Option("--repeat", help="Timed runs of each page (filters vary).", min=1)
    ] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the generator.", min=0)] = 0,
    no_app: Annotated[bool, typer.Option("--no-app", help="Skip the app cold start.")] = False,
    base_tables: Annotated[
        bool,
        typer.Option("--base-tables", help="Pages read the base tables, not the rollups (before/after)."),
    ] = False,
    app_db: Annotated[
        Path | None,
        typer.Option("--app-db", help="Time the app's cold start on this store (e.g. the demo) instead of "
                     "the generated one. It must hold data, else the app builds the demo first."),
    ] = None,
) -> None:
    """Measure import throughput, every page's query latency (p50/p95) against pandas, app cold start and
    peak memory on N generated feedback rows."""
    if app_db is not None and not app_db.is_file():
        fail(f"--app-db {app_db}: no such store file")

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    temporary = tempfile.TemporaryDirectory(prefix="tingjian-bench-") if workdir is None else None
    folder = Path(temporary.name) if temporary else workdir
    assert folder is not None
    try:
        report = run_bench(reviews, folder, repeat=repeat, seed=seed, app=not no_app, app_db=app_db,
                           base_tables=base_tables, log=log)
    except BenchError as exc:
        fail(str(exc), code=1)
    except OSError as exc:
        fail(f"--workdir {folder}: {exc}")
    finally:
        if temporary:
            temporary.cleanup()
    print(format_report(report))
    if as_json:
        print(json.dumps(report, ensure_ascii=False, default=str))


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
