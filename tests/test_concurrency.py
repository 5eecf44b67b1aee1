"""Concurrency (issue 7.3): the app's model is one process, one DuckDB connection, a cursor per query.

- Reader threads (browser sessions) querying through cursors while another thread imports: no errors, and
  every read sees whole imports only (snapshot isolation: feedback rows == sum of imported counters).
- Two imports at once (two sessions uploading): ``data.store.WRITE_LOCK`` serialises them, so feedback ids
  stay unique and the same file imported twice at once is stored once.
- A second process opening the same store gets a one-line "in use" error and changes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analytics.filters import Filters
from analytics.overview import overview_kpis
from data.ingest import ingest_frame
from data.store import connect

ROOT = Path(__file__).resolve().parent.parent
BATCH = 4_000


def _frame(tag: str, rows: int = BATCH) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "评论内容": [f"{tag} 第{i}条 续航不错" for i in range(rows)],
            "评分": [str(1 + i % 5) for i in range(rows)],
            "购买时间": "2025-02-03",
            "品牌": "华为",
        }
    )


def _ingest(con: duckdb.DuckDBPyConnection, tag: str, name: str | None = None) -> int:
    result = ingest_frame(
        con, _frame(tag), name=name or tag, kind="reviews", mapping=None, source_file=f"{tag}.csv"
    )
    return result.imported


@pytest.fixture()
def store(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = connect(tmp_path / "store.duckdb")
    _ingest(con, "seed")
    yield con
    con.close()


def test_readers_see_whole_imports_while_a_writer_imports(store: duckdb.DuckDBPyConnection) -> None:
    writes = 6
    done = threading.Event()
    errors: list[str] = []
    seen: list[list[int]] = [[] for _ in range(4)]

    def writer() -> None:
        try:
            for k in range(writes):
                _ingest(store, f"batch{k}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(f"writer: {exc!r}")
        finally:
            done.set()

    def reader(slot: int) -> None:
        try:
            while True:
                finished = done.is_set()
                cur = store.cursor()
                try:
                    rows, counted = cur.execute(
                        "SELECT (SELECT count(*) FROM feedback),"
                        " (SELECT coalesce(sum(rows_imported), 0) FROM datasets)"
                    ).fetchall()[0]
                    kpis = overview_kpis(cur, Filters(brands=("华为",)))
                finally:
                    cur.close()
                assert rows == counted, f"a partial import was visible: {rows} rows, counters {counted}"
                assert rows % BATCH == 0
                assert kpis is not None
                seen[slot].append(int(rows))
                if finished:
                    return
        except Exception as exc:
            errors.append(f"reader {slot}: {exc!r}")

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    total = BATCH * (writes + 1)
    for counts in seen:
        assert counts == sorted(counts), "a reader saw the row count go down"
        assert counts[-1] == total
    assert store.execute("SELECT count(DISTINCT feedback_id) FROM feedback").fetchall()[0][0] == total


def test_concurrent_imports_are_serialised(store: duckdb.DuckDBPyConnection) -> None:
    errors: list[str] = []
    imported: list[int] = []

    def work(tag: str, name: str) -> None:
        try:
            imported.append(_ingest(store, tag, name))
        except Exception as exc:
            errors.append(repr(exc))

    jobs = [("a", "a"), ("b", "b"), ("c", "c"), ("same", "same"), ("same", "same")]
    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(imported) == [0, BATCH, BATCH, BATCH, BATCH]  # the second "same" import adds nothing
    total, ids, hashes = store.execute(
        "SELECT count(*), count(DISTINCT feedback_id), count(DISTINCT content_hash) FROM feedback"
    ).fetchall()[0]
    assert total == ids == hashes == BATCH * 5


def test_a_second_process_gets_a_clear_in_use_error(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    db = store.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    path = db.fetchall()[0][0]
    source = tmp_path / "new.csv"
    _frame("other", 10).to_csv(source, index=False)
    env = {k: v for k, v in os.environ.items() if k != "TINGJIAN_DB"}
    before = store.execute("SELECT count(*) FROM feedback").fetchall()[0][0]
    for args in (["datasets", "list"], ["ingest", str(source), "--no-annotate"]):
        result = subprocess.run(
            [sys.executable, "cli.py", *args, "--db", path],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "in use by another process" in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    assert store.execute("SELECT count(*) FROM feedback").fetchall()[0][0] == before
