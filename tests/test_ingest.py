"""data.ingest: validation, one transaction per import, duplicates by content hash, datasets, products."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data import ingest
from data.ingest import (
    DatasetKindMismatch,
    DatasetNotFound,
    delete_dataset,
    ingest_file,
    ingest_frame,
    ingest_loaded,
    list_datasets,
    rejected_rows,
)
from data.readers import FileRefused, read_table
from data.store import connect

REVIEWS = pd.DataFrame(
    {
        "评论内容": ["屏幕很清楚😀", "好评", "好评", "", "物流慢", "电池一般", "拍照好", "  ", "外观漂亮"],
        "得分": ["5", "5", "5", "4", "11", "3.0", "abc", "2", "4星"],
        "购买时间": [
            "2024/5/1 14:30",
            "2024-05-02",
            "2024-05-02",
            "2024-05-03",
            "2024-05-04",
            "2025-13-45",
            "2024年5月6日",
            "2024-05-07",
            "2024-05-08 09:10:11",
        ],
        "手机型号": ["华为 HUAWEI P30 8GB+128GB 天空之境"] * 9,
        "会员级别": ["PLUS", "", "", "", "", "", "", "", "金牌"],
    }
)
MAPPING = {"text": "评论内容", "rating": "得分", "created_at": "购买时间", "product": "手机型号"}


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(":memory:")
    yield connection
    connection.close()


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {
        table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        for table in ("datasets", "feedback", "products", "rejected_rows")
    }


def test_valid_rows_import_and_invalid_rows_get_actionable_reasons(con: duckdb.DuckDBPyConnection) -> None:
    result = ingest_frame(con, REVIEWS, name="jd", kind="reviews", mapping=MAPPING, source_file="jd.csv")
    assert (result.rows_read, result.imported, result.rejected, result.duplicates) == (9, 4, 5, 0)
    rejected = rejected_rows(con, result.dataset_id)
    reasons = dict(zip(rejected["source_row"], rejected["reason"], strict=True))
    assert set(reasons) == {4, 5, 6, 7, 8}
    assert "「评论内容」为空" in reasons[4] and "「评论内容」为空" in reasons[8]
    assert "「11」超出范围" in reasons[5] and "1–5" in reasons[5]
    assert "「2025-13-45」不是有效日期" in reasons[6]
    assert "「abc」不是数字" in reasons[7]
    assert rejected.loc[rejected["source_row"] == 5, "column_name"].item() == "得分"
    assert json.loads(rejected.loc[rejected["source_row"] == 5, "raw_row"].item())["得分"] == "11"
    rows = con.execute(
        "SELECT source_row, text, rating, created_at, brand, product, extra->>'手机型号', extra->>'会员级别'"
        " FROM feedback ORDER BY source_row"
    ).fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 9]
    first = rows[0]
    assert first[1:6] == ("屏幕很清楚😀", 5, pd.Timestamp("2024-05-01 14:30"), "华为", "P30")
    assert first[6] == "华为 HUAWEI P30 8GB+128GB 天空之境" and first[7] == "PLUS"
    assert rows[3][1:3] == ("外观漂亮", 4)


def test_reimport_adds_nothing_but_identical_rows_in_one_file_all_count(
    con: duckdb.DuckDBPyConnection,
) -> None:
    first = ingest_frame(con, REVIEWS, name="jd", kind="reviews", mapping=MAPPING, source_file="jd.csv")
    second = ingest_frame(
        con, REVIEWS, name="jd again", kind="reviews", mapping=MAPPING, source_file="jd.csv"
    )
    assert first.imported == 4
    assert (second.imported, second.duplicates, second.rejected) == (0, 4, 5)
    # Each run reports its rejections; the downloadable list of dataset "jd again" has each row once.
    third = ingest_frame(con, REVIEWS, name="jd again", kind="reviews", mapping=MAPPING, source_file="jd.csv")
    assert third.rejected == 5 and len(rejected_rows(con, third.dataset_id)) == 5
    assert con.execute("SELECT count(*) FROM feedback WHERE text = '好评'").fetchall()[0][0] == 2
    ids = con.execute("SELECT feedback_id FROM feedback ORDER BY 1").fetchall()
    assert [i[0] for i in ids] == [1, 2, 3, 4]
    hashes = con.execute("SELECT count(DISTINCT content_hash), count(*) FROM feedback").fetchall()[0]
    assert hashes[0] == hashes[1]


def test_overlapping_file_adds_only_new_rows_and_appends_to_named_dataset(
    con: duckdb.DuckDBPyConnection,
) -> None:
    ingest_frame(con, REVIEWS.iloc[:3], name="jd", kind="reviews", mapping=MAPPING, source_file="a.csv")
    result = ingest_frame(con, REVIEWS, name="jd", kind="reviews", mapping=MAPPING, source_file="b.csv")
    assert (result.imported, result.duplicates) == (1, 3)
    datasets = list_datasets(con)
    assert datasets[
        ["name", "rows_read", "rows_imported", "rows_duplicate", "feedback_rows"]
    ].values.tolist() == [["jd", 12, 4, 3, 4]]


def test_typed_columns_from_the_demo_generator(con: duckdb.DuckDBPyConnection) -> None:
    frame = pd.DataFrame(
        {
            "text": ["续航很强", "发热严重", None],
            "rating": [5, 1, 3],
            "nps": pd.array([10, 0, pd.NA], dtype="Int64"),
            "created_at": pd.to_datetime(["2025-01-02 10:00", "2025-02-03 11:00", "2025-03-04 12:00"]),
            "brand": ["华为", "小米", "OPPO"],
            "product": ["Mate 60", "14 Ultra", "Find X7"],
            "channel": ["京东", "天猫", "抖音"],
            "segment_truth": [0.9, -0.8, 0.0],
        }
    )
    mapping = {
        "text": "text",
        "rating": "rating",
        "nps_score": "nps",
        "created_at": "created_at",
        "brand": "brand",
        "product": "product",
        "channel": "channel",
    }
    result = ingest_frame(
        con, frame, name="演示", kind="survey", mapping=mapping, source_file="demo", is_demo=True
    )
    assert (result.imported, result.rejected) == (3, 0)
    rows = con.execute(
        "SELECT text, rating, nps_score, created_at, brand, product, channel, extra->>'segment_truth'"
        " FROM feedback ORDER BY feedback_id"
    ).fetchall()
    assert rows[0] == ("续航很强", 5, 10, pd.Timestamp("2025-01-02 10:00"), "华为", "Mate 60", "京东", "0.9")
    assert rows[2][0] is None and rows[2][2] is None
    assert con.execute("SELECT is_demo FROM datasets").fetchall() == [(True,)]


def test_text_is_cleaned_and_long_text_truncated_with_a_note(con: duckdb.DuckDBPyConnection) -> None:
    frame = pd.DataFrame({"text": ["a\x00b\x07c\r\nd 🎉", "长" * 100_000]})
    ingest_frame(con, frame, name="t", kind="reviews", mapping={"text": "text"}, source_file="t.csv")
    rows = con.execute("SELECT text, length(text), extra FROM feedback ORDER BY source_row").fetchall()
    assert rows[0][0] == "abc\nd 🎉"
    assert rows[1][1] == 20_000
    assert json.loads(rows[1][2])["_text_truncated_from_chars"] == 100_000


def test_survey_rows_need_a_score_or_a_text(con: duckdb.DuckDBPyConnection) -> None:
    frame = pd.DataFrame(
        {"nps": ["10", "NA", "NA", "7", "12"], "explication": ["NA", "trop cher", "NA", "", "x"]}
    )
    result = ingest_frame(
        con,
        frame,
        name="nps",
        kind="survey",
        mapping={"nps_score": "nps", "text": "explication"},
        source_file="nps.csv",
    )
    assert (result.imported, result.rejected) == (3, 2)
    assert con.execute("SELECT nps_score, text FROM feedback ORDER BY source_row").fetchall() == [
        (10, None),
        (None, "trop cher"),
        (7, None),
    ]
    reasons = rejected_rows(con, result.dataset_id)["reason"].tolist()
    assert "既没有推荐分也没有文字" in reasons[0] and "0–10" in reasons[1]


def test_failure_half_way_leaves_the_store_exactly_as_before(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_frame(con, REVIEWS.iloc[:2], name="before", kind="reviews", mapping=MAPPING, source_file="a.csv")
    before = _snapshot(con)

    def explode(*args: object, **kwargs: object) -> None:
        raise duckdb.IOException("disk full (injected)")

    # Fails after the dataset row and the feedback rows were written, before rejected rows.
    monkeypatch.setattr(ingest, "_insert_rejected", explode)
    with pytest.raises(duckdb.IOException, match="injected"):
        ingest_frame(con, REVIEWS, name="before", kind="reviews", mapping=MAPPING, source_file="b.csv")
    with pytest.raises(duckdb.IOException, match="injected"):
        ingest_frame(con, REVIEWS, name="new one", kind="reviews", mapping=MAPPING, source_file="b.csv")
    assert _snapshot(con) == before
    monkeypatch.undo()
    result = ingest_frame(con, REVIEWS, name="new one", kind="reviews", mapping=MAPPING, source_file="b.csv")
    assert result.imported == 2  # the second "好评" and "外观漂亮"; the rest were already stored


def test_refusals_leave_the_store_untouched(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    before = _snapshot(con)
    with pytest.raises(FileRefused, match="no usable text or score column"):
        ingest_frame(
            con, REVIEWS, name="x", kind="reviews", mapping={"product": "手机型号"}, source_file="x.csv"
        )
    with pytest.raises(FileRefused, match="not in the file"):
        ingest_frame(con, REVIEWS, name="x", kind="reviews", mapping={"text": "nope"}, source_file="x.csv")
    path = tmp_path / "random.csv"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(FileRefused, match=r"^random\.csv: .*binary"):
        ingest_file(con, path)
    assert _snapshot(con) == before


def test_kind_mismatch_under_existing_name(con: duckdb.DuckDBPyConnection) -> None:
    ingest_frame(con, REVIEWS, name="jd", kind="reviews", mapping=MAPPING, source_file="jd.csv")
    with pytest.raises(DatasetKindMismatch, match="already holds reviews"):
        ingest_frame(con, REVIEWS, name="jd", kind="survey", mapping=MAPPING, source_file="jd.csv")


def test_delete_dataset_removes_its_rows_and_annotations(con: duckdb.DuckDBPyConnection) -> None:
    keep = ingest_frame(con, REVIEWS.iloc[:2], name="keep", kind="reviews", mapping=MAPPING, source_file="a")
    gone = ingest_frame(con, REVIEWS.iloc[2:], name="gone", kind="reviews", mapping=MAPPING, source_file="b")
    con.execute("CREATE TABLE sentiment_demo (feedback_id BIGINT, score DOUBLE)")
    con.execute("INSERT INTO sentiment_demo SELECT feedback_id, 0.5 FROM feedback")
    deleted = delete_dataset(con, "gone")
    # "gone" starts with "好评", identical (first occurrence) to a row of "keep": a duplicate, not re-added.
    assert (gone.imported, gone.duplicates) == (1, 1)
    assert (deleted.dataset_id, deleted.feedback_rows, deleted.rejected_rows) == (gone.dataset_id, 1, 5)
    assert list_datasets(con)["name"].tolist() == ["keep"]
    assert _count(con, "feedback") == 2 and _count(con, "rejected_rows") == 0
    assert _count(con, "sentiment_demo") == 2
    delete_dataset(con, keep.dataset_id)
    assert _count(con, "feedback") == 0 and _count(con, "sentiment_demo") == 0
    with pytest.raises(DatasetNotFound):
        delete_dataset(con, "gone")


def test_products_upsert_merges_sources_and_counts_unchanged_rows(con: duckdb.DuckDBPyConnection) -> None:
    specs = pd.DataFrame(
        {
            "Model": [
                "Honor 90 Pro Android smartphone",
                "vivo X100 Android smartphone",
                "Xiaomi 14 Android smartphone",
                "vivo X100 Android smartphone",
                "Nokia 3310 phone",
            ],
            "Year": ["Jun-23", "Nov-23", "Q4 2023", "Nov-23", "Feb-17"],
            "Battery": [
                " 5000 mAh battery",
                " 5000 mAh battery.",
                "4610 mAh battery",
                "5000 mAh battery",
                "12",
            ],
            "Inches": ["6.78", "6.78", "6.36", "6.78", "2.4"],
        }
    )
    mapping = {"product": "Model", "release_date": "Year", "battery_mah": "Battery", "screen_in": "Inches"}
    first = ingest_frame(con, specs, name="specs", kind="products", mapping=mapping, source_file="g.csv")
    assert (first.imported, first.duplicates, first.rejected) == (3, 1, 1)
    assert "超出合理范围" in rejected_rows(con, first.dataset_id)["reason"].item()
    again = ingest_frame(con, specs, name="specs", kind="products", mapping=mapping, source_file="g.csv")
    assert (again.imported, again.duplicates) == (0, 4)
    prices = pd.DataFrame(
        {
            "品牌": ["荣耀", "vivo"],
            "型号": ["90 pro", "X100"],
            "首发价": ["CNY 3,299", "3999"],
            "重量": ["207g", "202 g"],
            "本品": ["是", "否"],
        }
    )
    ingest_frame(
        con,
        prices,
        name="prices",
        kind="products",
        mapping={
            "brand": "品牌",
            "product": "型号",
            "launch_price_cny": "首发价",
            "weight_g": "重量",
            "is_ours": "本品",
        },
        source_file="p.csv",
    )
    rows = con.execute(
        "SELECT brand, product, release_date, launch_price_cny, weight_g, battery_mah, screen_in, is_ours"
        " FROM products ORDER BY brand, product"
    ).fetchall()
    assert rows == [
        ("vivo", "X100", pd.Timestamp("2023-11-01").date(), 3999.0, 202.0, 5000.0, 6.78, False),
        ("小米", "14", pd.Timestamp("2023-10-01").date(), None, None, 4610.0, 6.36, False),
        ("荣耀", "90 Pro", pd.Timestamp("2023-06-01").date(), 3299.0, 207.0, 5000.0, 6.78, True),
    ]


def test_progress_is_reported_from_zero_to_one(con: duckdb.DuckDBPyConnection) -> None:
    seen: list[tuple[float, str]] = []
    ingest_frame(
        con,
        REVIEWS,
        name="p",
        kind="reviews",
        mapping=MAPPING,
        source_file="p.csv",
        progress=lambda fraction, message: seen.append((fraction, message)),
    )
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "导入 4 行" in seen[-1][1]


def test_ingest_file_reads_suggests_and_imports(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "京东评论.csv"
    path.write_bytes(REVIEWS.to_csv(index=False).encode("gb18030"))
    result = ingest_file(con, path)
    assert (result.name, result.kind, result.encoding, result.imported, result.rejected) == (
        "京东评论",
        "reviews",
        "gb18030",
        4,
        5,
    )
    texts = [r[0] for r in con.execute("SELECT text FROM feedback ORDER BY source_row").fetchall()]
    assert texts == ["屏幕很清楚😀", "好评", "好评", "外观漂亮"]


_PIECES = [
    "评论内容",
    "得分",
    "text",
    "rating",
    "nps",
    "日期",
    '"',
    ",",
    ";",
    "\t",
    "\n",
    "\r\n",
    "5",
    "11",
    "-3",
    "2025-13-45",
    "2024/5/1",
    "NA",
    "好评",
    "😀",
    "\x00",
    "\x07",
    "\ufeff",
    "{",
    "}",
    "[",
    "]",
    ":",
    "型号",
    "Apple iPhone 11",
    " ",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=40),
    encoding=st.sampled_from(["utf-8", "gb18030", "utf-16", "utf-8-sig"]),
    filename=st.sampled_from(["f.csv", "f.json", "f.jsonl", "f.tsv"]),
    kind=st.sampled_from([None, "reviews", "survey", "products"]),
)
def test_hostile_input_is_imported_or_refused_never_crashes(
    con: duckdb.DuckDBPyConnection, pieces: list[str], encoding: str, filename: str, kind: str | None
) -> None:
    data = "".join(pieces).encode(encoding)
    try:
        table = read_table(data, filename)
        result = ingest_loaded(con, table, name=f"fuzz {kind}", kind=kind)
    except FileRefused as exc:
        assert str(exc).startswith(f"{filename}:") and "\n" not in str(exc)
        return
    except DatasetKindMismatch:
        return
    assert result.imported + result.rejected + result.duplicates == result.rows_read


def test_content_hash_fields_are_pinned() -> None:
    """The hash input order decides duplicate detection across imports: changing it is a breaking change."""
    from data.ingest import _HASH_FIELDS

    assert _HASH_FIELDS == (
        "text",
        "rating",
        "nps_score",
        "created_at",
        "brand",
        "product",
        "channel",
        "region",
        "store",
        "customer_id",
    )
