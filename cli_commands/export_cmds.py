"""``export``: write the stored feedback to a CSV (UTF-8 with BOM) or XLSX file, formulas neutralised.

Exit codes: 0 written, 2 refused (bad file name, unknown dataset, missing store, too many rows for XLSX).
The file is written atomically (temp file + rename), so a failed export never leaves a half-written file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import duckdb
import pandas as pd
import typer

from cli_commands.common import DbOption, fail, open_store
from data.attach import read_cursor
from data.config import resolve_db_path
from data.export import ExportError, format_for_path, write_export

_FEEDBACK_COLUMNS = (
    "f.feedback_id, d.name AS dataset, f.source_row, f.channel, f.brand, f.product, f.created_at,"
    " f.rating, f.nps_score, f.text, f.region, f.store, f.customer_id"
)


def export_frame(con: duckdb.DuckDBPyConnection, dataset: str | None = None) -> pd.DataFrame:
    """The feedback rows (all, or one dataset by name or id) with the stored sentiment when annotated
    (attached Parquet annotations included: a reading cursor)."""
    cur = read_cursor(con)
    try:
        params: list[object] = []
        where = "TRUE"
        if dataset is not None:
            where = "(d.name = ? OR CAST(d.dataset_id AS VARCHAR) = ?)"
            params = [dataset, dataset.strip()]
        has_sentiment = bool(
            cur.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'feedback_sentiment'"
            ).fetchall()[0][0]
        )
        sentiment_select = ", s.sentiment" if has_sentiment else ""
        sentiment_join = (
            " LEFT JOIN (SELECT feedback_id, any_value(sentiment) AS sentiment FROM feedback_sentiment"
            " GROUP BY feedback_id) s USING (feedback_id)"
            if has_sentiment
            else ""
        )
        return cur.execute(
            f"SELECT {_FEEDBACK_COLUMNS}{sentiment_select} FROM feedback f"
            f" JOIN datasets d USING (dataset_id){sentiment_join}"
            f" WHERE {where} ORDER BY f.feedback_id",
            params,
        ).df()
    finally:
        cur.close()


def _dataset_exists(con: duckdb.DuckDBPyConnection, dataset: str) -> bool:
    cur = con.cursor()
    try:
        rows = cur.execute(
            "SELECT count(*) FROM datasets WHERE name = ? OR CAST(dataset_id AS VARCHAR) = ?",
            [dataset, dataset.strip()],
        ).fetchall()
    finally:
        cur.close()
    return bool(rows[0][0])


def export(
    out: Annotated[
        Path, typer.Option("--out", help="Target file: .csv (UTF-8 with BOM) or .xlsx.", show_default=False)
    ],
    db: DbOption = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Only this dataset (name or id; see: datasets list).")
    ] = None,
) -> None:
    """Export feedback to CSV/XLSX for Excel; cells that look like formulas are neutralised."""
    try:
        format_for_path(out)
    except ExportError as exc:
        fail(str(exc))
    store_path = resolve_db_path(db)
    if not store_path.exists():
        fail(f"no store at {store_path}; import data first (python cli.py ingest PATH) or pass --db")
    con = open_store(db)
    try:
        if dataset is not None and not _dataset_exists(con, dataset):
            fail(f"no dataset named or numbered '{dataset}' (see: python cli.py datasets list)")
        frame = export_frame(con, dataset)
    finally:
        con.close()
    try:
        written = write_export(frame, out)
    except ExportError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write the file ({exc.strerror or exc})")
    print(f"wrote {len(frame)} rows to {written}")


def register(app: typer.Typer, *rest: typer.Typer) -> None:
    """Add ``export`` to the main CLI."""
    app.command("export")(export)
