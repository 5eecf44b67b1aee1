"""The one module that holds Streamlit caching.

- :func:`connection` opens the store once per process and path (``st.cache_resource``); a locked or
  unreadable store stops the page with a clear ``st.error`` instead of a traceback.
- Query results are cached with ``st.cache_data`` keyed by the store path and the :class:`Filters` value
  (the connection argument is ``_``-prefixed so it is not hashed); each call uses a fresh cursor, because a
  DuckDB connection is not thread-safe. Cached objects are never mutated.
- After an import or a deletion, :func:`clear_data_caches` drops every cached query result.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import streamlit as st

from analytics import options as options_queries
from analytics import overview as overview_queries
from analytics.filters import Filters
from analytics.options import FilterOptions
from analytics.overview import OverviewKpis
from components.i18n import register, t
from components.safe_text import escape_markdown
from data import ingest
from data.config import resolve_db_path
from data.store import StoreError, StoreLockedError, connect

register(
    {
        "store.locked": (
            "数据库文件 {path} 正被另一个程序占用（DuckDB 只允许一个写入进程）。"
            "请先关闭另一个听见程序（网页或命令行），或用环境变量 TINGJIAN_DB 指定另一个文件，然后刷新页面。",
            "The store {path} is in use by another process (DuckDB allows one writer). Close the other "
            "Tingjian process (app or CLI), or point TINGJIAN_DB at another file, then reload the page.",
        ),
        "store.error": ("无法打开数据库：{message}", "Cannot open the store: {message}"),
    }
)

TTL_SECONDS = 600
MAX_ENTRIES = 64


def store_path() -> str:
    """The store this session uses (``$TINGJIAN_DB`` or ``data/cem.duckdb``), as a cache key."""
    return str(resolve_db_path().resolve())


@st.cache_resource(show_spinner=False)
def _open(path: str) -> duckdb.DuckDBPyConnection:
    return connect(path)


def connection() -> duckdb.DuckDBPyConnection:
    """The process-wide store connection; stops the script with a clear error when it cannot be opened."""
    path = store_path()
    try:
        return _open(path)
    except StoreLockedError:
        st.error(t("store.locked", path=escape_markdown(path)))
        st.stop()
    except StoreError as exc:
        st.error(t("store.error", message=escape_markdown(exc)))
        st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def cursor() -> duckdb.DuckDBPyConnection:
    """A fresh cursor on the store connection, for one query."""
    return connection().cursor()


def clear_data_caches() -> None:
    """Forget every cached query result (after the store changed)."""
    st.cache_data.clear()


# --- cached query wrappers: (store path, Filters) is the key ------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _filter_options(_con: duckdb.DuckDBPyConnection, path: str) -> FilterOptions:
    return options_queries.filter_options(_con)


def filter_options() -> FilterOptions:
    """Option lists for the sidebar filters."""
    return _filter_options(cursor(), store_path())


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _overview_kpis(_con: duckdb.DuckDBPyConnection, path: str, filters: Filters) -> OverviewKpis:
    return overview_queries.overview_kpis(_con, filters)


def overview_kpis(filters: Filters) -> OverviewKpis:
    return _overview_kpis(cursor(), store_path(), filters)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _nps_trend(_con: duckdb.DuckDBPyConnection, path: str, filters: Filters, period: str) -> pd.DataFrame:
    return overview_queries.nps_trend(_con, filters, period)


def nps_trend(filters: Filters, period: str = "month") -> pd.DataFrame:
    return _nps_trend(cursor(), store_path(), filters, period)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _volume_by_channel(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, period: str
) -> pd.DataFrame:
    return overview_queries.volume_by_channel(_con, filters, period)


def volume_by_channel(filters: Filters, period: str = "month") -> pd.DataFrame:
    return _volume_by_channel(cursor(), store_path(), filters, period)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _datasets(_con: duckdb.DuckDBPyConnection, path: str) -> pd.DataFrame:
    return ingest.list_datasets(_con)


def datasets() -> pd.DataFrame:
    """The imported datasets (``data.ingest.list_datasets``)."""
    return _datasets(cursor(), store_path())
