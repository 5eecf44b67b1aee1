"""The SQL fast path of the import: UTF-8 CSV/TSV and Parquet files read, validated and hashed by DuckDB.

:mod:`data.ingest` tries this path first for feedback files (reviews, surveys) that
:mod:`data.ingest_probe` accepts, and falls back to the pandas path (:mod:`data.readers` +
:mod:`data.validate`) whenever a file is anything else: GBK, UTF-16, mixed encodings, broken lines, XLSX,
JSON, a header that is not one plain line, Parquet columns of other types, spec tables. Both paths give
the same feedback rows, rejected rows and content hashes on the same file (``tests/test_ingest_fast.py``
compares them row for row), so a file imported by one path and re-imported by the other adds nothing.

How each piece stays identical to the pandas path:

- Reading: DuckDB's ``read_csv`` in strict mode (every row exactly the header's width, RFC 4180 quotes),
  every column VARCHAR, with the delimiter and header that :mod:`data.readers` sniffs; any parse error
  means "not for this path", and so does a quote with spaces between it and its delimiter (DuckDB and
  Arrow split such a line differently). ``read_parquet`` only for string, small-integer and
  naive-timestamp columns, rendered as ``_read_parquet`` renders them.
- Text and label fields: :func:`data.validate.clean_text` written in SQL (Python's whitespace set for
  trimming, the same control characters, the same missing markers).
- Scores, dates, brand and product: their result depends on the value alone, so the Python functions of
  :mod:`data.validate` run on each column's *distinct* values (a few hundred in a million rows) and the
  answers are joined back; dates in the three commonest zero-padded formats are parsed by DuckDB and
  only the rest go through Python.
- ``extra`` (unmapped source columns as JSON): DuckDB's ``json_object`` plus the two differences from
  pandas' encoder (``/`` escaped, nine control characters in lower-case hex); rows whose JSON contains
  such a control character, and rows with over-long texts, are recomputed by pandas.
- Rejected rows: the reason comes from the same functions; ``raw_row`` is built by pandas for the rejected
  rows only.
- The content hash is one SQL expression shared by both paths (:func:`row_key_sql`,
  :func:`insert_feedback_from`); the fast path computes it while validating, in the same pass over the rows.

The raw table and the checked table are DuckDB temporary tables on the import's cursor, so Python never
holds the file's rows; files over 256 MB are imported under a DuckDB memory limit (:func:`bounded_memory`),
so the tables and operators spill to disk instead of growing the process (10M rows: 1.8 GB peak RSS).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import pandas as pd

from data.ingest_probe import FastSource
from data.mapping import FEEDBACK_FIELDS
from data.validate import (
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    MISSING_TOKENS,
    SCORE_RANGES,
    TEXT_LABEL_FIELDS,
    _add_key,
    _check_mapping,
    brand_product_fields,
    date_field,
    rows_to_json,
    score_field,
    year_bounds,
)

# The content hash covers the mapped feedback fields, in this order; changing it would make re-imports of
# already stored files add their rows again (tests/test_ingest.py pins the order).
HASH_FIELDS: tuple[str, ...] = FEEDBACK_FIELDS

_RAW = "_tj_fast_raw"
# The table is written in file order (insertion order is preserved), so rowid + 1 is the data-row number.
_RAW_ROWS = f"(SELECT rowid + 1 AS source_row, * FROM {_RAW})"
_CHECKED = "_tj_fast_rows"
_LOOKUPS = ("_tj_fast_score_rating", "_tj_fast_score_nps_score", "_tj_fast_dates", "_tj_fast_brand_product")

# Python's str.isspace() set, which pandas' str.strip() also trims (measured over every code point).
_WHITESPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())


def _re2_class(chars: str) -> str:
    return "[" + "".join(f"\\x{{{ord(ch):x}}}" for ch in chars) + "]"


_WS_CLASS = _re2_class(_WHITESPACE)
_DIRTY_CLASS = r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\x7f]"  # data.validate._DIRTY_RE
_CONTROL_CLASS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"  # data.validate._CONTROL_RE
# pandas' JSON encoder writes these controls as \u000b …; DuckDB's as \u000B …
_UPPER_HEX_CONTROL = r"\\u00(0[BEF]|1[A-F])"
# Dates DuckDB parses itself: zero-padded, a plausible century, in the order data.validate tries them.
_FAST_DATES: tuple[tuple[str, str], ...] = (
    (r"(19|20)\d\d-\d\d-\d\d \d\d:\d\d:\d\d", "%Y-%m-%d %H:%M:%S"),
    (r"(19|20)\d\d-\d\d-\d\d", "%Y-%m-%d"),
    (r"(19|20)\d\d/\d\d/\d\d \d\d:\d\d", "%Y/%m/%d %H:%M"),
)
# Files above this size are imported under DuckDB's memory limit below: the temporary tables and the
# operators then spill to the store's ".tmp" folder instead of growing the process (a 10M-row CSV reached
# 8.4 GB resident without it).
BOUNDED_FILE_BYTES = 256 * 1024**2
IMPORT_MEMORY_LIMIT = "1536MB"


@dataclass(frozen=True)
class Staged:
    """The file's rows, in file order, in the temporary table ``_tj_fast_raw`` (``c0``, ``c1`` …)."""

    source: FastSource
    rows: int
    head: pd.DataFrame  # the first 500 rows as strings, for mapping suggestions


@dataclass(frozen=True)
class Checked:
    """Validated rows in ``_tj_fast_rows`` (``reason`` NULL = valid; valid rows carry their first-occurrence
    ``content_hash``, see :func:`insert_feedback_from`) and the rejected rows as a frame."""

    relation: str
    valid: int
    rejected: pd.DataFrame


class NotForThisPath(ValueError):
    """The file is readable, but a detail of it is left to the pandas path."""


def _objects(series: pd.Series) -> pd.Series:
    """Python objects with None for missing values (DuckDB reads such a column as VARCHAR with NULLs)."""
    return series.astype("object").where(series.notna(), None)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- staging ---------------------------------------------------------------


def stage(cur: duckdb.DuckDBPyConnection, source: FastSource) -> Staged | None:
    """Read the file into ``_tj_fast_raw``; None when DuckDB cannot read it strictly (pandas path then)."""
    order = cur.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    if not order:
        return None  # source_row comes from the read order
    names = [f"c{i}" for i in range(len(source.columns))]
    if source.format == "parquet":
        selected = ", ".join(
            f"{expr} AS {name}" for expr, name in zip(source.parquet_exprs, names, strict=True)
        )
        sql = f"CREATE OR REPLACE TEMP TABLE {_RAW} AS SELECT {selected} FROM read_parquet(?)"
        params: list[object] = [str(source.path)]
    else:
        columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in names) + "}"
        sql = (
            f"CREATE OR REPLACE TEMP TABLE {_RAW} AS SELECT *"
            f" FROM read_csv(?, header = false, skip = 1, columns = {columns}, delim = ?, quote = '\"',"
            " escape = '\"', strict_mode = true, null_padding = false, auto_detect = false,"
            " encoding = 'utf-8')"
        )
        params = [str(source.path), source.delimiter]
    try:
        cur.execute(sql, params)
    except duckdb.Error:
        drop(cur)
        return None
    rows = int(cur.execute(f"SELECT count(*) FROM {_RAW}").fetchall()[0][0])
    head = cur.execute(f"SELECT * FROM {_RAW} ORDER BY rowid LIMIT 500").df()
    head.columns = list(source.columns)
    head = head.fillna("").astype("str")
    return Staged(source=source, rows=rows, head=head)


def drop(cur: duckdb.DuckDBPyConnection) -> None:
    """Remove the temporary tables of this path (idempotent)."""
    for table in (_RAW, _CHECKED, *_LOOKUPS):
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute("DROP TABLE IF EXISTS _tj_fast_fix")


@contextmanager
def bounded_memory(cur: duckdb.DuckDBPyConnection, source: FastSource) -> Iterator[None]:
    """Hold DuckDB to :data:`IMPORT_MEMORY_LIMIT` while a big file is imported, then restore the limit."""
    if source.size <= BOUNDED_FILE_BYTES:
        yield
        return
    before = _memory_limit(cur)
    cur.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'")
    try:
        yield
    finally:
        cur.execute("RESET memory_limit")
        if _memory_limit(cur) != before:  # a limit set by someone else: put it back
            cur.execute(f"SET memory_limit = {_literal(before)}")


def _memory_limit(cur: duckdb.DuckDBPyConnection) -> str:
    return str(cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])


@contextmanager
def _registered(cur: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> Iterator[None]:
    cur.register(name, frame)
    try:
        yield
    finally:
        cur.unregister(name)


# --- SQL pieces ---------------------------------------------------------------


def _missing_sql(expr: str) -> str:
    tokens = ", ".join(_literal(t) for t in sorted(MISSING_TOKENS))
    return f"(length({expr}) <= 4 AND lower({expr}) IN ({tokens}))"


def strip_sql(column: str) -> str:
    """``str.strip()`` of a VARCHAR column; trims only values that start or end with whitespace (fast)."""
    return (
        f"(CASE WHEN regexp_matches({column}, '^{_WS_CLASS}') OR regexp_matches({column}, '{_WS_CLASS}$')"
        f" THEN trim({column}, {_literal(_WHITESPACE)}) ELSE {column} END)"
    )


def clean_stripped_sql(stripped: str) -> str:
    """:func:`data.validate.clean_text` of a value already put through :func:`strip_sql`."""
    cleaned = (
        f"trim(regexp_replace(replace(replace({stripped}, chr(13) || chr(10), chr(10)), chr(13), chr(10)),"
        f" '{_CONTROL_CLASS}', '', 'g'), {_literal(_WHITESPACE)})"
    )
    return (
        f"(CASE WHEN {stripped} IS NULL OR {_missing_sql(stripped)} THEN NULL"
        f" WHEN regexp_matches({stripped}, '{_DIRTY_CLASS}') THEN nullif({cleaned}, '')"
        f" ELSE nullif({stripped}, '') END)"
    )


def clean_text_sql(column: str) -> str:
    """:func:`data.validate.clean_text` of a raw VARCHAR column (NULL = empty cell) as one SQL expression.

    The import computes the same in two steps (strip once, then clean) so the strip is not repeated.
    """
    return clean_stripped_sql(strip_sql(column))


def _cut_sql(expr: str, limit: int) -> str:
    """``substring(expr, 1, limit)``; a value of at most ``limit`` bytes (nearly all) has at most ``limit``
    characters and is kept without counting them (``strlen`` is a length field, ``substring`` a scan)."""
    return f"(CASE WHEN strlen({expr}) <= {limit} THEN {expr} ELSE substring({expr}, 1, {limit}) END)"


def _long_chars_sql(expr: str, limit: int) -> str:
    """The character count of a value longer than ``limit`` characters, 0 for the others (and NULL)."""
    return f"(CASE WHEN strlen({expr}) > {limit} THEN length({expr}) ELSE 0 END)"


def _fast_date_sql(column: str, low: str, high: str) -> str:
    cases = " ".join(
        f"WHEN regexp_full_match({column}, '{pattern}') THEN try_strptime({column}, '{fmt}')"
        for pattern, fmt in _FAST_DATES
    )
    parsed = f"(CASE {cases} END)"
    return f"(CASE WHEN {parsed} >= TIMESTAMP '{low}' AND {parsed} < TIMESTAMP '{high}' THEN {parsed} END)"


def _json_key_sql(columns: list[str], idents: list[str]) -> str:
    """``extra`` as pandas' ``to_json(orient="records", lines=True, force_ascii=False)`` writes it."""
    pairs = ", ".join(f"{_literal(c)}, coalesce({i}, '')" for c, i in zip(columns, idents, strict=True))
    return f"replace(CAST(json_object({pairs}) AS VARCHAR), '/', '\\/')"


# --- validating ---------------------------------------------------------------


def check(cur: duckdb.DuckDBPyConnection, staged: Staged, mapping: dict[str, str], kind: str) -> Checked:
    """Validate the staged rows of a feedback file into ``_tj_fast_rows`` (ValueError: bad mapping).

    The same rules as :func:`data.validate.validate_frame` (see the module docstring for how).
    """
    columns = list(staged.source.columns)
    _check_mapping(pd.DataFrame(columns=columns), mapping, kind)
    ident = {name: f"r.c{i}" for i, name in enumerate(columns)}
    lookups: list[str] = []

    def lookup(table: str, frame: pd.DataFrame) -> None:
        with _registered(cur, "_tj_fast_frame", frame):
            cur.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM _tj_fast_frame")

    def distinct(expr: str, where: str = "TRUE") -> pd.Series:
        values = [r[0] for r in cur.execute(f"SELECT DISTINCT {expr} FROM {_RAW} r WHERE {where}").fetchall()]
        return pd.Series(values, dtype="str")

    prep: dict[str, str] = {}  # computed once per row, before the lookups
    select: dict[str, str] = {}
    reasons: list[tuple[str, str, str | None]] = []  # (condition, reason expression, column)
    content: list[str] = []
    if "text" in mapping:
        col = mapping["text"]
        prep["_s_text"] = strip_sql(ident[col])
        select["_clean_text"] = clean_stripped_sql("r._s_text")
        content.append("_clean_text IS NOT NULL")
        if kind == "reviews":
            reason = f"「{col}」为空：这一行没有评论文字。请补上评论内容，或删除这一行。"
            reasons.append(("_clean_text IS NULL", _literal(reason), col))
    else:
        select["_clean_text"] = "CAST(NULL AS VARCHAR)"

    for field in SCORE_RANGES:
        if field not in mapping:
            select[field] = "CAST(NULL AS TINYINT)"
            continue
        col = mapping[field]
        table = f"_tj_fast_score_{field}"
        keys = distinct(f"coalesce({ident[col]}, '')")
        values, why = score_field(keys, col, field)
        lookup(table, pd.DataFrame({"k": keys, "v": values, "why": _objects(why)}))
        lookups.append(f"LEFT JOIN {table} ON {table}.k = coalesce({ident[col]}, '')")
        select[field] = f"CAST({table}.v AS TINYINT)"
        select[f"_why_{field}"] = f"CAST({table}.why AS VARCHAR)"
        reasons.append((f"_why_{field} IS NOT NULL", f"_why_{field}", col))
        content.append(f"{field} IS NOT NULL")

    if "created_at" in mapping:
        col = mapping["created_at"]
        low, high = year_bounds()
        fast = _fast_date_sql(ident[col], str(low), str(high))
        keys = distinct(f"coalesce({ident[col]}, '')", f"{fast} IS NULL")
        prep["_fast_date"] = fast
        if keys.empty:  # every date is in a fast format: no lookup to join
            select["created_at"] = "CAST(r._fast_date AS TIMESTAMP)"
            select["_why_created_at"] = "CAST(NULL AS VARCHAR)"
        else:
            values, why = date_field(keys, col)
            lookup(
                "_tj_fast_dates",
                pd.DataFrame({"k": keys, "v": values.astype("datetime64[us]"), "why": _objects(why)}),
            )
            lookups.append(f"LEFT JOIN _tj_fast_dates ON _tj_fast_dates.k = coalesce({ident[col]}, '')")
            select["created_at"] = "CAST(coalesce(r._fast_date, _tj_fast_dates.v) AS TIMESTAMP)"
            select["_why_created_at"] = (
                "CAST(CASE WHEN r._fast_date IS NULL THEN _tj_fast_dates.why END AS VARCHAR)"
            )
        reasons.append(("_why_created_at IS NOT NULL", "_why_created_at", col))
    else:
        select["created_at"] = "CAST(NULL AS TIMESTAMP)"

    if "brand" in mapping or "product" in mapping:
        b_expr = f"coalesce({ident[mapping['brand']]}, '')" if "brand" in mapping else "''"
        p_expr = f"coalesce({ident[mapping['product']]}, '')" if "product" in mapping else "''"
        pairs = cur.execute(f"SELECT DISTINCT {b_expr} AS b, {p_expr} AS p FROM {_RAW} r").fetchall()
        b_keys = pd.Series([p[0] for p in pairs], dtype="str")
        p_keys = pd.Series([p[1] for p in pairs], dtype="str")
        brand, product = brand_product_fields(
            b_keys if "brand" in mapping else None, p_keys if "product" in mapping else None, b_keys.index
        )
        frame = pd.DataFrame(
            {"bk": b_keys, "pk": p_keys, "brand": _objects(brand), "product": _objects(product)}
        )
        lookup("_tj_fast_brand_product", frame)
        lookups.append("LEFT JOIN _tj_fast_brand_product bp ON bp.bk = " + b_expr + " AND bp.pk = " + p_expr)
        select["brand"] = "CAST(bp.brand AS VARCHAR)"
        select["product"] = "CAST(bp.product AS VARCHAR)"
    else:
        select["brand"] = select["product"] = "CAST(NULL AS VARCHAR)"

    for field in TEXT_LABEL_FIELDS:
        if field in mapping:
            prep[f"_s_{field}"] = strip_sql(ident[mapping[field]])
            select[field] = _cut_sql(clean_stripped_sql(f"r._s_{field}"), MAX_LABEL_CHARS)
        else:
            select[field] = "CAST(NULL AS VARCHAR)"

    extra_columns = [c for c in columns if c not in mapping.values()]
    extra_columns += [mapping[f] for f in ("brand", "product") if f in mapping]
    if len(set(extra_columns)) != len(extra_columns):
        raise NotForThisPath("a column is mapped to both brand and product")
    if extra_columns:
        select["extra"] = _json_key_sql(extra_columns, [ident[c] for c in extra_columns])
    else:
        select["extra"] = "CAST(NULL AS VARCHAR)"

    if kind == "survey":
        names = "、".join(f"「{mapping[f]}」" for f in ("nps_score", "text") if f in mapping)
        empty = f"{names}都为空：这一行既没有推荐分也没有文字，没有可导入的内容。"
    else:
        names = "、".join(f"「{mapping[f]}」" for f in ("text", "rating", "nps_score") if f in mapping)
        empty = f"{names}都为空：这一行没有可导入的内容。"
    reasons.append(("NOT (" + (" OR ".join(content) or "FALSE") + ")", _literal(empty), None))
    reason_sql = "CASE " + " ".join(f"WHEN {cond} THEN {why}" for cond, why, _c in reasons) + " END"
    column_sql = (
        "CASE "
        + " ".join(
            f"WHEN {cond} THEN {_literal(c) if c is not None else 'CAST(NULL AS VARCHAR)'}"
            for cond, _w, c in reasons
        )
        + " END"
    )

    inner = ", ".join(f"{expr} AS {name}" for name, expr in select.items())
    cur.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_CHECKED} AS
        WITH prepared AS (
            SELECT r.*{"".join(f", {expr} AS {name}" for name, expr in prep.items())} FROM {_RAW_ROWS} r
        ), typed AS (
            SELECT r.source_row, {inner} FROM prepared r {" ".join(lookups)}
        ), checked AS (
            SELECT CAST(source_row AS BIGINT) AS source_row,
                   {_cut_sql("_clean_text", MAX_TEXT_CHARS)} AS text, rating, nps_score, created_at, brand,
                   product, channel, region, store, customer_id, extra,
                   {_long_chars_sql("_clean_text", MAX_TEXT_CHARS)} AS text_chars,
                   {reason_sql} AS reason, {column_sql} AS column_name
            FROM typed
        )
        SELECT *, CASE WHEN reason IS NULL THEN {first_hash_sql()} END AS content_hash FROM checked
        """
    )
    _fix_extra(cur, columns, extra_columns)
    rejected = _rejected(cur, columns)
    cur.execute(f"DROP TABLE {_RAW}")  # not needed any more: free its memory before the insert
    valid = int(cur.execute(f"SELECT count(*) FROM {_CHECKED} WHERE reason IS NULL").fetchall()[0][0])
    return Checked(
        relation=f"(SELECT * FROM {_CHECKED} WHERE reason IS NULL)", valid=valid, rejected=rejected
    )


def _raw_frame(cur: duckdb.DuckDBPyConnection, columns: list[str], where: str) -> pd.DataFrame:
    """Raw rows (strings, "" for empty) of ``_tj_fast_raw`` matching ``where``, with the file's headers."""
    frame = cur.execute(f"SELECT * FROM {_RAW_ROWS} r WHERE {where} ORDER BY source_row").df()
    source_rows = frame.pop("source_row").astype("int64")
    frame.columns = columns
    frame = frame.fillna("").astype("str")
    frame.index = pd.Index(source_rows.to_numpy(), name="source_row")
    return frame


def _fix_extra(cur: duckdb.DuckDBPyConnection, columns: list[str], extra_columns: list[str]) -> None:
    """Recompute ``extra`` with pandas where DuckDB's JSON differs (rare controls) or a text was cut."""
    flagged = f"reason IS NULL AND text_chars > {MAX_TEXT_CHARS}"
    if extra_columns:
        flagged += f" OR reason IS NULL AND regexp_matches(extra, '{_UPPER_HEX_CONTROL}')"
    chars = dict(cur.execute(f"SELECT source_row, text_chars FROM {_CHECKED} WHERE {flagged}").fetchall())
    if not chars:
        return
    rows = sorted(chars)
    if extra_columns:
        raw = _raw_frame(cur, columns, f"source_row IN (SELECT source_row FROM {_CHECKED} WHERE {flagged})")
        extra: list[object] = list(rows_to_json(raw[extra_columns]))
        rows = [int(r) for r in raw.index]
    else:
        extra = [None] * len(rows)
    fixed = [
        _add_key(value, "_text_truncated_from_chars", int(chars[row]))
        if chars[row] > MAX_TEXT_CHARS
        else value
        for row, value in zip(rows, extra, strict=True)
    ]
    frame = pd.DataFrame(
        {"source_row": pd.Series(rows, dtype="int64"), "extra": pd.Series(fixed, dtype="object")}
    )
    with _registered(cur, "_tj_fast_fix", frame):
        # The content hash covers extra: it is recomputed with the new value.
        cur.execute(
            f"UPDATE {_CHECKED} SET extra = f.extra, content_hash = {first_hash_sql(_CHECKED, 'f.extra')}"
            f" FROM _tj_fast_fix f WHERE {_CHECKED}.source_row = f.source_row"
        )


def _rejected(cur: duckdb.DuckDBPyConnection, columns: list[str]) -> pd.DataFrame:
    found = cur.execute(
        f"SELECT source_row, column_name, reason FROM {_CHECKED} WHERE reason IS NOT NULL ORDER BY source_row"
    ).df()
    if found.empty:
        return pd.DataFrame(
            {
                "source_row": pd.Series([], dtype="int64"),
                "column_name": pd.Series([], dtype="object"),
                "reason": pd.Series([], dtype="object"),
                "raw_row": pd.Series([], dtype="object"),
            }
        )
    raw = _raw_frame(
        cur, columns, f"source_row IN (SELECT source_row FROM {_CHECKED} WHERE reason IS NOT NULL)"
    )
    return pd.DataFrame(
        {
            "source_row": found["source_row"].astype("int64").to_numpy(),
            "column_name": found["column_name"].astype("object").where(found["column_name"].notna(), None),
            "reason": found["reason"].astype("object"),
            "raw_row": rows_to_json(raw).to_numpy(),
        }
    )


# --- writing (both paths) ---------------------------------------------------------------


def row_key_sql(alias: str = "", extra: str | None = None) -> str:
    """SHA-256 over the feedback fields (as VARCHAR, "" for NULL) and ``extra``, joined by U+001F: the key
    of a row before its occurrence number is added. ``extra`` replaces the ``extra`` column when given."""
    prefix = f"{alias}." if alias else ""
    parts = ", ".join(f"coalesce(CAST({prefix}{f} AS VARCHAR), '')" for f in HASH_FIELDS)
    return f"sha256(concat_ws(chr(31), {parts}, coalesce({extra or prefix + 'extra'}, '')))"


def first_hash_sql(alias: str = "", extra: str | None = None) -> str:
    """The content hash of a row's first occurrence in its file (``row_key:1``), in one expression."""
    return f"sha256({row_key_sql(alias, extra)} || ':1')"


def insert_feedback_from(
    cur: duckdb.DuckDBPyConnection, relation: str, dataset_id: int, hashed: bool = False
) -> int:
    """Insert the rows of ``relation`` whose content hash is new; return how many were inserted.

    ``relation`` has ``source_row``, the feedback fields and ``extra`` (and, with ``hashed``, the
    first-occurrence hash :func:`first_hash_sql` as ``content_hash``). The hash is SHA-256 of
    :func:`row_key_sql` plus ":" and the occurrence number of the same key in the file (ordered by
    ``source_row``). Nearly every key is unique, so every row first gets occurrence 1 and only repeated
    keys are renumbered. When every row is new, unrepeated and the rows are numbered without gaps (the
    common first import of a clean file), the rows are inserted straight from ``relation``
    (:func:`_insert_dense`); otherwise the numbering, the anti-join and the id allocation run on a narrow
    (source_row, hash) table joined back to the rows (:func:`_insert_keyed`).
    """
    # Above every id ever allocated (id_high_water, migration 8), not only the ids stored now: an id of a
    # deleted dataset is never reused, so alerts and cases linked to deleted feedback never point at new rows.
    base = int(
        cur.execute(
            "SELECT greatest((SELECT coalesce(max(feedback_id), 0) FROM feedback),"
            " (SELECT coalesce(max(value), 0) FROM id_high_water WHERE name = 'feedback_id'))"
        ).fetchall()[0][0]
    )
    try:
        first = _dense_first_row(cur, relation) if hashed else None
        if first is not None:
            inserted = _insert_dense(cur, relation, dataset_id, base - first + 1)
        else:
            inserted = _insert_keyed(cur, relation, dataset_id, base, hashed)
        if inserted:
            cur.execute(
                "UPDATE id_high_water SET value = greatest(value, ?) WHERE name = 'feedback_id'",
                [base + inserted],
            )
    finally:
        cur.execute("DROP TABLE IF EXISTS _tj_keys")
    return inserted


# The columns both inserts write (``{id}``: the feedback_id expression; ``r``: the relation, ``k``: keys).
_INSERT_SQL = """
INSERT INTO feedback (feedback_id, dataset_id, source_row, content_hash, channel, brand, product,
                      created_at, rating, nps_score, text, region, store, customer_id, extra)
SELECT {id} AS feedback_id, ?, r.source_row, {hash}, r.channel, r.brand, r.product,
       CAST(r.created_at AS TIMESTAMP), CAST(r.rating AS TINYINT), CAST(r.nps_score AS TINYINT),
       r.text, r.region, r.store, r.customer_id, CAST(r.extra AS JSON)
FROM {source}
ORDER BY CAST(r.created_at AS TIMESTAMP) NULLS LAST, feedback_id
"""


def _dense_first_row(cur: duckdb.DuckDBPyConnection, relation: str) -> int | None:
    """The first ``source_row`` when the hashed rows of ``relation`` are numbered without gaps, no key is
    repeated and no hash is stored yet (ids are then ``source_row`` + a constant); None otherwise.

    Repeats are looked for on a 64-bit hash of the hash (a collision only sends the rows to the general
    path, which numbers the exact keys)."""
    rows, first, last, repeated, stored = cur.execute(
        f"""
        SELECT count(*), min(source_row), max(source_row),
               (SELECT count(*) FROM (
                   SELECT hash(content_hash) AS h FROM {relation} GROUP BY h HAVING count(*) > 1
               )),
               (SELECT count(*) FROM {relation} n
                WHERE EXISTS (SELECT 1 FROM feedback f WHERE f.content_hash = n.content_hash))
        FROM {relation}
        """
    ).fetchall()[0]
    if not rows or repeated or stored or last - first + 1 != rows:
        return None
    return int(first)


def _insert_dense(cur: duckdb.DuckDBPyConnection, relation: str, dataset_id: int, offset: int) -> int:
    """Insert every row of ``relation`` (all new, not repeated, no gaps) with id ``source_row + offset``."""
    feedback_id = f"r.source_row + {int(offset)}"
    sql = _INSERT_SQL.format(id=feedback_id, hash="r.content_hash", source=f"{relation} r")
    inserted = cur.execute(sql, [dataset_id]).fetchall()
    return int(inserted[0][0]) if inserted else 0


def _insert_keyed(
    cur: duckdb.DuckDBPyConnection, relation: str, dataset_id: int, base: int, hashed: bool
) -> int:
    """The general insert: hashes in ``_tj_keys``, repeated keys renumbered, stored hashes skipped, ids
    allocated in ``source_row`` order above ``base``."""
    content = "content_hash" if hashed else first_hash_sql()
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE _tj_keys AS"
        f" SELECT source_row, {content} AS content_hash FROM {relation}"
    )
    _number_repeats(cur, relation)
    fresh = f"""(
        SELECT source_row, content_hash, {int(base)} + row_number() OVER (ORDER BY source_row) AS feedback_id
        FROM _tj_keys n WHERE NOT EXISTS (SELECT 1 FROM feedback f WHERE f.content_hash = n.content_hash)
    ) k JOIN {relation} r ON r.source_row = k.source_row"""
    inserted = cur.execute(
        _INSERT_SQL.format(id="k.feedback_id", hash="k.content_hash", source=fresh), [dataset_id]
    ).fetchall()
    return int(inserted[0][0]) if inserted else 0


def _number_repeats(cur: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Give the second and later occurrences of a repeated key in ``_tj_keys`` their own hash."""
    repeated = "SELECT content_hash FROM _tj_keys GROUP BY content_hash HAVING count(*) > 1"
    if not cur.execute(f"SELECT count(*) FROM ({repeated})").fetchall()[0][0]:
        return
    cur.execute(
        f"""
        UPDATE _tj_keys SET content_hash = n.content_hash FROM (
            SELECT source_row, occurrence,
                   sha256(row_key || ':' || CAST(occurrence AS VARCHAR)) AS content_hash
            FROM (
                SELECT source_row, row_key,
                       row_number() OVER (PARTITION BY row_key ORDER BY source_row) AS occurrence
                FROM (
                    SELECT r.source_row, {row_key_sql("r")} AS row_key FROM {relation} r
                    WHERE r.source_row IN (SELECT source_row FROM _tj_keys WHERE content_hash IN ({repeated}))
                )
            )
        ) n
        WHERE _tj_keys.source_row = n.source_row AND n.occurrence > 1
        """
    )
