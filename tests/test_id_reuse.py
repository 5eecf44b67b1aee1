"""Feedback ids are never reused: after the dataset holding the highest ids is deleted, the next import
allocates above them, so a case or alert linked to deleted feedback never points at another review."""

from __future__ import annotations

from pathlib import Path

import duckdb

from data.cases import create_case, list_cases
from data.ingest import delete_dataset, ingest_file
from data.schema import LATEST_VERSION
from data.store import connect, migrate, schema_version

HEADER = "评论内容,评分,评论时间,品牌,机型,渠道\n"


def _csv(folder: Path, name: str, texts: list[str]) -> Path:
    path = folder / name
    rows = "".join(f"{t},4,2025-01-0{i + 1} 10:00:00,华为,Mate 60,京东\n" for i, t in enumerate(texts))
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def _ids(con: duckdb.DuckDBPyConnection, dataset: str) -> list[int]:
    return [r[0] for r in con.execute(
        "SELECT f.feedback_id FROM feedback f JOIN datasets d USING (dataset_id) WHERE d.name = ? ORDER BY 1",
        [dataset],
    ).fetchall()]


def test_ids_of_a_deleted_dataset_are_not_given_to_the_next_import(tmp_path: Path) -> None:
    con = connect(tmp_path / "store.duckdb")
    ingest_file(con, _csv(tmp_path, "a.csv", ["电池很耐用", "屏幕清晰"]), name="a", kind="reviews")
    ingest_file(con, _csv(tmp_path, "b.csv", ["发热严重", "客服态度差"]), name="b", kind="reviews")
    b_ids = _ids(con, "b")
    case_id = create_case(con, title="回访：发热", actor="demo", feedback_id=b_ids[-1])
    delete_dataset(con, "b")
    ingest_file(con, _csv(tmp_path, "c.csv", ["物流很快", "包装完好"]), name="c", kind="reviews")
    c_ids = _ids(con, "c")
    assert min(c_ids) > max(b_ids)  # before migration 8 the new ids equalled the deleted ones
    case = list_cases(con, case_ids=[case_id]).iloc[0]
    assert bool(case["feedback_missing"]) and case["feedback_text"] is None
    # The mark survives a reconnect and only ever grows.
    con.close()
    con = connect(tmp_path / "store.duckdb")
    assert con.execute("SELECT value FROM id_high_water").fetchall() == [(max(c_ids),)]


def test_migration_8_starts_above_every_id_a_case_or_alert_refers_to(tmp_path: Path) -> None:
    con = connect(tmp_path / "store.duckdb")
    ingest_file(con, _csv(tmp_path, "a.csv", ["电池很耐用"]), name="a", kind="reviews")
    # The state of a store at version 7 whose dataset with ids up to 41 was deleted, a case still links 41.
    con.execute("DROP TABLE id_high_water")
    con.execute("DELETE FROM schema_version WHERE version = 8")
    con.execute("INSERT INTO cases (title, feedback_id) VALUES ('old', 41)")
    assert schema_version(con) == 7
    assert migrate(con) == LATEST_VERSION
    assert con.execute("SELECT value FROM id_high_water").fetchall() == [(41,)]
    ingest_file(con, _csv(tmp_path, "b.csv", ["发热严重"]), name="b", kind="reviews")
    assert _ids(con, "b") == [42]
