"""A store whose upgrade fails (here: one written by a development build with other tables under the same
version numbers) is refused with a clear message, left unchanged, and shown as an error, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from data.ingest import ingest_file
from data.store import StoreError, connect, schema_version
from tests.app_session import signed_in

ROOT = Path(__file__).resolve().parent.parent


def _foreign_store(folder: Path) -> tuple[Path, int]:
    """A store at version 5 without the rollup tables that migration 6 reads (as a draft build left it)."""
    path = folder / "draft.duckdb"
    csv = folder / "a.csv"
    rows = "电池很耐用,5,2025-01-02 10:00:00,华为\n发热严重,1,2025-01-03,华为\n"
    csv.write_text("评论内容,评分,评论时间,品牌\n" + rows, encoding="utf-8")
    con = connect(path)
    ingest_file(con, csv, name="a", kind="reviews")
    con.execute("DELETE FROM schema_version WHERE version > 5")
    for table in ("id_high_water", "rollup_driver_region_aspects", "rollup_driver_region_pairs",
                  "rollup_feedback_noregion_month", "rollup_feedback_day"):
        con.execute(f"DROP TABLE {table}")
    rows = int(con.execute("SELECT count(*) FROM feedback").fetchall()[0][0])
    con.close()
    return path, rows


def test_a_failing_upgrade_names_the_version_and_changes_nothing(tmp_path: Path) -> None:
    path, rows = _foreign_store(tmp_path)
    with pytest.raises(StoreError, match=r"(?s)schema version 6 .*rolled back .*version 5"):
        connect(path)
    con = duckdb.connect(str(path), read_only=True)
    assert schema_version(con) == 5
    assert con.execute("SELECT count(*) FROM feedback").fetchall() == [(rows,)]
    con.close()


def test_the_cli_says_it_in_one_line(tmp_path: Path) -> None:
    path, _rows = _foreign_store(tmp_path)
    done = subprocess.run([sys.executable, "cli.py", "datasets", "list", "--db", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert "schema version 6" in done.stderr + done.stdout


def test_the_app_shows_the_error_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _rows = _foreign_store(tmp_path)
    monkeypatch.setenv("TINGJIAN_DB", str(path))
    at = signed_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("schema version 6" in e.value for e in at.error)
