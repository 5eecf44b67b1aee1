"""Attach annotated Parquet directories (``annotate --engine ray`` output) to the store, without copying.

An attached directory holds ``feedback_sentiment/`` and/or ``aspect_mentions/`` Parquet files with the
columns of those tables. Attaching it:

1. records the directory in the store table ``parquet_attachments`` (the setting);
2. (re)builds two views in the schema ``attached_parquet`` of the store file:
   ``attached_parquet.feedback_sentiment`` / ``attached_parquet.aspect_mentions`` = the local table
   ``UNION ALL BY NAME`` ``read_parquet('DIR/<table>/**/*.parquet')`` of every attached directory.
   (Not ``attached``: DuckDB names a file's catalog after the file, and a store called ``attached.duckdb``
   made every reference to a schema of that name ambiguous.)

The views are persisted in the store, so they exist at every connect. A reader sees them through
:func:`read_cursor`, a cursor whose ``search_path`` is ``attached_parquet,main``: the analytics' unqualified
``feedback_sentiment`` / ``aspect_mentions`` then resolve to the views, every other table to ``main``.
Writers keep plain cursors (DuckDB cannot insert into a view): the local annotation engine writes the
``main`` tables as before.

A directory whose feedback is already annotated in the store is refused (its rows would count twice).
The views also guard what happens after attaching: a Parquet row counts only while its feedback is still in
the store (same ``feedback_id`` and ``dataset_id``; a deleted dataset disappears from the dashboards) and
the store has not annotated that feedback itself (a later local annotation wins, nothing counts twice).

A directory that disappeared is skipped by :func:`read_cursor` (readers then see local rows only) and
reported by :func:`attachment_problems`. :func:`read_cursor` runs before every dashboard query, so it
checks the recorded directories at most every :data:`RECHECK_SECONDS` per connection (and at once after an
attach or detach in this process); its cost per call is one ``cursor()`` plus one ``SET``.

``read_cursor`` is THE reading connection of the store: the dashboards (``components.cache.cursor``), the
CLI exports and reports use it; writers use plain cursors.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import duckdb

from data.store import WRITE_LOCK, transaction

SCHEMA = "attached_parquet"
_LEGACY_SCHEMA = "attached"  # the first version's schema name; dropped when the views are rebuilt
TABLES = ("feedback_sentiment", "aspect_mentions")
SETTINGS_TABLE = "parquet_attachments"
#: How long :func:`read_cursor` trusts its last look at the attached directories (per connection).
RECHECK_SECONDS = 5.0

# connection → (attach generation, monotonic time of the check, use the views?)
_READ_STATE: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, tuple[int, float, bool]] = (
    weakref.WeakKeyDictionary()
)
_READ_STATE_LOCK = threading.Lock()
_generation = 0  # bumped by every attach/detach in this process: cached checks are then stale


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
    """One line per attached directory that is gone or empty, and one when the views are missing."""
    current = attachments(con)
    problems = [
        f"{a.path}: no longer holds feedback_sentiment/ or aspect_mentions/ Parquet files "
        "(moved or deleted?); detach it with: python cli.py attach --remove " + a.path
        for a in current
        if not a.tables
    ]
    if current and not _schema_exists(con):  # attached by the first version (schema ``attached``)
        problems.append(
            "the attached folders are recorded but their views are missing (attached by an older version); "
            f"attach one again to rebuild them: python cli.py attach --parquet {current[0].path}"
        )
    return problems


def _schema_exists(con: duckdb.DuckDBPyConnection, schema: str = SCHEMA) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.schemata WHERE catalog_name = current_database()"
        " AND schema_name = ?",
        [schema],
    ).fetchall()[0][0]
    return bool(found)


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
        # only feedback still in the store, and not annotated by the store itself (the local rows win)
        source = f"read_parquet({glob}, union_by_name = true) p"
        parts.append(
            f"SELECT {select if has_annotated_at else casts} FROM {source}"
            " WHERE EXISTS (SELECT 1 FROM main.feedback f"
            " WHERE f.feedback_id = p.feedback_id AND f.dataset_id = p.dataset_id)"
            " AND NOT EXISTS (SELECT 1 FROM main.feedback_sentiment s WHERE s.feedback_id = p.feedback_id)"
        )
    return f"CREATE OR REPLACE VIEW {SCHEMA}.{table} AS " + "\nUNION ALL BY NAME\n".join(parts)


def rebuild_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the views in :data:`SCHEMA` from the recorded directories that still exist."""
    directories = [Path(a.path) for a in attachments(con) if a.tables]
    _drop_legacy_schema(con)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for table in TABLES:
        con.execute(_view_sql(con, table, directories))
    _changed()


def _drop_legacy_schema(con: duckdb.DuckDBPyConnection) -> None:
    if _schema_exists(con, _LEGACY_SCHEMA):
        con.execute(f"DROP SCHEMA {_LEGACY_SCHEMA} CASCADE")


def _changed() -> None:
    global _generation
    with _READ_STATE_LOCK:
        _generation += 1


def attach_parquet(con: duckdb.DuckDBPyConnection, directory: str | Path) -> Attachment:
    """Record ``directory`` and rebuild the views; :class:`AttachError` when it cannot be attached."""
    path = Path(directory).expanduser().resolve()
    tables = _check_directory(con, path)
    with WRITE_LOCK, transaction(con):
        _ensure_settings(con)
        con.execute(f"DELETE FROM main.{SETTINGS_TABLE} WHERE path = ?", [str(path)])
        con.execute(f"INSERT INTO main.{SETTINGS_TABLE} (path) VALUES (?)", [str(path)])
        rebuild_views(con)
    _changed()  # again after the commit: a reader that looked in between saw the old state
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
            _drop_legacy_schema(con)
    _changed()
    return True


def _views_usable(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether readers of ``con`` should see the views: some directory attached and every one present
    (a vanished one would make every query fail). Cached per connection for :data:`RECHECK_SECONDS`."""
    now = time.monotonic()
    with _READ_STATE_LOCK:
        generation = _generation
        cached = _READ_STATE.get(con)
    if cached is not None and cached[0] == generation and now - cached[1] < RECHECK_SECONDS:
        return cached[2]
    check = con.cursor()  # its own cursor: ``con`` may be serving another thread
    try:
        current = attachments(check)
        usable = bool(current) and all(a.tables for a in current) and _schema_exists(check)
    finally:
        check.close()
    with _READ_STATE_LOCK:
        _READ_STATE[con] = (generation, now, usable)
    return usable


def read_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """THE reading connection of the store: a fresh cursor of ``con`` in which ``feedback_sentiment`` /
    ``aspect_mentions`` include the attached Parquet rows (when there are any). Use it for every read that
    feeds a dashboard, report or export; never write through it (those names resolve to views)."""
    cur = con.cursor()
    if _views_usable(con):
        cur.execute(f"SET search_path = '{SCHEMA},main'")
    return cur
