"""Safe exports: every CSV/XLSX that leaves Tingjian (CLI ``export``, UI downloads) is written here.

Customer text may be a spreadsheet formula (``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``, ``@SUM(...)``).
Opened in Excel or LibreOffice, such a cell would run. Following OWASP's advice on CSV injection, a text
cell (or column name) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading apostrophe. In XLSX the cell is additionally written as an explicit string cell with Excel's
"quote prefix" style, so even without the apostrophe it could not be evaluated.

CSV is UTF-8 with a byte-order mark so Excel on Windows shows Chinese text correctly. XLSX cells cannot
hold control characters (removed) nor more than 32,767 characters (truncated, with a marker); a sheet holds
at most 1,048,575 data rows (more raises :class:`ExportError`: export as CSV instead).

Pure functions: no Streamlit, no store access. ``components/downloads.py`` should call these.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_CELL_CHARS = 32_767
XLSX_MAX_ROWS = 1_048_575  # data rows below the header row
TRUNCATION_MARK = "…[截断]"
EXPORT_FORMATS: tuple[str, ...] = ("csv", "xlsx")

_ILLEGAL_XLSX = re.compile(ILLEGAL_CHARACTERS_RE.pattern)


class ExportError(ValueError):
    """The export cannot be written; the message says why and what to do."""


def is_formula_like(value: object) -> bool:
    """True for a string a spreadsheet would evaluate (starts with ``= + - @``, tab or CR)."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def neutralise_cell(value: object) -> object:
    """Prefix a formula-like string with ``'``; every other value is returned unchanged."""
    if is_formula_like(value):
        return "'" + str(value)
    return value


def _is_text_column(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and every column name neutralised (``frame`` is untouched)."""
    out = frame.copy()
    out.columns = [str(neutralise_cell(str(c))) for c in out.columns]
    for position in range(out.shape[1]):
        series = out.iloc[:, position]
        if _is_text_column(series):
            out.isetitem(position, series.astype(object).map(neutralise_cell))
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as CSV for Excel: UTF-8 with BOM, CRLF line ends, formulas neutralised, no index.

    CRLF matters: Python's csv writer quotes only fields holding a character of the line terminator, so
    with pandas' default ``"\n"`` a text with a lone ``"\r"`` was written unquoted and split the row in two.
    """
    return safe_frame(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def _xlsx_text(value: str) -> str:
    text = _ILLEGAL_XLSX.sub("", value)
    if len(text) > XLSX_MAX_CELL_CHARS:
        text = text[: XLSX_MAX_CELL_CHARS - len(TRUNCATION_MARK)] + TRUNCATION_MARK
    return text


def _xlsx_value(value: object) -> object:
    """A value openpyxl can store: missing → empty, timestamps naive, everything odd → text."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
    if isinstance(value, bool | int | float):
        return value
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return value.item()
    return str(value)


def xlsx_bytes(frame: pd.DataFrame, *, sheet_title: str = "export") -> bytes:
    """``frame`` as an XLSX workbook; text cells are explicit strings, formula-like ones neutralised."""
    if len(frame) > XLSX_MAX_ROWS:
        raise ExportError(
            f"{len(frame):,} rows do not fit in one Excel sheet (limit {XLSX_MAX_ROWS:,}); "
            "export as .csv instead or narrow the selection with --dataset"
        )
    workbook = Workbook(write_only=False)
    sheet = workbook.active
    sheet.title = _xlsx_text(sheet_title)[:31] or "export"
    safe = safe_frame(frame)
    for col, name in enumerate(safe.columns, start=1):
        _write_cell(sheet, 1, col, str(name))
    for row_number, row in enumerate(safe.itertuples(index=False, name=None), start=2):
        for col, value in enumerate(row, start=1):
            _write_cell(sheet, row_number, col, _xlsx_value(value))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _write_cell(sheet: object, row: int, col: int, value: object) -> None:
    cell = sheet.cell(row=row, column=col)  # type: ignore[attr-defined]
    if isinstance(value, str):
        text = _xlsx_text(value)
        cell.value = text
        cell.data_type = "s"  # never "f": openpyxl would otherwise store a leading "=" as a formula
        if text.startswith("'"):
            cell.quotePrefix = True
    else:
        cell.value = value


def export_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """``frame`` as ``"csv"`` or ``"xlsx"`` bytes."""
    if fmt == "csv":
        return csv_bytes(frame)
    if fmt == "xlsx":
        return xlsx_bytes(frame)
    raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")


def format_for_path(path: str | os.PathLike[str]) -> str:
    """The export format named by the file's extension (``.csv`` or ``.xlsx``)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in EXPORT_FORMATS:
        raise ExportError(
            f"{Path(path).name}: the file name must end in .csv or .xlsx"
            f" (got '{Path(path).suffix or 'no extension'}')"
        )
    return suffix


def write_export(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` to ``path`` (format from the extension) atomically: a temp file, then a rename.

    A crash while writing leaves either the old file or no file, never a half-written one.
    """
    target = Path(path)
    data = export_bytes(frame, format_for_path(target))
    if not target.parent.exists():
        raise ExportError(f"{target}: the folder {target.parent} does not exist")
    write_atomic(target, data)
    return target


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename (never a half-written file)."""
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def xlsx_workbook_bytes(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """Several frames as one XLSX workbook, one sheet each (sheet names are cut to Excel's 31 characters).

    Same cell rules as :func:`xlsx_bytes`: text cells are explicit strings, formula-like ones neutralised.
    """
    workbook = Workbook(write_only=False)
    workbook.remove(workbook.active)
    for title, frame in sheets.items():
        if len(frame) > XLSX_MAX_ROWS:
            raise ExportError(f"sheet {title!r}: {len(frame):,} rows do not fit in one Excel sheet")
        sheet = workbook.create_sheet(_xlsx_text(title)[:31] or "sheet")
        safe = safe_frame(frame)
        for col, name in enumerate(safe.columns, start=1):
            _write_cell(sheet, 1, col, str(name))
        for row_number, row in enumerate(safe.itertuples(index=False, name=None), start=2):
            for col, value in enumerate(row, start=1):
                _write_cell(sheet, row_number, col, _xlsx_value(value))
    if not workbook.sheetnames:
        workbook.create_sheet("empty")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
