"""Every UI download goes through here. The bytes come from ``data.export`` (shared with ``cli.py export``):
CSV is UTF-8 with BOM (so Excel shows Chinese correctly) and cells that Excel would run as formulas are
neutralised (CSV injection: a leading ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
apostrophe, as OWASP recommends); XLSX cells are always text."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from data.export import csv_bytes, xlsx_bytes


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


def xlsx_download_button(frame: pd.DataFrame, *, label: str, file_name: str, key: str) -> None:
    """A download button for ``frame`` as an Excel workbook (``data.export.xlsx_bytes``: text cells are
    explicit strings, formula-like ones neutralised, control characters removed)."""
    st.download_button(
        label,
        data=xlsx_bytes(frame),
        file_name=file_name,
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=key,
        icon=":material/table_view:",
    )
