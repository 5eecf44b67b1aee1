"""Shared CLI helpers: the ``--db`` option, opening the store, and clean one-line failures."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import duckdb
import typer

from data.store import StoreError, connect

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Store file (default: $TINGJIAN_DB, else data/cem.duckdb).", show_default=False
    ),
]

EXIT_REFUSED = 2


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    """Print one line on stderr and exit with ``code``."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    raise typer.Exit(code)


def open_store(db: str | None) -> duckdb.DuckDBPyConnection:
    """Open the store or fail with a clear line (locked, unreadable, too new)."""
    try:
        return connect(db)
    except StoreError as exc:
        fail(str(exc))
