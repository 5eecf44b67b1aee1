"""Safe exports (issue 7.4): formulas neutralised, Chinese readable in Excel, atomic files, clean errors."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from data.export import (
    TRUNCATION_MARK,
    XLSX_MAX_CELL_CHARS,
    ExportError,
    csv_bytes,
    format_for_path,
    neutralise_cell,
    safe_frame,
    write_export,
    xlsx_bytes,
)
from data.ingest import ingest_frame
from data.store import connect

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = [
    '=HYPERLINK("http://evil.example","点我")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "<script>alert('x')</script>",
    "'; DROP TABLE feedback; --",
    "屏幕很好😀",
]


def test_neutralise_cell_escapes_only_formula_prefixes() -> None:
    assert neutralise_cell("=1+1") == "'=1+1"
    assert neutralise_cell("+1") == "'+1"
    assert neutralise_cell("-1") == "'-1"
    assert neutralise_cell("@A1") == "'@A1"
    assert neutralise_cell("\t=1") == "'\t=1"
    assert neutralise_cell("好评=1") == "好评=1"
    assert neutralise_cell(-1) == -1
    assert neutralise_cell(None) is None


def test_safe_frame_does_not_mutate_and_handles_duplicate_columns() -> None:
    frame = pd.DataFrame([["=1", "=2", 3]], columns=["a", "a", "=b"])
    out = safe_frame(frame)
    assert frame.iloc[0, 0] == "=1"  # the input is untouched
    assert list(out.columns) == ["a", "a", "'=b"]
    assert out.iloc[0].tolist() == ["'=1", "'=2", 3]


def test_csv_has_bom_round_trips_chinese_and_no_cell_starts_with_a_formula() -> None:
    frame = pd.DataFrame({"text": HOSTILE, "rating": range(len(HOSTILE))})
    data = csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for original, cell in zip(HOSTILE, back["text"], strict=True):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert cell == neutralise_cell(original)  # a lone "\r" inside a text must not split the row
    assert "屏幕很好😀" in back["text"].tolist()


def test_xlsx_cells_are_strings_never_formulas(tmp_path: Path) -> None:
    long_text = "很" * 100_000
    frame = pd.DataFrame(
        {
            "text": [*HOSTILE, long_text, "控制\x00字符\x07"],
            "created_at": pd.Timestamp("2025-01-02 03:04:05"),
            "rating": 5,
        }
    )
    target = write_export(frame, tmp_path / "out.xlsx")
    sheet = load_workbook(target).active
    values = [sheet.cell(row=r, column=1) for r in range(2, len(frame) + 2)]
    for cell in values:
        assert cell.data_type == "s"
        assert not str(cell.value).startswith(("=", "+", "-", "@"))
    assert values[0].value == "'" + HOSTILE[0]
    assert values[0].quotePrefix
    assert len(values[-2].value) == XLSX_MAX_CELL_CHARS and values[-2].value.endswith(TRUNCATION_MARK)
    assert values[-1].value == "控制字符"
    assert sheet.cell(row=2, column=3).value == 5


def test_write_export_is_atomic_and_checks_the_extension(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(ExportError, match=r"\.csv or \.xlsx"):
        format_for_path(tmp_path / "out.txt")
    with pytest.raises(ExportError, match="does not exist"):
        write_export(pd.DataFrame({"a": [1]}), tmp_path / "missing" / "out.csv")
    write_export(pd.DataFrame({"a": ["=1"]}), target)
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temp file left behind


def test_xlsx_refuses_more_rows_than_a_sheet_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    import data.export as export

    monkeypatch.setattr(export, "XLSX_MAX_ROWS", 3)
    with pytest.raises(ExportError, match=r"export as \.csv"):
        xlsx_bytes(pd.DataFrame({"a": range(4)}))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TINGJIAN_DB"}
    return subprocess.run(
        [sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "store.duckdb"
    con = connect(path)
    frame = pd.DataFrame({"评论": HOSTILE, "评分": ["5"] * len(HOSTILE), "品牌": ["华为"] * len(HOSTILE)})
    ingest_frame(con, frame, name="hostile", kind="reviews", mapping=None, source_file="h.csv")
    ingest_frame(
        con,
        pd.DataFrame({"评论": ["另一条"], "评分": ["4"]}),
        name="其他",
        kind="reviews",
        mapping=None,
        source_file="o.csv",
    )
    con.close()
    return path


def test_cli_export_csv_and_xlsx(store: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "all.csv"
    result = _cli("export", "--db", str(store), "--out", str(csv_path))
    assert result.returncode == 0, result.stderr
    assert f"wrote {len(HOSTILE) + 1} rows" in result.stdout
    data = csv_path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(csv_path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert set(back["dataset"]) == {"hostile", "其他"}
    assert all(not t.startswith(("=", "+", "-", "@")) for t in back["text"])
    assert "'=HYPERLINK" in data.decode("utf-8-sig")

    xlsx_path = tmp_path / "one.xlsx"
    result = _cli("export", "--db", str(store), "--out", str(xlsx_path), "--dataset", "hostile")
    assert result.returncode == 0, result.stderr
    sheet = load_workbook(xlsx_path).active
    header = [c.value for c in sheet[1]]
    texts = [row[header.index("text")] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert len(texts) == len(HOSTILE)
    assert all(not str(t).startswith(("=", "+", "-", "@")) for t in texts)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--out", "x.txt"], "must end in .csv or .xlsx"),
        (["--out", "x.csv", "--dataset", "nope"], "no dataset named or numbered 'nope'"),
        (["--out", "/nonexistent-dir/x.csv"], "does not exist"),
    ],
)
def test_cli_export_errors_are_one_line(store: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    args = [a if not a.startswith("x.") else str(tmp_path / a) for a in args]
    result = _cli("export", "--db", str(store), *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert needle in result.stderr


def test_cli_export_without_a_store_does_not_create_one(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    result = _cli("export", "--db", str(missing), "--out", str(tmp_path / "x.csv"))
    assert result.returncode == 2 and "no store at" in result.stderr
    assert not missing.exists()


def test_rejected_rows_export_is_neutralised(tmp_path: Path) -> None:
    """``datasets rejected --out`` goes through data.export too: a hostile header is not run as a formula."""
    db = tmp_path / "r.duckdb"
    source = tmp_path / "bad.csv"
    source.write_text("评论,=cmd|' /C calc'!A0\n好评,11\n很好,5\n", encoding="utf-8")
    imported = _cli(
        "ingest", str(source), "--db", str(db), "--no-annotate", "--map", "rating==cmd|' /C calc'!A0"
    )
    assert imported.returncode == 0, imported.stderr
    result = _cli("datasets", "rejected", "bad", "--db", str(db), "--out", str(tmp_path / "rej.csv"))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "rej.csv").read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(tmp_path / "rej.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(back) == 1
    assert all(not str(v).startswith(("=", "+", "-", "@")) for v in back.to_numpy().ravel())
