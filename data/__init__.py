"""Data layer: reading files, validating rows, the DuckDB store and the demo market.

Never imports Streamlit, ``analytics`` or ``models`` (see docs/ARCHITECTURE.md).
"""
