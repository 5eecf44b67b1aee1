"""``python cli.py ingest`` and ``datasets``: exit codes, one-line errors, never a traceback."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from data.config import shared_data_dir

ROOT = Path(__file__).resolve().parent.parent
CSV = (
    "评论内容,得分,购买时间,手机型号\n"
    "屏幕很好,5,2024/5/1 10:00,荣耀9X 麒麟810\n"
    "好评,5,2024/5/2 10:00,荣耀9X\n"
    "好评,5,2024/5/2 10:00,荣耀9X\n"
    "太卡了,11,2024/5/3 10:00,荣耀9X\n"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI (``ingest`` calls pass --no-annotate: annotation is tested with the NLP layer)."""
    env = {k: v for k, v in os.environ.items() if k != "TINGJIAN_DB"}
    return subprocess.run(
        [sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_ingest_reimport_list_and_delete(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    source = tmp_path / "京东.csv"
    source.write_bytes(CSV.encode("gbk"))
    first = run("ingest", "--no-annotate", str(source), "--db", db, "--name", "jd")
    assert first.returncode == 0, first.stderr
    assert "imported 3, rejected 1, duplicates 0" in first.stdout
    assert "gbk" in first.stdout
    again = run("ingest", "--no-annotate", str(source), "--db", db, "--name", "jd")
    assert again.returncode == 0, again.stderr
    assert "imported 0, rejected 1, duplicates 3" in again.stdout
    listed = run("datasets", "list", "--db", db)
    assert listed.returncode == 0 and "jd" in listed.stdout and "reviews" in listed.stdout
    rejected = run("datasets", "rejected", "jd", "--db", db)
    assert rejected.returncode == 0 and "「11」超出范围" in rejected.stdout
    deleted = run("datasets", "delete", "jd", "--db", db)
    assert deleted.returncode == 0 and "3 feedback rows" in deleted.stdout
    assert_one_line_error(run("datasets", "delete", "jd", "--db", db), 2, "no dataset named")


def test_refused_files_exit_2_with_one_line_and_leave_the_store_alone(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    noise = tmp_path / "noise.csv"
    noise.write_bytes(random.Random(3).randbytes(20_000))
    assert_one_line_error(
        run("ingest", "--no-annotate", str(noise), "--db", str(db)), 2, "noise.csv", "binary"
    )
    assert not db.exists()  # refused before the store was even opened

    no_text = tmp_path / "ids.csv"
    no_text.write_text("编号,颜色\n1,红\n2,蓝\n", encoding="utf-8")
    assert_one_line_error(
        run("ingest", "--no-annotate", str(no_text), "--db", str(db)), 2, "ids.csv", "no usable text or score"
    )
    assert not db.exists()


def test_map_and_kind_options(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    source = tmp_path / "raw.tsv"
    source.write_text("a\tb\n很好用\t9\n一般\t6\n", encoding="utf-8")
    assert_one_line_error(
        run("ingest", "--no-annotate", str(source), "--db", db, "--map", "text=zzz"),
        2,
        "zzz",
        "not in the file",
    )
    ok = run(
        "ingest",
        "--no-annotate",
        str(source),
        "--db",
        db,
        "--kind",
        "survey",
        "--map",
        "text=a",
        "--map",
        "nps_score=b",
    )
    assert ok.returncode == 0, ok.stderr
    assert "imported 2, rejected 0" in ok.stdout and "survey" in ok.stdout


def test_nothing_valid_exits_1_and_keeps_the_rejections(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    source = tmp_path / "bad.csv"
    source.write_text("评论内容,得分\n,5\n好,99\n", encoding="utf-8")
    result = run("ingest", "--no-annotate", str(source), "--db", db)
    assert_one_line_error(result, 1, "no row was valid")
    assert "rejected 2" in result.stdout


def test_real_jd_file_twice(tmp_path: Path) -> None:
    path = shared_data_dir() / "jd_phone_reviews_yulezhang" / "tmp_test_data.csv"
    if not path.exists():
        pytest.skip(f"{path.name} not found: ../shared/data is not beside the checkout")
    db = str(tmp_path / "store.duckdb")
    first = run("ingest", "--no-annotate", str(path), "--db", db)
    assert first.returncode == 0, first.stderr
    assert "imported 4722, rejected 0, duplicates 0" in first.stdout
    second = run("ingest", "--no-annotate", str(path), "--db", db)
    assert second.returncode == 0, second.stderr
    assert "imported 0, rejected 0, duplicates 4722" in second.stdout


def test_utf8_csv_takes_the_sql_path_and_stores_what_the_pandas_path_stores(tmp_path: Path) -> None:
    """A plain UTF-8 CSV is imported without pandas (data/ingest_probe.py); ``--map`` forces the pandas
    path. Both must store the same rows, hashes and rejections, and print the same summary."""
    import duckdb

    source = tmp_path / "reviews.csv"
    source.write_text(CSV, encoding="utf-8")
    fast_db, pandas_db = str(tmp_path / "fast.duckdb"), str(tmp_path / "pandas.duckdb")
    fast = run("ingest", "--no-annotate", str(source), "--db", fast_db, "--name", "jd")
    assert fast.returncode == 0, fast.stderr
    slow = run(
        "ingest", "--no-annotate", str(source), "--db", pandas_db, "--name", "jd", "--map", "text=评论内容"
    )
    assert slow.returncode == 0, slow.stderr
    assert fast.stdout.splitlines()[:3] == slow.stdout.splitlines()[:3]
    assert "imported 3, rejected 1, duplicates 0" in fast.stdout
    query = "SELECT feedback_id, content_hash, text, rating, created_at, brand, product, extra FROM feedback"
    rejected = "SELECT source_row, column_name, reason FROM rejected_rows"
    with duckdb.connect(fast_db, read_only=True) as a, duckdb.connect(pandas_db, read_only=True) as b:
        assert sorted(a.execute(query).fetchall()) == sorted(b.execute(query).fetchall())
        assert a.execute(rejected).fetchall() == b.execute(rejected).fetchall()
    again = run("ingest", "--no-annotate", str(source), "--db", pandas_db, "--name", "jd")
    assert again.returncode == 0 and "imported 0, rejected 1, duplicates 3" in again.stdout
