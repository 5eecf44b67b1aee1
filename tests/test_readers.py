"""data.readers: formats sniffed from bytes, encodings detected, broken files refused with one message."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from data.readers import FileRefused, decode_text, read_table

ROWS = [
    {"评论内容": "屏幕很清楚，续航不错😀", "得分": "5", "购买时间": "2024/5/1 14:30"},
    {"评论内容": "物流太慢，客服态度差", "得分": "2", "购买时间": "2024-05-02"},
    {"评论内容": '包含,逗号和"引号"的评论\n第二行', "得分": "4", "购买时间": "2024年5月3日"},
]
FRAME = pd.DataFrame(ROWS)


def _csv_bytes(encoding: str, sep: str = ",") -> bytes:
    return FRAME.to_csv(index=False, sep=sep).encode(encoding)


def _assert_same_table(table_frame: pd.DataFrame) -> None:
    assert list(table_frame.columns) == list(FRAME.columns)
    assert table_frame.to_dict("records") == ROWS


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gbk"), ("utf-16", "utf-16")],
)
def test_csv_encodings_give_identical_text(encoding: str, expected: str) -> None:
    frame = FRAME.assign(评论内容=FRAME["评论内容"].str.replace("😀", "")) if encoding == "gbk" else FRAME
    data = frame.to_csv(index=False).encode(encoding)
    table = read_table(data, "reviews.csv")
    assert table.encoding == expected
    assert table.frame.to_dict("records") == frame.to_dict("records")


def test_gb18030_only_characters_decode() -> None:
    # "𠮷" and "😀" exist in GB18030 but not in GBK.
    text = "评论内容,得分\n吉野家的𠮷字很特别😀,5\n一般般,3\n"
    table = read_table(text.encode("gb18030"), "gb.csv")
    assert table.encoding == "gb18030"
    assert table.frame["评论内容"].tolist() == ["吉野家的𠮷字很特别😀", "一般般"]


def test_mixed_utf8_and_gbk_lines_decode_line_by_line() -> None:
    data = "评论内容,得分\n".encode() + "很好用,5\n".encode("gbk") + "质量一般,3\n".encode()
    text, encoding = decode_text(data, "mixed.csv")
    assert encoding == "mixed utf-8/gb18030"
    assert text.splitlines() == ["评论内容,得分", "很好用,5", "质量一般,3"]


@pytest.mark.parametrize(("sep", "fmt"), [("\t", "tsv"), (";", "csv"), ("|", "csv")])
def test_separators_are_sniffed(sep: str, fmt: str) -> None:
    table = read_table(_csv_bytes("utf-8", sep), "reviews.txt")
    assert table.format == fmt
    _assert_same_table(table.frame)


def test_xlsx_and_xlsx_renamed_to_csv(tmp_path: Path) -> None:
    path = tmp_path / "reviews.xlsx"
    FRAME.assign(得分=FRAME["得分"].astype(int)).to_excel(path, index=False)
    for name in ("reviews.xlsx", "actually_excel.csv"):
        table = read_table(path.read_bytes(), name)
        assert table.format == "xlsx"
        assert table.frame["评论内容"].tolist() == FRAME["评论内容"].tolist()
        assert table.frame["得分"].tolist() == ["5", "2", "4"]


def test_json_list_object_and_jsonl() -> None:
    as_list = json.dumps(ROWS, ensure_ascii=False).encode()
    _assert_same_table(read_table(as_list, "r.json").frame)
    wrapped = json.dumps({"data": ROWS, "count": 3}, ensure_ascii=False).encode()
    _assert_same_table(read_table(wrapped, "r.json").frame)
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS).encode()
    table = read_table(lines, "r.jsonl")
    assert table.format == "jsonl"
    _assert_same_table(table.frame)


def test_jsonl_bad_line_becomes_bad_line_not_refusal() -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in ROWS]
    lines.insert(1, '{"评论内容": "没写完')
    table = read_table("\n".join(lines).encode(), "r.jsonl")
    assert len(table.frame) == 3
    assert table.bad_lines["source_row"].tolist() == [2]
    assert table.source_rows == [1, 3, 4]


def test_parquet_typed_columns_become_strings() -> None:
    frame = pd.DataFrame(
        {
            "text": ["好", "差"],
            "rating": [5, 1],
            "date": pd.to_datetime(["2024-05-01 10:00", "2024-05-02 00:00"], format="%Y-%m-%d %H:%M"),
            "price": [1999.0, None],
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    table = read_table(buffer.getvalue(), "r.parquet")
    assert table.format == "parquet"
    assert table.frame.to_dict("records") == [
        {"text": "好", "rating": "5", "date": "2024-05-01 10:00:00", "price": "1999"},
        {"text": "差", "rating": "1", "date": "2024-05-02 00:00:00", "price": ""},
    ]


def test_duplicate_and_empty_headers_made_unique() -> None:
    table = read_table(b",id,text,text\n1,7,a,b\n", "dup.csv")
    assert list(table.frame.columns) == ["column_1", "id", "text", "text (2)"]


def test_truncated_quote_costs_only_its_line() -> None:
    data = b'text,rating\nok,5\n"never closed,4\nfine,3\n'
    table = read_table(data, "broken.csv")
    assert table.frame["text"].tolist() == ["ok", "fine"]
    assert table.bad_lines["source_row"].tolist() == [2]
    cut = read_table(b'text,rating\nok,5\n"cut off at the end of a down', "cut.csv")
    assert cut.frame["text"].tolist() == ["ok"]
    assert cut.bad_lines["source_row"].tolist() == [2]
    assert "引号没有闭合" in table.bad_lines["reason"].iloc[0]


def test_row_with_too_many_fields_is_a_bad_line() -> None:
    table = read_table(b"text,rating\na,1,extra,extra\nb,2\nc,3\n", "wide.csv")
    assert table.frame["text"].tolist() == ["b", "c"]
    assert table.source_rows == [2, 3]
    assert "4 个字段" in table.bad_lines["reason"].iloc[0]


@pytest.mark.parametrize(
    ("data", "name", "needle"),
    [
        (b"", "empty.csv", "empty"),
        (b"\n\n  \n", "blank.csv", "empty"),
        (b"text,rating\n", "header.csv", "no data rows"),
        (random.Random(7).randbytes(4096), "random.csv", "binary"),
        (b"%PDF-1.7 something", "report.csv", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls", ".xls"),
        (b"PK\x03\x04" + b"\x00" * 50, "broken.xlsx", "damaged"),
        (b"[1, 2, 3]", "numbers.json", "objects"),
        (b'{"a": ', "half.json", "not valid JSON"),
        (b"PAR1 not really parquet", "fake.parquet", "Parquet"),
    ],
)
def test_refusals_name_the_file_and_reason(data: bytes, name: str, needle: str) -> None:
    with pytest.raises(FileRefused) as caught:
        read_table(data, name)
    message = str(caught.value)
    assert message.startswith(f"{name}:")
    assert needle in message
    assert "\n" not in message


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match="cannot open"):
        read_table(tmp_path / "nope.csv", "nope.csv")


def test_long_texts_and_control_characters_survive_reading() -> None:
    long_text = "很" * 100_000
    data = f'text,rating\n{long_text},5\n"emoji 🎉 and \x07 bell",4\n'.encode()
    table = read_table(data, "long.csv")
    assert len(table.frame["text"].iloc[0]) == 100_000
    assert table.frame["text"].iloc[1] == "emoji 🎉 and \x07 bell"


def test_western_legacy_encoding_is_not_mistaken_for_gbk() -> None:
    text = 'id,nps,explication\n1,9,"Très bon accueil, à bientôt"\n2,3,Caisse fermée… déçu\n'
    table = read_table(text.encode("cp1252"), "nps.csv")
    assert table.encoding == "cp1252"
    assert table.frame["explication"].tolist() == ["Très bon accueil, à bientôt", "Caisse fermée… déçu"]
