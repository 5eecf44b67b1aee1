"""Open the DuckDB store and bring its schema up to date.

DuckDB allows one writing process per file. The app process owns its connection; a second process that
tries to open the same file while it is held gets :class:`StoreLockedError` with a message saying so.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from data.config import resolve_db_path
from data.schema import LATEST_VERSION, MIGRATIONS

# Serialises writers inside one process (the app serves many browser sessions from one connection). DuckDB
# transactions on separate cursors are optimistic: two imports at once both computed the same next
# feedback_id (max + row number) and both passed the duplicate check. Hold it around every write transaction.
WRITE_LOCK = threading.RLock()


class StoreError(RuntimeError):
    """A store problem a person can act on; the message says what to do."""


class StoreLockedError(StoreError):
    """Another process holds the store file open for writing."""


def connect(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the store at ``path`` and apply pending migrations.

    ``path`` may be ``":memory:"`` for tests. Without a path, :func:`data.config.resolve_db_path` decides.
    """
    target = ":memory:" if str(path) == ":memory:" else str(resolve_db_path(path))
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | int] = {}
    if threads:
        config["threads"] = threads
    try:
        con = duckdb.connect(target, read_only=read_only, config=config)
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            raise StoreLockedError(
                f"The store {target} is in use by another process (DuckDB allows one writer). "
                "Stop the other Tingjian process (app or CLI) or pass a different --db."
            ) from exc
        raise StoreError(f"Cannot open the store {target}: {message}") from exc
    except duckdb.Error as exc:
        raise StoreError(f"Cannot open the store {target}: {exc}") from exc
    # DuckDB draws its own progress bar on stderr for statements over 2 s (a migration or import at 10M):
    # the UI and the CLI show their own progress instead.
    con.execute("SET enable_progress_bar = false")
    if not read_only:
        migrate(con)
    return con


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """Return the applied schema version (0 for an empty store)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    value = con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
    return int(value or 0)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every migration newer than the store's version; return the resulting version."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER NOT NULL, description VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    current = schema_version(con)
    if current > LATEST_VERSION:
        raise StoreError(
            f"The store has schema version {current}, newer than this Tingjian ({LATEST_VERSION}). "
            "Upgrade Tingjian or open another store with --db."
        )
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        try:
            with transaction(con):
                con.execute(migration.sql)
                con.execute(
                    "INSERT INTO schema_version (version, description) VALUES (?, ?)",
                    [migration.version, migration.description],
                )
        except duckdb.Error as exc:
            raise StoreError(
                f"Cannot upgrade the store to schema version {migration.version} "
                f"({migration.description}): {exc}. Nothing was changed: the upgrade ran in one transaction "
                f"and was rolled back (the store stays at version {schema_version(con)}). A store written by "
                "a development build of Tingjian can carry the same version numbers for other tables; open "
                "it with that build, or rebuild it (re-import the data into a new store with --db)."
            ) from exc
    return schema_version(con)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block as one transaction: committed if it finishes, rolled back if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the store holds no feedback at all (the app then builds the demo market)."""
    return con.execute("SELECT count(*) FROM feedback").fetchall()[0][0] == 0
