"""``ingest`` and ``datasets list|delete|rejected``: the import engine on the command line.

Exit codes of ``ingest``: 0 when the file was imported (including "every row was already stored"), 1 when
no row was valid (the rejected rows are kept: see ``datasets rejected``), 2 when the file is refused as a
whole (unreadable, not a table, empty, no usable text or score column); a refusal prints one line on
stderr and leaves the store untouched (the file is read before the store is opened).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import duckdb
import pandas as pd
import typer

from cli_commands import alert_cmds, annotate_cmds
from cli_commands.common import DbOption, fail, open_store
from data import ingest_probe
from data.export import ExportError, write_export
from data.ingest import (
    DatasetKindMismatch,
    DatasetNotFound,
    ImportResult,
    delete_dataset,
    field_names,
    ingest_file,
    ingest_loaded,
    list_datasets,
    rejected_rows,
    usable_mapping_problem,
)
from data.ingest_probe import FastSource
from data.mapping import KINDS, guess_kind, parse_map_options, suggest_mapping
from data.readers import FileRefused, read_table

EXIT_NOTHING_VALID = 1

datasets_app = typer.Typer(help="List, inspect and delete imported datasets.", no_args_is_help=True)


def ingest(
    path: Annotated[
        Path, typer.Argument(help="CSV, TSV, XLSX, JSON/JSONL or Parquet file.", show_default=False)
    ],
    db: DbOption = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Dataset name (default: the file name). An existing name appends."),
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="field=column, overrides the suggested mapping; repeatable.", show_default=False
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="reviews | survey | products (default: guessed from the headers)."),
    ] = None,
    no_annotate: Annotated[
        bool, typer.Option("--no-annotate", help="Do not annotate the new rows now (later: cli.py annotate).")
    ] = False,
) -> None:
    """Import a file of feedback or product specs into the store (one transaction)."""
    if kind is not None and kind not in KINDS:
        fail(f"--kind {kind!r} is not one of: {', '.join(KINDS)}")
    fast = None if map_ else ingest_probe.probe(path, path.name)
    if fast is not None and _header_suffices(list(fast.columns), kind):
        _ingest_fast_file(path, fast, db=db, name=name, kind=kind, no_annotate=no_annotate)
        return
    try:
        loaded = read_table(path, path.name)
    except FileRefused as exc:
        fail(str(exc))
    columns = list(loaded.frame.columns)
    chosen_kind = kind or guess_kind(columns)
    try:
        overrides = parse_map_options(map_ or [], chosen_kind)
    except ValueError as exc:
        fail(f"{path.name}: {exc}")
    missing = [f"{field}={column}" for field, column in overrides.items() if column not in columns]
    if missing:
        fail(
            f"{path.name}: --map {', '.join(missing)} names a column that is not in the file; columns: "
            + ", ".join(f"'{c}'" for c in columns[:30])
        )
    mapping = suggest_mapping(columns, chosen_kind, loaded.frame.head(500))
    taken = set(overrides.values())
    mapping = {f: c for f, c in mapping.items() if c not in taken}
    mapping.update(overrides)
    problem = usable_mapping_problem(mapping, chosen_kind, columns)
    if problem:
        fail(f"{path.name}: {problem}")
    con = open_store(db)
    try:
        result = ingest_loaded(con, loaded, name=name or path.stem, kind=chosen_kind, mapping=mapping)
    except (FileRefused, DatasetKindMismatch) as exc:
        fail(str(exc))
    except duckdb.Error as exc:
        fail(f"{path.name}: the import failed and was rolled back, the store is unchanged: {exc}", code=1)
    finally:
        con.close()
    _report_import(path, result, mapping, loaded.format, db=db, no_annotate=no_annotate)


def _header_suffices(columns: list[str], kind: str | None) -> bool:
    """Whether the header alone gives a usable feedback mapping, so the SQL path can decide the rest.

    Otherwise the pandas path reads the file first and refuses it before the store is opened.
    """
    chosen = kind or guess_kind(columns)
    if chosen == "products":
        return False
    header_only = suggest_mapping(columns, chosen, pd.DataFrame(columns=columns))
    return usable_mapping_problem(header_only, chosen, columns) is None


def _ingest_fast_file(
    path: Path, fast: FastSource, *, db: Path | None, name: str | None, kind: str | None, no_annotate: bool
) -> None:
    """Import a file DuckDB reads itself (plain UTF-8 CSV/TSV, Parquet) without loading it into pandas.

    ``ingest_file`` suggests the mapping from the file's first rows exactly as the pandas path does, and
    falls back to the pandas path on anything the SQL path does not handle (see data/ingest_probe.py).
    """
    con = open_store(db)
    try:
        result = ingest_file(con, path, name=name or path.stem, kind=kind)
        stored = con.execute(
            "SELECT column_mapping FROM datasets WHERE dataset_id = ?", [result.dataset_id]
        ).fetchall()
    except (FileRefused, DatasetKindMismatch) as exc:
        fail(str(exc))
    except duckdb.Error as exc:
        fail(f"{path.name}: the import failed and was rolled back, the store is unchanged: {exc}", code=1)
    finally:
        con.close()
    mapping = json.loads(stored[0][0]) if stored and stored[0][0] else {}
    _report_import(path, result, mapping, fast.format, db=db, no_annotate=no_annotate)


def _report_import(
    path: Path, result: ImportResult, mapping: dict[str, str], file_format: str, *, db: Path | None,
    no_annotate: bool,
) -> None:
    """Print what one import did, annotate and run the alert rules; exit 1 when no row was valid."""
    order = {field: i for i, field in enumerate(field_names(result.kind))}
    mapped = ", ".join(f"{f}←{c}" for f, c in sorted(mapping.items(), key=lambda kv: order.get(kv[0], 99)))
    print(
        f"{path.name} → dataset '{result.name}' (#{result.dataset_id}, {result.kind}, "
        f"{result.encoding}, {file_format})"
    )
    print(f"mapping: {mapped}")
    print(
        f"rows read {result.rows_read}, imported {result.imported}, rejected {result.rejected}, "
        f"duplicates {result.duplicates}"
    )
    if result.rejected:
        print(f"rejected rows: python cli.py datasets rejected {result.dataset_id}")
    if result.imported and result.kind != "products" and not no_annotate:
        annotate_cmds.annotate_after_ingest(db, result.dataset_id)
    if result.imported and result.kind != "products":
        alert_cmds.run_after_import(db)  # after annotation: some rules read the annotations
    if result.imported == 0 and result.duplicates == 0:
        fail(
            f"{path.name}: no row was valid; see: python cli.py datasets rejected {result.dataset_id}",
            code=EXIT_NOTHING_VALID,
        )


@datasets_app.command("list")
def datasets_list(db: DbOption = None) -> None:
    """List the datasets with their row counts."""
    con = open_store(db)
    try:
        frame = list_datasets(con)
    finally:
        con.close()
    if frame.empty:
        print("no datasets (import one with: python cli.py ingest PATH)")
        return
    frame = frame.assign(rows=frame["feedback_rows"] + frame["product_rows"])
    shown = frame[
        [
            "dataset_id",
            "name",
            "kind",
            "rows",
            "rows_imported",
            "rows_rejected",
            "rows_duplicate",
            "encoding",
            "source_file",
            "is_demo",
            "imported_at",
        ]
    ]
    shown = shown.rename(
        columns={
            "dataset_id": "id",
            "rows_imported": "imported",
            "rows_rejected": "rejected",
            "rows_duplicate": "duplicates",
        }
    )
    shown = shown.assign(imported_at=shown["imported_at"].astype("str").str.slice(0, 19))
    print(shown.to_string(index=False))


@datasets_app.command("delete")
def datasets_delete(
    dataset: Annotated[
        str, typer.Argument(help="Dataset name or id (see: datasets list).", show_default=False)
    ],
    db: DbOption = None,
) -> None:
    """Delete a dataset with all its rows (feedback, products, rejected rows, annotations)."""
    con = open_store(db)
    try:
        deleted = delete_dataset(con, dataset)
    except DatasetNotFound as exc:
        fail(str(exc))
    finally:
        con.close()
    print(
        f"deleted dataset '{deleted.name}' (#{deleted.dataset_id}): {deleted.feedback_rows} feedback rows, "
        f"{deleted.product_rows} products, {deleted.rejected_rows} rejected rows"
    )


@datasets_app.command("rejected")
def datasets_rejected(
    dataset: Annotated[str, typer.Argument(help="Dataset name or id.", show_default=False)],
    db: DbOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write .csv (UTF-8 with BOM) or .xlsx for Excel.")
    ] = None,
) -> None:
    """Show or save the rows a dataset's imports rejected, with the reason for each."""
    con = open_store(db)
    try:
        frame = list_datasets(con)
        match = frame[(frame["name"] == dataset) | (frame["dataset_id"].astype("str") == dataset.strip())]
        if match.empty:
            fail(f"no dataset named or numbered '{dataset}' (see: python cli.py datasets list)")
        rows = rejected_rows(con, int(match.iloc[0]["dataset_id"]))
    finally:
        con.close()
    if out is not None:
        try:
            write_export(rows, out)  # UTF-8 with BOM (or .xlsx), formula-like cells neutralised
        except (ExportError, OSError) as exc:
            fail(str(exc))
        print(f"wrote {len(rows)} rejected rows to {out}")
        return
    rows.to_csv(sys.stdout, index=False)


def register(app: typer.Typer, *rest: typer.Typer) -> None:
    """Add ``ingest`` and the ``datasets`` group to the main CLI."""
    app.command("ingest")(ingest)
    app.add_typer(datasets_app, name="datasets")
