"""Which files the SQL import path (:mod:`data.ingest_sql`) may take: DuckDB must read them exactly as
:mod:`data.readers` would.

A UTF-8 (± BOM) CSV/TSV qualifies when its header is one plain line (fields bare or wholly quoted), its
delimiter is the one :mod:`data.readers` sniffs, and no field is quoted with spaces between the quote and
its delimiter (DuckDB drops such spaces and reads the field as quoted, Arrow keeps them as text). Whether
every row has the header's width is left to DuckDB's strict parser at staging time. A Parquet file
qualifies when its columns are strings, small integers (or 64-bit ones without nulls) and naive timestamps,
and pandas' metadata does not restore nullable dtypes (which :mod:`data.readers` renders as "<NA>").
"""

from __future__ import annotations

import csv
import io
import mmap
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from data.readers import (
    MAX_FILE_BYTES,
    FileRefused,
    _refuse_binary,
    _sniff_delimiter,
    _unique_headers,
    sniff_format,
)

_HEAD_BYTES = 1 << 20  # ≥ 200,000 characters of UTF-8: what data.readers sniffs the delimiter from
_PARQUET_INTS = (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16())


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class FastSource:
    """A file the SQL path can read: where, how, and its header as :mod:`data.readers` would name it."""

    path: Path
    filename: str
    format: str  # "csv", "tsv" or "parquet"
    encoding: str  # "utf-8", "utf-8-sig" or "parquet"
    columns: tuple[str, ...]
    size: int = 0
    delimiter: str = ","
    parquet_exprs: tuple[str, ...] = ()


def probe(path: Path, filename: str) -> FastSource | None:
    """A :class:`FastSource` when DuckDB can read ``path`` exactly as :mod:`data.readers` would, else None.

    Never raises: every problem (unreadable, refused, odd encoding) is left to the pandas path, which
    reports it in its own words.
    """
    try:
        size = path.stat().st_size
        if size == 0 or size > MAX_FILE_BYTES:
            return None
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
        kind = sniff_format(head, filename)
        if kind == "parquet":
            return _probe_parquet(path, filename)
        if kind != "text":
            return None
        return _probe_delimited(head, size, path, filename)
    except (OSError, FileRefused, ValueError, pa.ArrowException):
        return None


def _probe_delimited(head: bytes, size: int, path: Path, filename: str) -> FastSource | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    _refuse_binary(head, filename)  # raises FileRefused: left to the pandas path
    bom = head.startswith(b"\xef\xbb\xbf")
    body = head[3:] if bom else head
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Only a character cut by the head's end is fine; anything else is not UTF-8 (DuckDB would refuse).
        if size <= len(head) or exc.reason != "unexpected end of data" or exc.start < len(body) - 3:
            return None
        text = body[: exc.start].decode("utf-8")
    if text.lstrip()[:1] in ("[", "{", ""):
        return None
    delimiter = _sniff_delimiter(text, filename.lower().endswith((".tsv", ".tab")))
    first_line, newline, _rest = text.partition("\n")
    first_line = first_line.removesuffix("\r")
    # A clean header: one physical line of at least two fields, quoted by the book or not at all.
    if not newline or not first_line.strip() or "\r" in first_line:
        return None
    try:
        fields = next(csv.reader([first_line], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return None
    parsed = next(csv.reader(io.StringIO(text[:200_000], newline=""), delimiter=delimiter), [])
    if len(fields) < 2 or parsed != fields or not _plain_header(first_line, fields, delimiter):
        return None
    if _spaces_beside_quotes(path, delimiter):
        return None
    return FastSource(
        path=path,
        filename=filename,
        format="tsv" if delimiter == "\t" else "csv",
        encoding="utf-8-sig" if bom else "utf-8",
        columns=tuple(_unique_headers(list(fields))),
        size=size,
        delimiter=delimiter,
    )


def _spaces_beside_quotes(path: Path, delimiter: str) -> bool:
    """Whether a field is quoted with spaces between the quotes and the delimiter (`` "a,b" ,``): DuckDB
    drops the spaces and reads the field as quoted, Arrow (the pandas path) keeps them as text.

    Quotes inside a quoted field come in pairs, so a run of quotes of odd length (or an empty ``""`` at the
    field's edge) beside the spaces marks a real field edge; ``, ""quoted"" word`` inside a text does not.
    """
    sep = re.escape(delimiter.encode())
    space = rb"[ \t\x0b\x0c]+"
    opening = re.compile(rb"(?:^|" + sep + rb")" + space + rb'("+)(' + sep + rb"|\r?$)?", re.M)
    closing = re.compile(rb"(^|" + sep + rb')?("+)' + space + rb"(?:" + sep + rb"|\r?$)", re.M)
    pairs = [pair for byte in b" \t\x0b\x0c" for pair in (bytes([byte, 34]), bytes([34, byte]))]
    if not _has_quote(path):
        return False  # the common case: no quote in the whole file, found without copying it
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            window = tail + chunk
            # bytes.find is fast; the regular expressions only run on a chunk with a space beside a quote
            if b'"' in window and any(pair in window for pair in pairs):
                for match in opening.finditer(window):
                    run = len(match.group(1))
                    if run % 2 == 1 or (run == 2 and match.group(2) is not None):
                        return True
                for match in closing.finditer(window):
                    run = len(match.group(2))
                    if run % 2 == 1 or (run == 2 and match.group(1) is not None):
                        return True
            tail = chunk[-64:]
    return False


def _has_quote(path: Path) -> bool:
    """Whether the file holds a ``"`` byte (searched in a memory map: no read into Python); True when it
    cannot be mapped (the caller then reads it)."""
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return view.find(b'"') >= 0
    except (OSError, ValueError):
        return True


def _plain_header(line: str, fields: list[str], delimiter: str) -> bool:
    """Every field of the header line is bare or wholly quoted, with no quote or delimiter inside."""
    segments = line.split(delimiter)
    return len(segments) == len(fields) and all(
        ('"' not in seg and seg == field) or (seg == f'"{field}"' and '"' not in field)
        for seg, field in zip(segments, fields, strict=True)
    )


def _no_nulls(path: Path, name: str) -> bool:
    """Every row group's statistics say the column has no null (unknown counts as "has nulls")."""
    metadata = pq.ParquetFile(path).metadata
    index = metadata.schema.names.index(name)
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_null_count or stats.null_count != 0:
            return False
    return True


def _probe_parquet(path: Path, filename: str) -> FastSource | None:
    schema = pq.read_schema(path)
    names = list(schema.names)
    if not names or _unique_headers(list(names)) != names:
        return None
    # pandas restores nullable dtypes (Int32, string) from its metadata, and data.readers renders their
    # missing values as "<NA>": such files keep the pandas path.
    for column in (schema.pandas_metadata or {}).get("columns", []):
        numpy_type = str(column.get("numpy_type", ""))
        if numpy_type not in ("object", "str") and not numpy_type.startswith(("int", "uint", "datetime64")):
            return None
    exprs: list[str] = []
    for field in schema:
        column = _quote_ident(field.name)
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            exprs.append(column)
        elif any(field.type == t for t in _PARQUET_INTS) or (
            field.type in (pa.int64(), pa.uint32()) and _no_nulls(path, field.name)
        ):
            # pandas turns an integer column with nulls into floats: exact only up to 2**53
            exprs.append(f"CAST({column} AS VARCHAR)")
        elif pa.types.is_timestamp(field.type) and field.type.tz is None:
            exprs.append(f"strftime({column}, '%Y-%m-%d %H:%M:%S')")
        else:
            return None
    return FastSource(
        path=path,
        filename=filename,
        format="parquet",
        encoding="parquet",
        columns=tuple(names),
        size=path.stat().st_size,
        parquet_exprs=tuple(exprs),
    )
