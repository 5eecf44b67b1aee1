"""Attach annotated Parquet directories (``annotate --engine ray`` output) to the store, without copying.

An attached directory holds ``feedback_sentiment/`` and/or ``aspect_mentions/`` Parquet files with the
columns of those tables. Attaching it:

1. records the directory in the store table ``parquet_attachments`` (the setting);
2. (re)builds two views in the schema ``attached`` of the store file:
   ``attached.feedback_sentiment`` / ``attached.aspect_mentions`` = the local table ``UNION ALL BY NAME``
   ``read_parquet('DIR/<table>/**/*.parquet')`` of every attached directory.

The views are persisted in the store, so they exist at every connect. A reader sees them through
:func:`read_cursor`, a cursor whose ``search_path`` is ``attached,main``: the analytics' unqualified
``feedback_sentiment`` / ``aspect_mentions`` then resolve to the views, every other table to ``main``.
Writers keep plain cursors (DuckDB cannot insert into a view): the local annotation engine writes the
``main`` tables as before.

A directory whose feedback is already annotated in the store is refused (its rows would count twice);
a directory that disappeared is skipped by :func:`read_cursor` (readers then see local rows only) and
reported by :func:`attachment_problems`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from data.store import WRITE_LOCK, transaction

SCHEMA = "attached"
TABLES = ("feedback_sentiment", "aspect_mentions")
SETTINGS_TABLE = "parquet_attachments"


class AttachError(ValueError):
    """A directory that cannot be attached; the message names it and says what to do."""


@dataclass(frozen=True)
class Attachment:
    path: str
    tables: tuple[str, ...]  # which of TABLES the directory has files for


def _files_glob(directory: Path, table: str) -> str:
    return (directory / table).as_posix() + "/**/*.parquet"


def _has_files(directory: Path, table: str) -> bool:
    folder = directory / table
    return folder.is_dir() and any(folder.rglob("*.parquet"))


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def _ensure_settings(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS main.{SETTINGS_TABLE} ("
        " path VARCHAR NOT NULL, attached_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )


def attachments(con: duckdb.DuckDBPyConnection) -> list[Attachment]:
    """The attached directories, in attach order."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
        [SETTINGS_TABLE],
    ).fetchall()[0][0]
    if not exists:
        return []
    rows = con.execute(f"SELECT path FROM main.{SETTINGS_TABLE} ORDER BY attached_at, path").fetchall()
    return [Attachment(r[0], tuple(t for t in TABLES if _has_files(Path(r[0]), t))) for r in rows]


def attachment_problems(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per attached directory that is gone or empty."""
    return [
        f"{a.path}: no longer holds feedback_sentiment/ or aspect_mentions/ Parquet files "
        "(moved or deleted?); detach it with: python cli.py attach --remove " + a.path
        for a in attachments(con)
        if not a.tables
    ]


def _check_directory(con: duckdb.DuckDBPyConnection, directory: Path) -> tuple[str, ...]:
    if not directory.is_dir():
        raise AttachError(f"{directory}: no such folder")
    tables = tuple(t for t in TABLES if _has_files(directory, t))
    if not tables:
        raise AttachError(
            f"{directory}: holds no feedback_sentiment/ or aspect_mentions/ Parquet files "
            "(the output folder of: python cli.py annotate --engine ray ... --output DIR)"
        )
    for table in tables:
        wanted = set(_table_columns(con, table)) - {"annotated_at"}
        glob = _files_glob(directory, table)
        try:
            found = {
                r[0]
                for r in con.execute(
                    f"DESCRIBE SELECT * FROM read_parquet({_sql_string(glob)}, union_by_name = true)"
                ).fetchall()
            }
        except duckdb.Error as exc:
            raise AttachError(f"{directory / table}: cannot read the Parquet files ({exc})") from None
        missing = sorted(wanted - found)
        if missing:
            raise AttachError(f"{directory / table}: missing column(s) {', '.join(missing)}")
    if "feedback_sentiment" in tables:
        overlap = con.execute(
            f"""SELECT count(*) FROM read_parquet({_sql_string(_files_glob(directory, "feedback_sentiment"))},
                                                 union_by_name = true) p
                SEMI JOIN main.feedback_sentiment s
                  ON s.feedback_id = p.feedback_id AND s.dataset_id = p.dataset_id"""
        ).fetchall()[0][0]
        if overlap:
            raise AttachError(
                f"{directory}: {overlap} feedback rows are annotated both in the store and in this folder "
                "and would count twice; attach results for feedback the store has not annotated "
                "(export it with: python cli.py export-feedback --pending-only)"
            )
    return tables


def _view_sql(con: duckdb.DuckDBPyConnection, table: str, directories: list[Path]) -> str:
    columns = _table_columns(con, table)
    select = ", ".join(columns)
    parts = [f"SELECT {select} FROM main.{table}"]
    for directory in directories:
        if not _has_files(directory, table):
            continue
        glob = _sql_string(_files_glob(directory, table))
        casts = ", ".join(
            f"CAST(current_timestamp AS TIMESTAMP) AS {c}" if c == "annotated_at" else c for c in columns
        )
        has_annotated_at = "annotated_at" in {
            r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({glob})").fetchall()
        }
        parts.append(
            f"SELECT {select if has_annotated_at else casts} FROM read_parquet({glob}, union_by_name = true)"
        )
    return f"CREATE OR REPLACE VIEW {SCHEMA}.{table} AS " + "\nUNION ALL BY NAME\n".join(parts)


def rebuild_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the ``attached`` views from the recorded directories that still exist."""
    directories = [Path(a.path) for a in attachments(con) if a.tables]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for table in TABLES:
        con.execute(_view_sql(con, table, directories))


def attach_parquet(con: duckdb.DuckDBPyConnection, directory: str | Path) -> Attachment:
    """Record ``directory`` and rebuild the views; :class:`AttachError` when it cannot be attached."""
    path = Path(directory).expanduser().resolve()
    tables = _check_directory(con, path)
    with WRITE_LOCK, transaction(con):
        _ensure_settings(con)
        con.execute(f"DELETE FROM main.{SETTINGS_TABLE} WHERE path = ?", [str(path)])
        con.execute(f"INSERT INTO main.{SETTINGS_TABLE} (path) VALUES (?)", [str(path)])
        rebuild_views(con)
    return Attachment(str(path), tables)


def detach_parquet(con: duckdb.DuckDBPyConnection, directory: str | Path) -> bool:
    """Forget ``directory`` (True when it was attached) and rebuild the views."""
    path = str(Path(directory).expanduser().resolve())
    known = [a.path for a in attachments(con)]
    if path not in known and str(directory) not in known:
        return False
    with WRITE_LOCK, transaction(con):
        con.execute(f"DELETE FROM main.{SETTINGS_TABLE} WHERE path IN (?, ?)", [path, str(directory)])
        if attachments(con):
            rebuild_views(con)
        else:
            con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    return True


def read_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor for reading: with attached directories, ``feedback_sentiment`` / ``aspect_mentions``
    include their rows. Never write through it (the names resolve to views)."""
    cur = con.cursor()
    current = attachments(cur)
    # a directory that vanished would make the views fail: read the local tables only until it is detached
    if current and all(a.tables for a in current):
        cur.execute(f"SET search_path = '{SCHEMA},main'")
    return cur
