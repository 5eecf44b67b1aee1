"""Every CSV export goes through here: UTF-8 with BOM (so Excel shows Chinese correctly) and cells that
Excel would run as formulas neutralised (CSV injection: a leading ``=``, ``+``, ``-``, ``@``, tab or carriage
return gets a leading apostrophe, as OWASP recommends)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """Prefix a string that Excel would evaluate as a formula with ``'``; other values are returned as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name neutralised."""
    out = frame.copy()
    out.columns = [str(neutralise_cell(str(c))) for c in out.columns]
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out[column] = series.astype(object).map(neutralise_cell)
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as CSV bytes for Excel: UTF-8 with BOM, formulas neutralised, no index."""
    return safe_frame(frame).to_csv(index=False).encode("utf-8-sig")


def csv_download_button(frame: pd.DataFrame, *, label: str, file_name: str, key: str) -> None:
    """A download button for ``frame`` as a safe CSV file."""
    st.download_button(
        label,
        data=csv_bytes(frame),
        file_name=file_name,
        mime="text/csv",
        key=key,
        icon=":material/download:",
    )
