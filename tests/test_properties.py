"""Property-based tests (hypothesis) for the readers, the column mapper, validation and ``Filters.where()``.

The properties: arbitrary bytes either read or are refused with :class:`FileRefused` (never another
exception); a table written as CSV reads back cell for cell; the mapper only maps known fields to existing,
distinct columns; validation accounts for every row; the filter SQL never contains a value (only bound
parameters) and selects exactly what a pandas reference selects.
"""

from __future__ import annotations

import datetime as dt
import io

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.filters import FILTER_COLUMNS, Filters
from data.export import csv_bytes, neutralise_cell
from data.mapping import FIELDS, KINDS, guess_kind, suggest_mapping
from data.readers import FileRefused, read_table
from data.validate import validate_frame

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

# Text a spreadsheet export could hold: any printable character incl. CJK, emoji, quotes and separators.
cell_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30
)
# Headers without separator characters: a one-column file whose header holds ";" is ambiguous by nature.
header_text = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp", "Zs"), exclude_characters=',;|\t"'
    ),
    min_size=1,
    max_size=12,
)
KNOWN_HEADERS = [
    "评论内容",
    "评分",
    "购买时间",
    "品牌",
    "型号",
    "渠道",
    "NPS",
    "推荐意愿",
    "content",
    "rating",
]


@SETTINGS
@given(st.binary(max_size=2048), st.sampled_from(["x.csv", "x.tsv", "x.json", "x.xlsx", "x.txt"]))
def test_arbitrary_bytes_read_or_are_refused(data: bytes, filename: str) -> None:
    try:
        table = read_table(data, filename)
    except FileRefused as exc:
        assert str(exc).startswith(filename), str(exc)
        return
    assert table.frame.shape[1] > 0
    assert all(isinstance(c, str) and c for c in table.frame.columns)
    assert len(set(table.frame.columns)) == table.frame.shape[1]


@st.composite
def string_tables(draw: st.DrawFn) -> pd.DataFrame:
    n_cols = draw(st.integers(1, 5))
    headers = draw(st.lists(header_text, min_size=n_cols, max_size=n_cols, unique=True))
    headers = [h.strip() or f"h{i}" for i, h in enumerate(headers)]
    if len(set(headers)) != len(headers):
        headers = [f"{h}{i}" for i, h in enumerate(headers)]
    # A leading ASCII letter keeps the first column non-empty and the header unlike data rows.
    rows = draw(st.lists(st.lists(cell_text, min_size=n_cols, max_size=n_cols), min_size=1, max_size=8))
    rows = [[f"r{i}{row[0]}", *row[1:]] for i, row in enumerate(rows)]
    return pd.DataFrame(rows, columns=[f"c{h}" for h in headers])


COMMON_CHINESE = (
    "的一是不了人我在有他这中大来上个国到说们为子和你地出会也时要就可以对生能而那得于着下自之年过发后"
)
gbk_text = st.text(alphabet=COMMON_CHINESE + "abcXYZ0123456789 ,;\"'|=+-@", min_size=1, max_size=20)


@st.composite
def gbk_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Tables as a Chinese legacy system writes them (GBK tells itself apart by common-character bytes)."""
    n_cols = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(gbk_text, min_size=n_cols, max_size=n_cols), min_size=1, max_size=8))
    rows = [[f"评论{i}{row[0]}", *row[1:]] for i, row in enumerate(rows)]
    return pd.DataFrame(rows, columns=[f"列{i}" for i in range(n_cols)])


@SETTINGS
@given(string_tables(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_csv_round_trip_keeps_every_cell(frame: pd.DataFrame, encoding: str) -> None:
    _assert_round_trip(frame, encoding)


@SETTINGS
@given(gbk_tables(), st.sampled_from(["gbk", "gb18030"]))
def test_gbk_csv_round_trip_keeps_every_cell(frame: pd.DataFrame, encoding: str) -> None:
    _assert_round_trip(frame, encoding)


def _assert_round_trip(frame: pd.DataFrame, encoding: str) -> None:
    data = frame.to_csv(index=False, lineterminator="\n").encode(encoding)
    table = read_table(data, "t.csv")
    assert table.bad_lines.empty, table.bad_lines
    assert list(table.frame.columns) == list(frame.columns)
    stripped = frame.map(str.strip)
    assert table.frame.map(str.strip).to_dict("records") == stripped.to_dict("records")


@SETTINGS
@given(string_tables())
def test_safe_csv_export_never_starts_a_cell_with_a_formula(frame: pd.DataFrame) -> None:
    back = pd.read_csv(io.BytesIO(csv_bytes(frame)), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(back) == len(frame)
    for column in range(frame.shape[1]):
        for original, cell in zip(frame.iloc[:, column], back.iloc[:, column], strict=True):
            assert cell == neutralise_cell(original)
            assert not cell.startswith(("=", "+", "-", "@"))


@SETTINGS
@given(
    st.lists(st.one_of(header_text, st.sampled_from(KNOWN_HEADERS)), min_size=1, max_size=10, unique=True),
    st.sampled_from(KINDS),
)
def test_mapper_maps_known_fields_to_distinct_existing_columns(columns: list[str], kind: str) -> None:
    mapping = suggest_mapping(columns, kind)
    assert set(mapping) <= set(FIELDS[kind])
    assert set(mapping.values()) <= set(columns)
    assert len(set(mapping.values())) == len(mapping)
    assert guess_kind(columns) in KINDS


@SETTINGS
@given(
    st.lists(
        st.tuples(
            cell_text,
            st.one_of(st.integers(-5, 15).map(str), cell_text),
            st.one_of(st.dates().map(str), cell_text, st.just("2025-13-45")),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_validation_accounts_for_every_row(rows: list[tuple[str, str, str]]) -> None:
    frame = pd.DataFrame(rows, columns=["评论内容", "评分", "购买时间"])
    mapping = {"text": "评论内容", "rating": "评分", "created_at": "购买时间"}
    result = validate_frame(frame, mapping, "reviews")
    assert len(result.rows) + len(result.rejected) == len(frame)
    assert result.rejected["reason"].map(lambda r: isinstance(r, str) and bool(r.strip())).all()
    ratings = result.rows["rating"].dropna()
    assert ratings.between(1, 5).all()
    assert (ratings == ratings.round()).all()
    dates = pd.to_datetime(result.rows["created_at"]).dropna()
    assert ((dates.dt.year >= 1990) & (dates.dt.year <= 2100)).all()


# --- Filters.where(): values only ever as bound parameters, same rows as pandas -------------------------

VALUES = ["华为", "小米", "'; DROP TABLE feedback; --", "a$b", "x' OR '1'='1", "%", "_", "~"]
filter_value = st.one_of(st.sampled_from(VALUES), cell_text)
FEEDBACK = pd.DataFrame(
    {
        "brand": ["华为", "小米", "'; DROP TABLE feedback; --", None, "a$b", "%"] * 3,
        "product": ["P70", "14", "x' OR '1'='1", "P70", None, "_"] * 3,
        "channel": ["京东", "天猫", None, "京东", "天猫", "~"] * 3,
        "region": [None, "北京", "上海", "北京", None, "广州"] * 3,
        "dataset_id": [1, 2, 3] * 6,
        "created_at": pd.date_range("2025-01-01", periods=18, freq="11D"),
    }
)


@pytest.fixture(scope="module")
def feedback_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE feedback AS SELECT * FROM FEEDBACK")
    yield con
    con.close()


@st.composite
def filters(draw: st.DrawFn) -> Filters:
    values: dict[str, object] = {}
    for name in FILTER_COLUMNS:
        if name == "dataset_ids":
            values[name] = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        else:
            values[name] = tuple(draw(st.lists(filter_value, max_size=3)))
    start = draw(st.one_of(st.none(), st.dates(dt.date(2024, 12, 1), dt.date(2025, 8, 1))))
    end = draw(st.one_of(st.none(), st.dates(dt.date(2024, 12, 1), dt.date(2025, 8, 1))))
    if start and end and start > end:
        start, end = end, start
    return Filters(date_from=start, date_to=end, **values)  # type: ignore[arg-type]


def _pandas_reference(frame: pd.DataFrame, f: Filters) -> set[int]:
    mask = pd.Series(True, index=frame.index)
    for name, column in FILTER_COLUMNS.items():
        values = getattr(f, name)
        if values:
            mask &= frame[column].isin(values)
    if f.date_from:
        mask &= frame["created_at"] >= pd.Timestamp(f.date_from)
    if f.date_to:
        mask &= frame["created_at"] < pd.Timestamp(f.date_to) + pd.Timedelta(days=1)
    return set(frame.index[mask])


@settings(max_examples=80, deadline=None, derandomize=True)
@given(f=filters())
def test_filter_sql_binds_values_and_matches_pandas(
    feedback_con: duckdb.DuckDBPyConnection, f: Filters
) -> None:
    where, params = f.where(alias="f")
    for name in FILTER_COLUMNS:
        for value in getattr(f, name):
            if isinstance(value, str) and len(value) >= 3:
                assert value not in where, f"value {value!r} was pasted into the SQL"
    cur = feedback_con.cursor()
    try:
        rows = cur.execute(
            f"SELECT i FROM (SELECT row_number() OVER () - 1 AS i, * FROM feedback) f WHERE {where}", params
        ).fetchall()
        assert {int(r[0]) for r in rows} == _pandas_reference(FEEDBACK, f)
        assert cur.execute("SELECT count(*) FROM feedback").fetchall()[0][0] == len(FEEDBACK)
    finally:
        cur.close()


@SETTINGS
@given(f=filters())
def test_filter_query_params_round_trip_without_the_separator(f: Filters) -> None:
    """The URL encoding joins list values with "~": values without it round-trip exactly."""
    if any("~" in str(v) or str(v) == "" for name in FILTER_COLUMNS for v in getattr(f, name)):
        return  # documented limitation: "~" splits a value, "" is dropped (docs/ROBUSTNESS.md)
    assert Filters.from_query_params(f.to_query_params()) == f


@SETTINGS
@given(st.dictionaries(st.sampled_from(["from", "to", *FILTER_COLUMNS]), cell_text, max_size=7))
def test_filters_from_any_query_string_never_raise(params: dict[str, str]) -> None:
    f = Filters.from_query_params(params)
    where, bound = f.where()
    assert isinstance(where, str) and isinstance(bound, dict)
