"""The SQL fast path of the import (data/ingest_sql.py) gives exactly what the pandas path gives.

"Fast" is ``ingest_file`` (which tries DuckDB first); "pandas" is ``read_table`` + ``ingest_loaded``, the
path every file took before. Both import the same file into their own store and the stores are compared
row for row: feedback (every column, content hash and id included), rejected rows (reason, column,
raw row) and the dataset's counters. Files the fast path must take are checked to really take it (the
pandas reader is made to fail for them), so a comparison can never be pandas against pandas.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data import ingest, ingest_probe, ingest_sql
from data.config import shared_data_dir
from data.ingest import ImportResult, ingest_file, ingest_loaded
from data.readers import FileRefused, read_table
from data.store import connect
from data.validate import clean_text, rows_to_json
from tests.test_hostile_inputs import CORPUS, RNG_SEED

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
REAL_FILES = (
    "jd_phone_reviews_yulezhang/tmp_test_data.csv",
    "online_shopping_10_cats/online_shopping_10_cats.csv",
    "nps_botanic_garden_centres_fr/nps.csv",
)
FEEDBACK_SQL = (
    "SELECT feedback_id, source_row, content_hash, channel, brand, product, created_at, rating, nps_score,"
    " text, region, store, customer_id, CAST(extra AS VARCHAR) FROM feedback ORDER BY feedback_id"
)
REJECTED_SQL = (
    "SELECT source_row, column_name, reason, CAST(raw_row AS VARCHAR) FROM rejected_rows"
    " ORDER BY source_row, reason"
)
DATASETS_SQL = (
    "SELECT name, kind, source_file, encoding, column_mapping, rows_read, rows_imported, rows_rejected,"
    " rows_duplicate FROM datasets ORDER BY dataset_id"
)
# Python's whitespace, the control characters validation removes, JSON's escapes and CSV's specials.
AWKWARD = (
    [chr(c) for c in range(0x20)]
    + ["\x7f", "\x85", "\xa0", "\u1680", "\u2000", "\u200a", "\u200b", "\u2028", "\u2029", "\u202f"]
    + ["\u205f", "\u3000", "\ufeff", '"', "/", "\\", ",", "'", "😀", "é", "\u0301", "İ", "K"]
)
hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from(AWKWARD), st.characters(codec="utf-8", exclude_categories=("Cs",))),
    max_size=24,
) | st.sampled_from(["", " ", "NA", "n/a", "Null", "NaT", "-", "--", "<NA>", " nan ", "\u3000好评\u3000"])
SCORES = [
    "5",
    "５",
    "4.0",
    "４．０",
    "3.5",
    "11",
    "0",
    "-1",
    "abc",
    "",
    " 4 ",
    "4星",
    "1e0",
    "NaN",
    "inf",
    "五",
]
DATES = [
    "2024-05-01",
    "2024-05-01 12:00:00",
    "2024/05/01 12:00",
    "2024/5/1 14:30",
    "2025-13-45",
    "1989-12-31",
    "1989-12-31 23:59:59",
    "2099-01-01",
    "",
    "昨天",
    "2024-02-29",
    "2023-02-29",
    "2024-01-01 23:59:60",
    "2024-05-01T12:00:00+08:00",
    "Q2 2024",
    "2024",
    "2024年5月6日",
    " 2024-05-01 ",
]
BRANDS = ["华为", "HUAWEI", "huawei", "", "lg", "Apple", " 小米 ", "NA"]
PRODUCTS = ["iPhone 11 128GB", "荣耀9X 麒麟810 4000mAh", "", "Redmi Note8", "HUAWEI P30 8GB+128GB", "x/y"]


def _snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    return {
        "feedback": con.execute(FEEDBACK_SQL).fetchall(),
        "rejected": con.execute(REJECTED_SQL).fetchall(),
        "datasets": con.execute(DATASETS_SQL).fetchall(),
    }


def _outcome(run: Callable[[], ImportResult]) -> ImportResult | str:
    try:
        return run()
    except FileRefused as exc:
        return f"FileRefused: {exc}"


def _pandas_path(con: duckdb.DuckDBPyConnection, path: Path) -> Callable[[], ImportResult]:
    return lambda: ingest_loaded(con, read_table(path, path.name), name=path.stem)


@pytest.fixture
def no_pandas_reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the pandas reader fail inside ``data.ingest``: the import must not need it."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the pandas path was taken")

    monkeypatch.setattr(ingest, "read_table", refuse)
    yield


def _compare(path: Path, *, must_be_fast: bool | None = None) -> dict[str, list[tuple[object, ...]]]:
    """Import ``path`` by both paths into fresh stores; assert identical outcomes; return the snapshot."""
    took_fast = ingest_probe.probe(path, path.name) is not None
    if must_be_fast is not None:
        assert took_fast == must_be_fast, path.name
    fast_con, pandas_con = connect(":memory:"), connect(":memory:")
    try:
        fast = _outcome(lambda: ingest_file(fast_con, path))
        slow = _outcome(_pandas_path(pandas_con, path))
        assert fast == slow, path.name
        fast_rows, slow_rows = _snapshot(fast_con), _snapshot(pandas_con)
        for table in fast_rows:
            for mine, theirs in zip(fast_rows[table], slow_rows[table], strict=True):
                assert mine == theirs, (path.name, table)
        return fast_rows
    finally:
        fast_con.close()
        pandas_con.close()


# --- the hostile corpus and crafted files ------------------------------------------------------------------


# Files of the corpus the fast path cannot take are compared only for a few (the fallback's wiring): for
# the others both calls run the same pandas code.
FALLBACK_SAMPLE = {"gbk.csv", "mixed_utf8_gbk.csv", "half_written.csv", "unbalanced_quotes.csv", "utf16.csv"}


@pytest.mark.parametrize("filename", sorted(CORPUS))
def test_hostile_corpus_gives_the_same_result_on_both_paths(filename: str, tmp_path: Path) -> None:
    path = tmp_path / filename
    path.write_bytes(CORPUS[filename](random.Random(f"{RNG_SEED}:{filename}")))
    if ingest_probe.probe(path, filename) is None and filename not in FALLBACK_SAMPLE:
        return
    _compare(path)


FAST_FILES: dict[str, bytes] = {
    # every row exercises something: whitespace kinds, controls, JSON escapes, missing markers, dates
    "awkward.csv": (
        "评论内容,评分,购买时间,品牌,手机型号,备注/说明,渠道\n"
        '"\u3000屏幕\x00很好\r\n续航\x0b给力 ",５,2024-05-01 12:00:00,HUAWEI,HUAWEI P30 8GB+128GB,'
        '"a/b\\c""d",京东\n'
        "好评,5,2024/05/01 12:00,华为,iPhone 11 (A2223) 128GB,\x1b[31m,\u2028天猫\u2028\n"
        "好评,5,2024/05/01 12:00,华为,iPhone 11 (A2223) 128GB,\x1b[31m,\u2028天猫\u2028\n"
        "还行,3,2024-02-30,,荣耀9X 麒麟810,,\n"
        "凑合,11,2024-05-01,lg,,\x0e\x1f,-\n"
        "一般,4,1989-12-31,,,,\n"
        "NA,3,2024-05-01,,,,\n"
        "  ,,,,,,\n"
        "还行,4.5,2024年5月6日,Apple,,é e\u0301 😀,null\n"
        '"多行\n文本",,2024-05-01T12:00:00+08:00,,,\x85,渠道\x7f\n'
        ",,,小米,Redmi Note8,,\n"
    ).encode("utf-8"),
    "bom_crlf.csv": ("\ufeff评论内容,评分\r\n好,5\r\n差,1\r\n\r\n一般,3\r\n").encode("utf-8"),
    "tabs.tsv": ("评论内容\t评分\t省份\n好\t5\t广东\n差\t1\t\n").encode(),
    "semicolon.csv": ("评论内容;评分;渠道\n好;5;京东\n差;1;天猫\n").encode(),
    "survey.csv": ("NPS,推荐原因,id\n10,很好,1\n,,2\n7.5,一般,3\n0,,4\n,只有文字,5\n").encode(),
    "long_text.csv": ("评论内容,评分,其他\n" + "长" * 20_005 + ",5,x\n短,4,y\n").encode("utf-8"),
    "long_text_no_extra.csv": ("评论内容,评分\n" + "长" * 20_001 + ",5\n").encode("utf-8"),
    "all_rejected.csv": ("评论内容,评分\n,abc\n,12\n").encode(),
}


# CSV dialect corners where DuckDB's and Arrow's parsers could split a line differently.
DIALECT_FILES: dict[str, str] = {
    "cr_inside.csv": "评论内容,评分\n好\r坏,5\n差,1\n",
    "space_after_quote.csv": '评论内容,评分\n"好" ,5\n差,1\n',
    "space_before_quote.csv": '评论内容,评分\n "好,坏",5\n差,1\n',
    "backslash_quote.csv": '评论内容,评分\n"好\\"坏",5\n差,1\n',
    "hash_line.csv": "评论内容,评分\n#注释,5\n差,1\n",
    "only_delimiters.csv": "评论内容,评分\n,\n差,1\n",
    "trailing_delimiter.csv": "评论内容,评分,\n好,5,\n差,1,\n",
    "duplicate_headers.csv": "评论内容,评论内容,评分\n好,坏,5\n",
    "spaced_headers.csv": " 评论内容 , 评分\n好,5\n",
    "no_final_newline.csv": "评论内容,评分\n好,5\n差,1",
    "crlf_lf_in_quotes.csv": '评论内容,评分\r\n"a\nb",5\r\n差,1\r\n',
    "bom_quoted_header.csv": '\ufeff"评论内容","评分"\n好,5\n',
    "empty_quoted_row.csv": '评论内容,评分\n"",""\n好,5\n',
}


@pytest.mark.parametrize("filename", sorted(DIALECT_FILES))
def test_csv_dialect_corners_match(filename: str, tmp_path: Path) -> None:
    path = tmp_path / filename
    path.write_bytes(DIALECT_FILES[filename].encode())
    _compare(path)


@pytest.mark.parametrize("filename", sorted(FAST_FILES))
def test_crafted_files_take_the_fast_path_and_match(
    filename: str, tmp_path: Path, no_pandas_reader: None
) -> None:
    path = tmp_path / filename
    path.write_bytes(FAST_FILES[filename])
    # ingest_file cannot fall back (data.ingest.read_table fails); the pandas side uses its own import
    _compare(path, must_be_fast=True)


def test_awkward_file_keeps_its_quirks(tmp_path: Path) -> None:
    path = tmp_path / "awkward.csv"
    path.write_bytes(FAST_FILES["awkward.csv"])
    rows = _compare(path, must_be_fast=True)
    texts = [r[9] for r in rows["feedback"]]
    assert "屏幕很好\n续航给力" in texts  # NUL and VT removed, CRLF → LF, ideographic space trimmed
    assert texts.count("好评") == 2  # identical rows both kept (occurrence number in the hash)
    reasons = " ".join(r[2] for r in rows["rejected"])
    assert "2024-02-30" in reasons and "「评分」的值「11」超出范围" in reasons and "1989" in reasons
    extras = [r[13] for r in rows["feedback"]]
    assert any('"备注\\/说明":"a\\/b\\\\c\\"d"' in (e or "") for e in extras)
    assert any("\\u001b[31m" in (e or "") for e in extras)  # pandas' lower-case hex kept


def test_long_text_is_cut_and_noted_in_extra(tmp_path: Path) -> None:
    for name in ("long_text.csv", "long_text_no_extra.csv"):
        path = tmp_path / name
        path.write_bytes(FAST_FILES[name])
        rows = _compare(path, must_be_fast=True)
        first = rows["feedback"][0]
        assert len(first[9]) == 20_000 and '"_text_truncated_from_chars": 2000' in first[13]


def test_files_for_the_pandas_path_are_not_probed_fast(tmp_path: Path) -> None:
    cases = {
        "gbk.csv": "评论内容,评分\n好,5\n".encode("gbk"),
        "quoted_header.csv": '"评论,内容","评分"\n好,5\n'.encode(),
        "ragged.csv": "评论内容,评分\n好,5,多余\n".encode(),
        "one_column.csv": "评论内容\n好\n".encode(),
        "data.json": '[{"评论内容": "好"}]'.encode(),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        source = ingest_probe.probe(path, name)
        if source is not None:  # readable header, but DuckDB's strict parse must refuse the rows
            con = connect(":memory:")
            assert ingest_sql.stage(con.cursor(), source) is None, name
        _compare(path)


# --- properties --------------------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.one_of(st.none(), hostile_text), min_size=1, max_size=40))
def test_clean_text_sql_equals_clean_text(values: list[str | None]) -> None:
    series = pd.Series(values, dtype="object")
    expected = clean_text(series.fillna(""))
    con = duckdb.connect()
    con.register("v", pd.DataFrame({"i": np.arange(len(values)), "x": series}))
    got = [r[0] for r in con.execute(f"SELECT {ingest_sql.clean_text_sql('x')} FROM v ORDER BY i").fetchall()]
    assert got == [None if pd.isna(e) else e for e in expected]


@SETTINGS
@given(st.lists(st.lists(hostile_text, min_size=3, max_size=3), min_size=1, max_size=10))
def test_extra_json_is_byte_identical_to_pandas(rows: list[list[str]]) -> None:
    headers = ["备注/说明", 'a"b\\c', "渠道 名"]
    frame = pd.DataFrame(rows, columns=headers, dtype="str")
    expected = list(rows_to_json(frame))
    con = duckdb.connect()
    con.register(
        "v", frame.assign(_i=np.arange(len(frame))).rename(columns=dict(zip(headers, "xyz", strict=True)))
    )
    sql = ingest_sql._json_key_sql(headers, ["x", "y", "z"])
    got = [r[0] for r in con.execute(f"SELECT {sql} FROM v ORDER BY _i").fetchall()]
    for mine, theirs in zip(got, expected, strict=True):
        # DuckDB writes nine control characters in upper-case hex; the import recomputes those rows
        if not any(f"\\u00{c}" in mine for c in ("0B", "0E", "0F", "1A", "1B", "1C", "1D", "1E", "1F")):
            assert mine == theirs


feedback_rows = st.lists(
    st.tuples(
        hostile_text,
        st.sampled_from(SCORES),
        st.sampled_from(DATES),
        st.sampled_from(BRANDS),
        st.sampled_from(PRODUCTS),
        hostile_text,
        hostile_text,
    ),
    min_size=1,
    max_size=12,
)
HEADERS = ["评论内容", "评分", "购买时间", "品牌", "机型", "渠道", "备注"]


@settings(SETTINGS, max_examples=10)
@given(feedback_rows, st.sampled_from(["csv", "parquet"]))
def test_both_paths_agree_on_hostile_rows(rows: list[tuple[str, ...]], fmt: str) -> None:
    frame = pd.DataFrame(rows, columns=HEADERS, dtype="str")
    folder = Path(f"/tmp/tingjian-fast-{fmt}")
    folder.mkdir(exist_ok=True)
    path = folder / f"rows.{fmt}"
    if fmt == "csv":
        path.write_bytes(frame.to_csv(index=False, quoting=csv.QUOTE_ALL, lineterminator="\n").encode())
    else:
        frame.to_parquet(path)
    _compare(path)


def test_hostile_rows_mostly_take_the_fast_path(tmp_path: Path) -> None:
    """The property above compares something: CSVs of such rows are read by DuckDB, not the pandas path."""
    rng = random.Random(7)
    alphabet = [a for a in AWKWARD if a >= " "] + list("好评差一般\t\n\x0b\x1b")
    fast = 0
    for n in range(4):
        rows = [
            [
                "".join(rng.choice(alphabet) for _ in range(8)),
                rng.choice(SCORES),
                rng.choice(DATES),
                rng.choice(BRANDS),
                rng.choice(PRODUCTS),
                "x",
                "".join(rng.choice(alphabet) for _ in range(5)),
            ]
            for _ in range(6)
        ]
        path = tmp_path / f"r{n}.csv"
        frame = pd.DataFrame(rows, columns=HEADERS)
        path.write_bytes(frame.to_csv(index=False, quoting=csv.QUOTE_ALL, lineterminator="\n").encode())
        source = ingest_probe.probe(path, path.name)
        fast += source is not None and ingest_sql.stage(connect(":memory:").cursor(), source) is not None
        _compare(path)
    assert fast >= 3


# --- real corpora, order at scale, cross-path re-imports, rollback ------------------------------------------


def _real(relative: str) -> Path:
    path = shared_data_dir() / relative
    if not path.exists():
        pytest.skip(f"{relative} not found: ../shared/data is not beside the checkout")
    return path


@pytest.mark.parametrize("relative", REAL_FILES)
def test_real_files_match_row_for_row(relative: str) -> None:
    rows = _compare(_real(relative), must_be_fast=True)
    assert len(rows["feedback"]) > 4000


@pytest.mark.parametrize("relative", REAL_FILES[:1])
def test_reimport_by_the_other_path_adds_nothing(relative: str) -> None:
    path = _real(relative)
    con = connect(":memory:")
    first = _pandas_path(con, path)()
    again = ingest_file(con, path)  # the fast path (it is probed fast above)
    assert (again.imported, again.duplicates) == (0, first.imported)
    fresh = connect(":memory:")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest_probe, "probe", lambda *_a: None)  # the pandas path, then the fast one
        ingest_file(fresh, path)
    later = _pandas_path(fresh, path)()
    assert later.imported == 0
    assert (
        con.execute("SELECT count(*) FROM feedback").fetchall()
        == fresh.execute("SELECT count(*) FROM feedback").fetchall()
    )


def test_big_file_keeps_file_order_with_parallel_reading(tmp_path: Path) -> None:
    """DuckDB reads big files on several threads; source_row must still be the line's number."""
    n = 20_000
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "评论内容": [f"第{i}条 " + "好" * int(k) for i, k in enumerate(rng.integers(1, 30, n))],
            "评分": rng.integers(1, 6, n).astype(str),
            "评论时间": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
            "机型": rng.choice(PRODUCTS, n),
        }
    )
    frame.loc[::97, "评论内容"] = "好评"  # repeated rows: the occurrence number depends on the order
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    rows = _compare(path, must_be_fast=True)
    assert len(rows["feedback"]) == n
    for fmt in ("parquet",):
        target = tmp_path / f"big.{fmt}"
        frame.to_parquet(target, row_group_size=2_000)
        assert len(_compare(target, must_be_fast=True)["feedback"]) == n


def test_failure_inside_the_transaction_leaves_the_store_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_bytes(FAST_FILES["awkward.csv"])
    con = connect(":memory:")
    ingest_file(con, _write(tmp_path, "first.csv", "评论内容,评分\n好,5\n"))
    before = _snapshot(con)
    real_insert = ingest_sql.insert_feedback_from

    def insert_then_fail(*args: object) -> int:
        real_insert(*args)  # type: ignore[arg-type]
        raise RuntimeError("disk full")

    with pytest.MonkeyPatch.context() as patch, pytest.raises(RuntimeError, match="disk full"):
        patch.setattr(ingest_sql, "insert_feedback_from", insert_then_fail)
        ingest_file(con, path)
    assert _snapshot(con) == before
    assert ingest_file(con, path).imported > 0
    temp = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall()[0][0]
    assert temp == 0


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_parquet_of_other_types_takes_the_pandas_path(tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    pd.DataFrame({"评论内容": ["好", "差"], "评分": [5.0, 1.0], "ok": [True, False]}).to_parquet(path)
    assert ingest_probe.probe(path, path.name) is None
    _compare(path)
    nullable = tmp_path / "nullable.parquet"  # pandas renders its missing values as "<NA>"
    pd.DataFrame({"评论内容": ["好", "差"], "评分": pd.array([5, None], dtype="Int32")}).to_parquet(nullable)
    assert ingest_probe.probe(nullable, nullable.name) is None
    _compare(nullable)
    plain = tmp_path / "plain.parquet"
    pd.DataFrame(
        {
            "评论内容": pd.Series(["好", None, "一般"], dtype="str"),
            "评分": [5, 1, 3],
            "时间": [pd.Timestamp("2024-05-01 10:00:00"), pd.NaT, pd.Timestamp("2024-05-02")],
        }
    ).to_parquet(plain)
    assert ingest_probe.probe(plain, plain.name) is not None
    _compare(plain)
