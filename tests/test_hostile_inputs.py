"""A generated corpus of broken and hostile inputs fed to ``cli.py ingest`` (issue 7.1).

Every file is built here from code (seeded), not hand-picked. Each case must end in one of:
- exit 2: one clear line on stderr naming the file, and the store byte-for-byte unchanged in content;
- exit 0/1: a (partial) import whose counters add up (read = imported + rejected + duplicates), with a
  non-empty reason for every rejected row, and hostile text stored verbatim (never altered, never run).
Never a traceback. The SQL-looking text is also pushed through the filters and the full-text search.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

import cli
from analytics.filters import Filters
from analytics.quotes import search_feedback
from data.store import connect

RNG_SEED = 20251125
HEADER = "评论内容,评分,购买时间,品牌\n"
GOOD = "屏幕很好，续航给力,5,2025-01-02,华为\n"
SQL_TEXT = "'; DROP TABLE feedback; --"
HOSTILE_TEXTS = [
    '=HYPERLINK("http://evil.example","领奖")',
    "+cmd|' /C calc'!A0",
    "-1+2",
    "@SUM(A1:A9)",
    "<script>alert(document.cookie)</script>",
    "<img src=x onerror=alert(1)>",
    SQL_TEXT,
    "1 OR 1=1; SELECT * FROM datasets",
    "[点击领奖](http://evil.example) **粗体** :red[红色] $x^2$",
    "表情😀🎉👍🏻‍🔥 与 零宽\u200b字符 与 反向\u202e文字",
]


def _csv(rows: list[list[str]], header: list[str] | None = None, sep: str = ",") -> bytes:
    frame = pd.DataFrame(rows, columns=header or ["评论内容", "评分", "购买时间", "品牌"])
    return frame.to_csv(index=False, sep=sep, lineterminator="\n").encode("utf-8")


def _xlsx(rows: list[list[str]]) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame(rows, columns=["评论内容", "评分", "购买时间", "品牌"]).to_excel(buffer, index=False)
    return buffer.getvalue()


def _parquet() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"评论内容": ["好"] * 50, "评分": ["5"] * 50}).to_parquet(buffer)
    return buffer.getvalue()


def _corpus() -> dict[str, Callable[[random.Random], bytes]]:
    """File name → generator of its bytes (seeded)."""
    long_text = "续航" * 50_000  # 100,000 characters
    return {
        "empty.csv": lambda r: b"",
        "whitespace.csv": lambda r: b" \r\n\t\n   \n",
        "bom_only.csv": lambda r: b"\xef\xbb\xbf",
        "header_only.csv": lambda r: HEADER.encode(),
        "header_only_crlf.csv": lambda r: HEADER.replace("\n", "\r\n").encode("utf-8-sig"),
        "random_binary.csv": lambda r: bytes(r.getrandbits(8) for _ in range(4096)),
        "nul_bytes.csv": lambda r: b"\x00" * 2000,
        "png_renamed.csv": lambda r: b"\x89PNG\r\n\x1a\n" + bytes(r.getrandbits(8) for _ in range(200)),
        "xls_renamed.csv": lambda r: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,
        "xlsx_renamed.csv": lambda r: _xlsx([["好评", "5", "2025-01-02", "华为"], ["差评", "1", "", "小米"]]),
        "truncated_xlsx.xlsx": lambda r: _xlsx([["好评", "5", "2025-01-02", "华为"]] * 200)[:700],
        "zip_not_xlsx.xlsx": lambda r: _zip_with("readme.txt", b"hello"),
        "truncated_parquet.parquet": lambda r: _parquet()[:60],
        "unbalanced_quotes.csv": lambda r: (
            HEADER + GOOD + '"没有结束的引号,5,2025-01-03,华为\n' + GOOD.replace("很好", "不错")
        ).encode(),
        "half_written.csv": lambda r: (HEADER + GOOD * 20 + "电池续航").encode("utf-8")[:-2],
        "too_many_fields.csv": lambda r: (HEADER + GOOD + "a,5,2025-01-02,华为,多余,字段\n").encode(),
        "mixed_utf8_gbk.csv": lambda r: (
            HEADER.encode() + GOOD.encode("utf-8") + "物流很快,4,2025-02-01,小米\n".encode("gbk")
        ),
        "gbk.csv": lambda r: (HEADER + GOOD + "拍照清晰,4,2025-02-01,小米\n").encode("gbk"),
        "utf16.csv": lambda r: (HEADER + GOOD).encode("utf-16"),
        "semicolon.csv": lambda r: (HEADER + GOOD).replace(",", ";").encode(),
        "pipe.csv": lambda r: (HEADER + GOOD).replace(",", "|").encode(),
        "header_commas_rows_tabs.csv": lambda r: (HEADER + GOOD.replace(",", "\t") * 3).encode(),
        "single_column_no_score.csv": lambda r: "名字\n张三\n李四\n".encode(),
        "duplicate_headers.csv": lambda r: (
            "评论内容,评论内容,评分,评分\n好评,差评,5,1\n还行,一般,3,11\n".encode()
        ),
        "blank_headers.csv": lambda r: ",,\n好,5,\n".encode(),
        "scores_out_of_range.csv": lambda r: _csv(
            [["好", s, "2025-01-02", "华为"] for s in ("11", "0", "-1", "3.5", "五", "1e9", "NaN", "")]
        ),
        "nps_out_of_range.csv": lambda r: _csv(
            [["还行", s] for s in ("11", "-1", "10", "0", "7.5", "abc")], header=["评论内容", "NPS评分"]
        ),
        "impossible_dates.csv": lambda r: _csv(
            [["好", "5", d, "华为"] for d in ("2025-13-45", "0000-00-00", "9999-99-99", "2025-02-30", "昨天")]
        ),
        "empty_texts.csv": lambda r: _csv([["", "5", "2025-01-02", "华为"], ["   ", "", "", ""]]),
        "very_long_text.csv": lambda r: _csv([[long_text, "5", "2025-01-02", "华为"]]),
        "control_chars.csv": lambda r: _csv(
            [["响应\x07很\x1b[31m快\x0b了", "4", "2025-01-02", "华为"], ["\x00空字符\x00", "3", "", ""]]
        ),
        "hostile_texts.csv": lambda r: _csv([[t, "3", "2025-01-02", t[:20]] for t in HOSTILE_TEXTS]),
        "hostile_headers.csv": lambda r: _csv(
            [["好评", "5"]], header=["=cmd|' /C calc'!A0", "<script>x</script>"]
        ),
        "malformed.json": lambda r: b'[{"\xe8\xaf\x84\xe8\xae\xba": "\xe5\xa5\xbd", ',
        "scalar.json": lambda r: b"42",
        "jsonl_bad_line.jsonl": lambda r: (
            json.dumps({"评论内容": "好评", "评分": 5}, ensure_ascii=False) + "\n{oops\n"
        ).encode(),
        "deeply_nested.json": lambda r: b"[" * 100_000 + b"]" * 100_000,
        "cover_sheet.xlsx": lambda r: _xlsx_with_cover_sheet(),
        "fullwidth_scores.csv": lambda r: _csv(
            [["好", s, "2025-01-02", "华为"] for s in ("５", "４．０", "１１")]
        ),
        "random_text_noise.csv": lambda r: "".join(
            r.choice('评论,"\n\r;|\t好差5=+-@') for _ in range(3000)
        ).encode(),
    }


def _xlsx_with_cover_sheet() -> bytes:
    """A workbook whose first sheet is a one-line note and whose second sheet holds the table."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        pd.DataFrame({"说明": []}).to_excel(writer, sheet_name="说明", index=False)
        pd.DataFrame([["好评", "5"], ["差评", "1"]], columns=["评论内容", "评分"]).to_excel(
            writer, sheet_name="数据", index=False
        )
    return buffer.getvalue()


def _zip_with(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


CORPUS = _corpus()
runner = CliRunner()


def _snapshot(db: Path) -> dict[str, object]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in ("datasets", "feedback", "rejected_rows", "products")
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("seeded")
    db = folder / "store.duckdb"
    source = folder / "existing.csv"
    source.write_bytes((HEADER + GOOD + "拍照一般,3,2025-01-05,小米\n").encode())
    result = runner.invoke(cli.app, ["ingest", str(source), "--db", str(db), "--no-annotate"])
    assert result.exit_code == 0, result.output
    assert not Path(f"{db}.wal").exists()  # checkpointed on close: copying the file copies the store
    return db


@pytest.fixture()
def seeded_store(seeded_template: Path, tmp_path: Path) -> Path:
    """A store that already holds one dataset: a refused file must leave it exactly as it was."""
    db = tmp_path / "store.duckdb"
    shutil.copyfile(seeded_template, db)
    return db


@pytest.mark.parametrize("filename", sorted(CORPUS))
def test_hostile_file_ends_cleanly(filename: str, tmp_path: Path, seeded_store: Path) -> None:
    path = tmp_path / filename
    path.write_bytes(CORPUS[filename](random.Random(f"{RNG_SEED}:{filename}")))
    before = _snapshot(seeded_store)
    result = runner.invoke(cli.app, ["ingest", str(path), "--db", str(seeded_store), "--no-annotate"])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{filename}: {result.exception!r}"
    )
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert filename in lines[0], lines[0]
        assert _snapshot(seeded_store) == before, "a refused file changed the store"
        return
    _assert_consistent(seeded_store, path.stem)


def _assert_consistent(db: Path, name: str) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            "SELECT dataset_id, rows_read, rows_imported, rows_rejected, rows_duplicate FROM datasets"
            " WHERE name = ?",
            [name],
        ).fetchall()
        assert row, f"dataset {name} missing after a successful import"
        dataset_id, read, imported, rejected, duplicates = row[0]
        assert read == imported + rejected + duplicates
        stored = con.execute("SELECT count(*) FROM feedback WHERE dataset_id = ?", [dataset_id]).fetchall()
        assert stored[0][0] == imported
        reasons = con.execute(
            "SELECT reason FROM rejected_rows WHERE dataset_id = ?", [dataset_id]
        ).fetchall()
        assert len(reasons) == rejected
        assert all(r[0] and r[0].strip() for r in reasons)
        dupes = con.execute(
            "SELECT count(*) - count(DISTINCT content_hash), count(*) - count(DISTINCT feedback_id)"
            " FROM feedback"
        ).fetchall()
        assert dupes[0] == (0, 0)
    finally:
        con.close()


def test_expected_outcomes_for_key_cases(tmp_path: Path) -> None:
    """Not just 'no crash': the specific outcome for the cases the issue names."""
    expectations = {
        "empty.csv": (2, "empty"),
        "header_only.csv": (2, "no data rows"),
        "random_binary.csv": (2, None),
        "xls_renamed.csv": (2, ".xls"),
        "single_column_no_score.csv": (2, "no usable text or score column"),
        "xlsx_renamed.csv": (0, None),
        "scores_out_of_range.csv": (0, None),
        "impossible_dates.csv": (1, "no row was valid"),
        "half_written.csv": (0, None),  # was read as cp1252 mojibake before the UTF-8 cut-off fix
        "control_chars.csv": (0, None),  # was refused as "binary" for two stray NULs
        "deeply_nested.json": (2, "nested too deeply"),  # was a RecursionError traceback
        "cover_sheet.xlsx": (0, None),  # was "no data rows": only the first (notes) sheet was read
        "fullwidth_scores.csv": (0, None),  # "５" was "not a number"
    }
    db = tmp_path / "s.duckdb"
    for filename, (code, needle) in expectations.items():
        path = tmp_path / filename
        path.write_bytes(CORPUS[filename](random.Random(f"{RNG_SEED}:{filename}")))
        result = runner.invoke(cli.app, ["ingest", str(path), "--db", str(db), "--no-annotate"])
        assert result.exit_code == code, f"{filename}: {result.output}"
        if needle:
            assert needle in result.stderr, f"{filename}: {result.stderr}"
    con = connect(db)
    try:
        reasons = con.execute(
            "SELECT r.reason FROM rejected_rows r JOIN datasets d USING (dataset_id) WHERE d.name = ?",
            ["scores_out_of_range"],
        ).fetchall()
        assert any("11" in r[0] for r in reasons), reasons  # the reason names the bad value
        dates = con.execute(
            "SELECT count(*) FROM rejected_rows r JOIN datasets d USING (dataset_id) WHERE d.name = ?"
            " AND r.reason LIKE '%2025-13-45%'",
            ["impossible_dates"],
        ).fetchall()
        assert dates[0][0] == 1
        encodings = dict(con.execute("SELECT name, encoding FROM datasets").fetchall())
        assert encodings["half_written"] == "utf-8"
        texts = {
            r[0]
            for r in con.execute(
                "SELECT text FROM feedback JOIN datasets USING (dataset_id) WHERE name = 'control_chars'"
            ).fetchall()
        }
        assert texts == {"响应很[31m快了", "空字符"}
        ratings = con.execute(
            "SELECT rating FROM feedback JOIN datasets USING (dataset_id) WHERE name = 'fullwidth_scores'"
        ).fetchall()
        assert sorted(r[0] for r in ratings) == [4, 5]  # "１１" is rejected as out of range
        sheet_rows = con.execute(
            "SELECT count(*) FROM feedback JOIN datasets USING (dataset_id) WHERE name = 'cover_sheet'"
        ).fetchall()
        assert sheet_rows[0][0] == 2
    finally:
        con.close()


def test_hostile_text_is_stored_verbatim_and_inert_in_filters_and_search(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    path = tmp_path / "hostile_texts.csv"
    path.write_bytes(CORPUS["hostile_texts.csv"](random.Random(RNG_SEED)))
    result = runner.invoke(cli.app, ["ingest", str(path), "--db", str(db), "--no-annotate"])
    assert result.exit_code == 0, result.output
    con = connect(db)
    try:
        stored = {r[0] for r in con.execute("SELECT text FROM feedback").fetchall()}
        assert stored == set(HOSTILE_TEXTS)
        for value in (SQL_TEXT, "x' OR '1'='1", '华为"; DELETE FROM feedback; --'):
            where, params = Filters(brands=(value,), channels=(value,)).where(alias="f")
            rows = con.execute(f"SELECT count(*) FROM feedback f WHERE {where}", params).fetchall()
            assert rows[0][0] == 0
        where, params = Filters(brands=(SQL_TEXT[:20],)).where(alias="f")
        assert con.execute(f"SELECT count(*) FROM feedback f WHERE {where}", params).fetchall()[0][0] == 1
        found = search_feedback(con, Filters(), SQL_TEXT)
        assert found.n_matching == 1 and found.rows["text"].iloc[0] == SQL_TEXT
        assert search_feedback(con, Filters(), "% _ '").n_matching == 0
        assert con.execute("SELECT count(*) FROM feedback").fetchall()[0][0] == len(HOSTILE_TEXTS)
    finally:
        con.close()
