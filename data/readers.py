"""Read an uploaded or local file into a table of strings: CSV, TSV, XLSX, JSON, JSONL, Parquet.

The format is sniffed from the bytes (magic numbers, then content), not trusted from the extension, so an
Excel workbook renamed to ``.csv`` still reads and a binary file is refused. Text encodings are detected:
UTF-8 (with or without BOM), UTF-16 with BOM, GBK/GB18030, and files that mix UTF-8 and GB18030 lines.

Every problem with the file as a whole raises :class:`FileRefused` with one sentence that names the file,
says what is wrong and what to do. Lines that cannot be split into the header's fields are returned in
``LoadedTable.bad_lines`` so the import records them as rejected rows instead of refusing the whole file.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import charset_normalizer
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

MAX_FILE_BYTES = 2 * 1024**3
_SNIFF_LINES = 50
_DELIMITERS: tuple[str, ...] = (",", "\t", ";", "|")
_FORMAT_NAMES = {
    "csv": "CSV",
    "tsv": "TSV",
    "xlsx": "Excel",
    "json": "JSON",
    "jsonl": "JSON Lines",
    "parquet": "Parquet",
}
_ERROR_SNIPPET = 60
_GB_LEAD_SHARE_MIN = 0.35


class FileRefused(ValueError):
    """The file cannot be imported as a whole; the message names it and says why and what to do."""


@dataclass
class LoadedTable:
    """A table read from a file: every value a string ("" when empty), headers unique and non-empty."""

    frame: pd.DataFrame
    encoding: str
    format: str
    filename: str = ""
    source_rows: list[int] | None = None  # the file row number of each frame row (1 = first data row)
    bad_lines: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["source_row", "reason", "raw_row"])
    )


def read_table(source: Path | bytes, filename: str) -> LoadedTable:
    """Read ``source`` (a path or the uploaded bytes); ``filename`` is used for messages and as a hint."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise FileRefused(
                f"{filename}: cannot open the file ({exc.strerror or exc}); check the path"
            ) from exc
        if size > MAX_FILE_BYTES:
            raise FileRefused(
                f"{filename}: the file is {size / 1024**3:.1f} GB, over the 2 GB limit; split it"
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FileRefused(f"{filename}: cannot read the file ({exc.strerror or exc})") from exc
    else:
        data = bytes(source)
    if len(data) <= 65_536 and not data.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise FileRefused(f"{filename}: the file is empty; export the table again with its rows")
    kind = sniff_format(data, filename)
    if kind == "xlsx":
        table = _read_xlsx(data, filename)
    elif kind == "parquet":
        table = _read_parquet(data, filename)
    else:
        text, encoding = decode_text(data, filename)
        stripped = text.lstrip()
        if kind == "json" or (kind == "text" and stripped[:1] in "[{"):
            table = _read_json(text, filename, encoding)
        else:
            table = _read_delimited(
                text, filename, encoding, hint_tab=filename.lower().endswith((".tsv", ".tab"))
            )
    table.filename = filename
    if table.frame.shape[1] == 0:
        raise FileRefused(f"{filename}: no columns found; the first row must be a header")
    if table.frame.empty and table.bad_lines.empty:
        raise FileRefused(f"{filename}: the file has a header but no data rows; nothing to import")
    return table


def sniff_format(data: bytes, filename: str) -> str:
    """ "xlsx", "parquet", "json" or "text", from the magic bytes; refuse known binary formats."""
    head = data[:8]
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused(
            f"{filename}: this is an old Excel 97–2003 (.xls) workbook; "
            "save it as .xlsx or CSV (UTF-8) and retry"
        )
    for magic, what in (
        (b"%PDF", "a PDF document"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"Rar!", "a RAR archive"),
        (b"7z\xbc\xaf", "a 7-Zip archive"),
        (b"SQLite format 3", "an SQLite database"),
    ):
        if data.startswith(magic):
            raise FileRefused(
                f"{filename}: this is {what}, not a table; export the data as CSV, Excel or JSON"
            )
    if filename.lower().endswith((".json", ".jsonl", ".ndjson")):
        return "json"
    return "text"


def decode_text(data: bytes, filename: str) -> tuple[str, str]:
    """Decode text bytes; return (text, encoding name). Refuse binary data."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise FileRefused(
                f"{filename}: starts like UTF-16 but does not decode; save it as UTF-8"
            ) from exc
    _refuse_binary(data, filename)
    if data.startswith(b"\xef\xbb\xbf"):
        text = _decode_utf8(data[3:])
        if text is not None:
            return text, "utf-8-sig"
        data = data[3:]
    text = _decode_utf8(data)
    if text is not None:
        return text, "utf-8"
    lines = data.split(b"\n")
    foreign = b"\n".join(line for line in lines if not line.isascii() and not _is_utf8(line))
    if _gb_lead_share(foreign) < _GB_LEAD_SHARE_MIN:
        return _decode_single_byte(data, filename)
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    utf8_lines = sum(1 for line in lines if not line.isascii() and _is_utf8(line))
    if text is not None and utf8_lines == 0:
        try:
            data.decode("gbk")
            return text, "gbk"
        except UnicodeDecodeError:
            return text, "gb18030"
    # Mixed: decode line by line, UTF-8 where valid, else GB18030.
    decoded: list[str] = []
    for number, line in enumerate(lines, start=1):
        if line.isascii() or _is_utf8(line):
            decoded.append(line.decode("utf-8"))
            continue
        try:
            decoded.append(line.decode("gb18030"))
        except UnicodeDecodeError as exc:
            raise FileRefused(
                f"{filename}: line {number} is neither UTF-8 nor GBK/GB18030 text; save the file as UTF-8"
            ) from exc
    return "\n".join(decoded), "mixed utf-8/gb18030"


def _decode_utf8(data: bytes) -> str | None:
    """UTF-8 text, or None. A file cut off inside its last character (a half-written export) still counts
    as UTF-8: the incomplete final bytes are dropped, and the cut-off last line becomes a rejected row."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8")
        return None


def _gb_lead_share(data: bytes) -> float:
    """Share of high bytes in 0xB0–0xD7, the lead bytes of the 3,755 most common GB2312 characters.

    GBK Chinese text scores ~0.6–0.7; Latin-1/cp1252 European text (é = 0xE9, à = 0xE0) scores near 0,
    although it would "decode" as rare GB18030 characters.
    """
    high = np.frombuffer(data, dtype=np.uint8)
    high = high[high >= 0x80]
    if high.size == 0:
        return 1.0
    return float(((high >= 0xB0) & (high <= 0xD7)).mean())


def _decode_single_byte(data: bytes, filename: str) -> tuple[str, str]:
    """Decode a non-Chinese legacy file: Windows-1252 when it fits, else charset-normalizer's best guess."""
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data[:1_000_000]).best()
    encoding = best.encoding if best is not None else "cp1252"
    for candidate in (encoding, "cp1252", "latin-1"):
        try:
            return data.decode(candidate), candidate
        except (UnicodeDecodeError, LookupError):
            continue
    raise FileRefused(f"{filename}: the text encoding cannot be recognised; save the file as UTF-8")


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _refuse_binary(data: bytes, filename: str) -> None:
    sample = data[:65536]
    # A few stray control characters (NUL included) inside texts are tolerated: validation removes them.
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    if controls > max(8, len(sample) // 100) or sample.count(b"\x00") > max(8, len(sample) // 1000):
        raise FileRefused(
            f"{filename}: looks like binary data, not a text table; export it as CSV (UTF-8), Excel or JSON"
        )


def _unique_headers(raw: list[object]) -> list[str]:
    """Headers as given, with empty ones named "column_N" and repeats suffixed " (2)", " (3)" …"""
    result: list[str] = []
    seen: set[str] = set()
    for position, value in enumerate(raw, start=1):
        name = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
        name = " ".join(name.replace("\ufeff", "").split())
        if not name:
            name = f"column_{position}"
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            candidate = f"{name} ({n})"
        seen.add(candidate)
        result.append(candidate)
    return result


def _frame_from_rows(header: list[object], body: pd.DataFrame) -> pd.DataFrame:
    body = body.copy()
    body.columns = _unique_headers(header)
    body = body.fillna("").astype("str")
    return body.reset_index(drop=True)


def _sniff_delimiter(text: str, hint_tab: bool) -> str:
    sample_lines = text[:200_000].splitlines()[:_SNIFF_LINES]
    sample = "\n".join(sample_lines)
    best, best_score = ",", (-1.0, 0)
    for delimiter in _DELIMITERS:
        try:
            rows = list(csv.reader(io.StringIO(sample), delimiter=delimiter))
        except csv.Error:
            continue
        rows = [r for r in rows if r]
        if not rows:
            continue
        width = len(rows[0])
        if width < 2:
            continue
        agreeing = sum(1 for r in rows if len(r) == width) / len(rows)
        score = (agreeing + (0.01 if hint_tab and delimiter == "\t" else 0.0), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_delimited(text: str, filename: str, encoding: str, *, hint_tab: bool) -> LoadedTable:
    delimiter = _sniff_delimiter(text, hint_tab)
    fmt = "tsv" if delimiter == "\t" else "csv"
    # Bytes, not StringIO: pandas reads a StringIO through a slow re-encoding wrapper (~10x slower).
    utf8 = text.encode("utf-8")
    bad = pd.DataFrame(columns=["source_row", "reason", "raw_row"])
    source_rows: list[int] | None = None
    raw = _read_delimited_fast(utf8, delimiter, _header_width(text, delimiter))
    if raw is None:
        try:
            raw = pd.read_csv(
                io.BytesIO(utf8),
                encoding="utf-8",
                sep=delimiter,
                header=None,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=True,
                engine="c",
            )
        except pd.errors.ParserError:
            raw, bad, source_rows = _read_delimited_tolerant(text, filename, delimiter)
        except (pd.errors.EmptyDataError, ValueError) as exc:
            raise FileRefused(f"{filename}: no table found ({exc}); the first row must be a header") from exc
    if raw.empty:
        raise FileRefused(f"{filename}: the file is empty; export the table again with its rows")
    header = raw.iloc[0].tolist()
    frame = _frame_from_rows(header, raw.iloc[1:])
    if source_rows is not None:
        source_rows = source_rows[1:]
    return LoadedTable(frame=frame, encoding=encoding, format=fmt, source_rows=source_rows, bad_lines=bad)


def _header_width(text: str, delimiter: str) -> int:
    try:
        first = next(csv.reader(io.StringIO(text[:200_000], newline=""), delimiter=delimiter), [])
    except csv.Error:
        return 0
    return len(first)


def _read_delimited_fast(data: bytes, delimiter: str, width: int) -> pd.DataFrame | None:
    """Arrow's multi-threaded CSV reader for well-formed files (~5x less CPU than pandas' C parser).

    Returns None (the caller falls back to pandas, then to the tolerant reader) as soon as any row does not
    have exactly the header's number of fields, or the file cannot be parsed.
    """
    if width < 1:
        return None
    irregular: list[object] = []

    def on_invalid(row: object) -> str:
        irregular.append(row)
        return "skip"

    names = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=names, block_size=1 << 22),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    if irregular:
        return None
    frame = table.to_pandas()
    frame.columns = range(width)
    return frame


def _split_records(text: str, delimiter: str) -> tuple[list[list[str]], list[tuple[int, str]]]:
    """Split into records; a quote never closed costs only its own line (parsing resumes on the next one).

    Returns the records and the unterminated fragments as (record number, first line).
    """
    lines = text.splitlines(keepends=True)
    records: list[list[str]] = []
    broken: list[tuple[int, str]] = []
    position = 0
    while position < len(lines):
        reader = csv.reader(
            io.StringIO("".join(lines[position:]), newline=""), delimiter=delimiter, strict=True
        )
        consumed = 0
        try:
            for record in reader:
                consumed = reader.line_num
                if any(cell.strip() for cell in record):
                    records.append(record)
            return records, broken
        except csv.Error:
            start = position + consumed  # the physical line where the broken record starts
            if any(cell.strip() for cell in lines[start].split(delimiter)):
                broken.append((len(records), lines[start].rstrip("\r\n")))
                records.append([])  # placeholder keeps record numbering
            position = start + 1
    return records, broken


def _read_delimited_tolerant(
    text: str, filename: str, delimiter: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    """Slow path for malformed files: keep well-formed records, report the others as bad lines."""
    records, broken = _split_records(text, delimiter)
    if not records or not records[0]:
        raise FileRefused(
            f"{filename}: the header row cannot be read (a quote is never closed); fix the first line"
        )
    width = len(records[0])
    broken_at = dict(broken)
    good: list[list[str]] = []
    rows: list[int] = []
    bad: list[dict[str, object]] = []
    for number, record in enumerate(records):
        if number in broken_at:
            line = broken_at[number]
            bad.append(
                {
                    "source_row": number,
                    "reason": '这一行的引号没有闭合（可能是文件被截断或内容里有多余的 " 号），无法拆分成列。'
                    f"请检查这一行：{line[:_ERROR_SNIPPET]}",
                    "raw_row": json.dumps({"line": line[:10_000]}, ensure_ascii=False),
                }
            )
        elif len(record) <= width or number == 0:
            good.append(record + [""] * (width - len(record)))
            rows.append(number)
        else:
            joined = delimiter.join(record)
            snippet = joined[:_ERROR_SNIPPET] + ("…" if len(joined) > _ERROR_SNIPPET else "")
            bad.append(
                {
                    "source_row": number,
                    "reason": f"这一行有 {len(record)} 个字段，而表头只有 {width} 个："
                    f"可能是未加引号的分隔符或引号不配对。请检查这一行：{snippet}",
                    "raw_row": json.dumps({"line": joined[:10_000]}, ensure_ascii=False),
                }
            )
    if len(records) > 2 and len(bad) > 0.5 * (len(records) - 1):
        raise FileRefused(
            f"{filename}: {len(bad)} of {len(records) - 1} rows do not match the header's {width} fields; "
            'check the separator and quotes (an unbalanced " swallows lines)'
        )
    frame = pd.DataFrame(good, dtype="str")
    return frame, pd.DataFrame(bad, columns=["source_row", "reason", "raw_row"]), rows


def _read_xlsx(data: bytes, filename: str) -> LoadedTable:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as exc:
        raise FileRefused(
            f"{filename}: a damaged or truncated Excel/zip file; save it again and retry"
        ) from exc
    if not any(n.startswith("xl/") for n in names):
        raise FileRefused(
            f"{filename}: a zip archive, not an Excel workbook; unpack it and import the table inside"
        )
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=str, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise FileRefused(
            f"{filename}: the Excel workbook cannot be read ({type(exc).__name__}); save it again"
        ) from exc
    non_empty = [
        (name, raw)
        for name, raw in ((n, r.dropna(how="all").dropna(axis=1, how="all")) for n, r in sheets.items())
        if not raw.empty
    ]
    # The first sheet with a header and data rows: workbooks often open with a notes or cover sheet.
    with_rows = [(name, raw) for name, raw in non_empty if len(raw) >= 2]
    for sheet_name, raw in (with_rows or non_empty)[:1]:
        header = raw.iloc[0].tolist()
        frame = _frame_from_rows(header, raw.iloc[1:])
        source_rows = [int(i) for i in raw.index[1:]]
        return LoadedTable(
            frame=frame,
            encoding="xlsx",
            format="xlsx",
            source_rows=source_rows,
            filename=f"{filename}" if len(sheets) == 1 else f"{filename} [{sheet_name}]",
        )
    raise FileRefused(f"{filename}: every sheet of the workbook is empty; nothing to import")


def _read_parquet(data: bytes, filename: str) -> LoadedTable:
    try:
        raw = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError … for damaged files
        raise FileRefused(
            f"{filename}: the Parquet file cannot be read ({type(exc).__name__}); write it again"
        ) from exc
    frame = pd.DataFrame(index=range(len(raw)))
    headers = _unique_headers(list(raw.columns))
    for header, column in zip(headers, raw.columns, strict=True):
        series = raw[column].reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(series):
            text = series.dt.strftime("%Y-%m-%d %H:%M:%S")
        elif pd.api.types.is_float_dtype(series):
            text = series.map(
                lambda v: "" if pd.isna(v) else (str(int(v)) if float(v).is_integer() else repr(v))
            )
        else:
            text = series.map(_cell_text)
        frame[header] = text.fillna("").astype("str")
    return LoadedTable(frame=frame, encoding="parquet", format="parquet")


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and pd.isna(value):
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if hasattr(value, "tolist") and not isinstance(value, str):
        return json.dumps(value.tolist(), ensure_ascii=False, default=str)
    return str(value)


def _read_json(text: str, filename: str, encoding: str) -> LoadedTable:
    stripped = text.strip()
    records: list[object] | None = None
    bad: list[dict[str, object]] = []
    source_rows: list[int] | None = None
    fmt = "json"
    try:
        parsed = json.loads(stripped)
    except RecursionError as exc:
        raise FileRefused(
            f"{filename}: the JSON is nested too deeply to be a table; export flat records"
        ) from exc
    except json.JSONDecodeError as whole_error:
        lines = [(n, line) for n, line in enumerate(stripped.splitlines(), start=1) if line.strip()]
        if len(lines) < 2:
            raise FileRefused(
                f"{filename}: not valid JSON (line {whole_error.lineno}: {whole_error.msg}); "
                "fix or re-export it"
            ) from whole_error
        fmt = "jsonl"
        records, source_rows = [], []
        for number, line in lines:
            try:
                records.append(json.loads(line))
                source_rows.append(number)
            except (json.JSONDecodeError, RecursionError) as exc:
                why = getattr(exc, "msg", "嵌套过深")
                bad.append(
                    {
                        "source_row": number,
                        "reason": f"第 {number} 行不是有效的 JSON（{why}）：请修正这一行。",
                        "raw_row": json.dumps({"line": line[:10_000]}, ensure_ascii=False),
                    }
                )
        if not records:
            raise FileRefused(f"{filename}: no line is valid JSON; fix or re-export it") from None
    else:
        if isinstance(parsed, dict):
            lists = [v for v in parsed.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
            if len(lists) == 1:
                records = lists[0]
            elif all(not isinstance(v, (list, dict)) for v in parsed.values()):
                records = [parsed]
            else:
                raise FileRefused(
                    f"{filename}: JSON object without one list of records; "
                    "give a list of objects or JSON Lines"
                )
        elif isinstance(parsed, list):
            records = parsed
        else:
            raise FileRefused(f"{filename}: JSON that is a single value, not a table of records")
    not_objects = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if records and len(not_objects) == len(records):
        raise FileRefused(f'{filename}: JSON records must be objects like {{"text": "…", "rating": 5}}')
    if not_objects:
        keep = [i for i in range(len(records)) if i not in set(not_objects)]
        for i in not_objects:
            row = source_rows[i] if source_rows else i + 1
            bad.append(
                {
                    "source_row": row,
                    "reason": f"第 {row} 条记录不是对象（{{…}}），无法对应到列。",
                    "raw_row": json.dumps({"value": _cell_text(records[i])[:10_000]}, ensure_ascii=False),
                }
            )
        records = [records[i] for i in keep]
        source_rows = [source_rows[i] for i in keep] if source_rows else [i + 1 for i in keep]
    columns: list[str] = []
    for record in records:
        for key in record:  # type: ignore[union-attr]
            if key not in columns:
                columns.append(key)
    headers = _unique_headers(columns)
    frame = pd.DataFrame(
        {h: [_cell_text(r.get(c)) for r in records] for h, c in zip(headers, columns, strict=True)},  # type: ignore[union-attr]
        dtype="str",
    )
    bad_frame = pd.DataFrame(bad, columns=["source_row", "reason", "raw_row"])
    return LoadedTable(
        frame=frame, encoding=encoding, format=fmt, source_rows=source_rows, bad_lines=bad_frame
    )


def describe_format(fmt: str) -> str:
    """A readable name of a format code ("xlsx" → "Excel")."""
    return _FORMAT_NAMES.get(fmt, fmt)
