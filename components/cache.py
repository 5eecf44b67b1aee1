"""The one module that holds Streamlit caching.

- :func:`connection` opens the store once per process and path (``st.cache_resource``); a locked or
  unreadable store stops the page with a clear ``st.error`` instead of a traceback.
- Query results are cached with ``st.cache_data`` keyed by the store path and the :class:`Filters` value
  (the connection argument is ``_``-prefixed so it is not hashed); each call uses a fresh cursor, because a
  DuckDB connection is not thread-safe. Cached objects are never mutated.
- Two kinds of cursor: :func:`cursor` is for READING (``data.attach.read_cursor``: annotations include the
  attached Parquet directories of ``python cli.py attach``); :func:`write_cursor` is for the writers
  (import, annotation, deletion, taxonomy, cases, alert rules), because the annotation names resolve to
  read-only views in a read cursor.
- After an import or a deletion, :func:`clear_data_caches` drops every cached query result.
- Data permissions: every wrapper narrows its :class:`Filters` to the signed-in user's scope
  (:func:`_scoped`), and the option lists are read within it, so a page that built its own ``Filters()``
  still cannot read rows outside the user's brands, products or regions.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import duckdb
import pandas as pd
import streamlit as st

from analytics import options as options_queries
from analytics import overview as overview_queries
from analytics.filters import Filters
from analytics.options import FilterOptions
from analytics.overview import OverviewKpis
from analytics.rollup_source import one_guard
from components.auth import current_scope
from components.i18n import register, t
from components.safe_text import escape_markdown
from data import ingest
from data.attach import read_cursor
from data.config import resolve_db_path
from data.scope import Scope
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
    """A fresh READING cursor on the store connection, for one query: ``feedback_sentiment`` and
    ``aspect_mentions`` include attached Parquet annotations. Never write through it: use
    :func:`write_cursor`."""
    return read_cursor(connection())


def write_cursor() -> duckdb.DuckDBPyConnection:
    """A fresh plain cursor on the store connection, for writers (import, annotation, deletion, cases,
    rules); hold ``data.store.WRITE_LOCK`` around the write transaction as the data layer does."""
    return connection().cursor()


def dashboard_render() -> AbstractContextManager[None]:
    """Wrap one render of a dashboard page (sidebar options and the page, reading through :func:`cursor`;
    their one write, a case created from a quote, touches only ``cases``/``case_events``): the rollup guard
    is asked once for the render instead of once per query (:func:`analytics.rollup_source.one_guard`). Not
    for pages that import, annotate or delete data."""
    return one_guard()


def clear_data_caches() -> None:
    """Forget every cached query result (after the store changed)."""
    st.cache_data.clear()


# --- cached query wrappers: (store path, Filters) is the key ------------------------------------------


def _scoped(filters: Filters) -> Filters:
    """``filters`` narrowed to the signed-in user's data permissions (no rows when nobody is signed in)."""
    return filters.within(current_scope())


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _filter_options(_con: duckdb.DuckDBPyConnection, path: str, scope: Scope) -> FilterOptions:
    return options_queries.filter_options(_con, scope)


def filter_options() -> FilterOptions:
    """Option lists for the sidebar filters: only values inside the signed-in user's scope."""
    return _filter_options(cursor(), store_path(), current_scope())


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _overview_kpis(_con: duckdb.DuckDBPyConnection, path: str, filters: Filters) -> OverviewKpis:
    return overview_queries.overview_kpis(_con, filters)


def overview_kpis(filters: Filters) -> OverviewKpis:
    return _overview_kpis(cursor(), store_path(), _scoped(filters))


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _nps_trend(_con: duckdb.DuckDBPyConnection, path: str, filters: Filters, period: str) -> pd.DataFrame:
    return overview_queries.nps_trend(_con, filters, period)


def nps_trend(filters: Filters, period: str = "month") -> pd.DataFrame:
    return _nps_trend(cursor(), store_path(), _scoped(filters), period)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _volume_by_channel(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, period: str
) -> pd.DataFrame:
    return overview_queries.volume_by_channel(_con, filters, period)


def volume_by_channel(filters: Filters, period: str = "month") -> pd.DataFrame:
    return _volume_by_channel(cursor(), store_path(), _scoped(filters), period)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _datasets(_con: duckdb.DuckDBPyConnection, path: str) -> pd.DataFrame:
    return ingest.list_datasets(_con)


def datasets() -> pd.DataFrame:
    """The imported datasets (``data.ingest.list_datasets``)."""
    return _datasets(cursor(), store_path())


# --- executive pages (H10: overview CEM index, NPS trend page, key drivers) ------------------------------
# The CEM weights come from a key-driver fit (the slow part): cached on their own and passed to the index.

from analytics import aspects as aspect_queries  # noqa: E402
from analytics import cem_index as cem_queries  # noqa: E402
from analytics import drivers as driver_queries  # noqa: E402
from analytics import nps as nps_queries  # noqa: E402


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _cem_weights(_con: duckdb.DuckDBPyConnection, path: str, filters: Filters) -> cem_queries.CemWeights:
    return cem_queries.cem_weights(_con, filters)


def cem_weights(filters: Filters) -> cem_queries.CemWeights:
    """Aspect weights of the CEM index (key-driver importance, or equal when the data is thin)."""
    return _cem_weights(cursor(), store_path(), _scoped(filters))


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _cem_index(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, by: str | None,
    weights: cem_queries.CemWeights,
) -> pd.DataFrame:
    return cem_queries.cem_index(_con, filters, by=by, weights=weights)


def cem_index(filters: Filters, by: str | None, weights: cem_queries.CemWeights) -> pd.DataFrame:
    """The CEM index (one row, or one per brand/product) with the given weights."""
    return _cem_index(cursor(), store_path(), _scoped(filters), by, weights)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _cem_index_change(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, weights: cem_queries.CemWeights
) -> cem_queries.CemIndexChange | None:
    return cem_queries.cem_index_change(_con, filters, weights=weights)


def cem_index_change(
    filters: Filters, weights: cem_queries.CemWeights
) -> cem_queries.CemIndexChange | None:
    """The CEM index now against the previous window of the same length (None without dated data)."""
    return _cem_index_change(cursor(), store_path(), _scoped(filters), weights)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _aspect_changes(_con: duckdb.DuckDBPyConnection, path: str, filters: Filters) -> pd.DataFrame:
    return aspect_queries.aspect_changes(_con, filters)


def aspect_changes(filters: Filters) -> pd.DataFrame:
    """Net sentiment per top-level aspect, current window against the previous one."""
    return _aspect_changes(cursor(), store_path(), _scoped(filters))


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _nps_trend_by(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, period: str, split_by: str | None
) -> pd.DataFrame:
    return nps_queries.nps_trend_by(_con, filters, period, split_by)


def nps_trend_by(filters: Filters, period: str = "month", split_by: str | None = None) -> pd.DataFrame:
    """NPS per period (and segment) with interval and the period-on-period z-test."""
    return _nps_trend_by(cursor(), store_path(), _scoped(filters), period, split_by)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _nps_verbatims(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, group: str, limit: int
) -> pd.DataFrame:
    return nps_queries.nps_verbatims(_con, filters, group, limit)


def nps_verbatims(filters: Filters, group: str = "detractors", limit: int = 50) -> pd.DataFrame:
    """Newest answers with text of one NPS group."""
    return _nps_verbatims(cursor(), store_path(), _scoped(filters), group, limit)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _key_drivers(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, outcome: str
) -> driver_queries.KeyDrivers:
    return driver_queries.key_drivers(_con, filters, outcome)


def key_drivers(filters: Filters, outcome: str = "auto") -> driver_queries.KeyDrivers:
    """Key-driver importance against performance per top-level aspect."""
    return _key_drivers(cursor(), store_path(), _scoped(filters), outcome)


# --- H11: aspect heatmap, parameter map, typical quotes (pages/aspects.py, competitors.py, quotes.py) ------

from analytics import parameter_map as map_queries  # noqa: E402
from analytics import quotes as quote_queries  # noqa: E402
from analytics.parameter_map import ParameterMap, ProductComparison  # noqa: E402
from analytics.quotes import Quotes, SearchResult  # noqa: E402


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _aspect_heatmap(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, rows: str, parent: str | None
) -> pd.DataFrame:
    return aspect_queries.aspect_heatmap(_con, filters, rows, parent)


def aspect_heatmap(filters: Filters, rows: str = "product", parent: str | None = None) -> pd.DataFrame:
    """``analytics.aspects.aspect_heatmap``: one row per (row key, aspect), volume and net sentiment."""
    return _aspect_heatmap(cursor(), store_path(), _scoped(filters), rows, parent)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _aspect_summary(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, parent: str | None
) -> pd.DataFrame:
    return aspect_queries.aspect_summary(_con, filters, parent)


def aspect_summary(filters: Filters, parent: str | None = None) -> pd.DataFrame:
    """``analytics.aspects.aspect_summary``: per aspect volume and net sentiment, largest first."""
    return _aspect_summary(cursor(), store_path(), _scoped(filters), parent)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _aspect_trend(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, aspect: str | None, period: str
) -> pd.DataFrame:
    return aspect_queries.aspect_trend(_con, filters, aspect, period)


def aspect_trend(filters: Filters, aspect: str | None, period: str = "month") -> pd.DataFrame:
    """``analytics.aspects.aspect_trend``: one aspect's net sentiment and volume per period."""
    return _aspect_trend(cursor(), store_path(), _scoped(filters), aspect, period)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _aspect_volume_trend(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, period: str, parent: str | None
) -> pd.DataFrame:
    return aspect_queries.aspect_volume_trend(_con, filters, period, parent)


def aspect_volume_trend(filters: Filters, period: str = "month", parent: str | None = None) -> pd.DataFrame:
    """``analytics.aspects.aspect_volume_trend``: 指标声量走势, mentions per period and aspect."""
    return _aspect_volume_trend(cursor(), store_path(), _scoped(filters), period, parent)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _typical_quotes(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, aspect: str | None, polarity: str | None,
    k: int,
) -> Quotes:
    return quote_queries.typical_quotes(_con, filters, aspect, polarity, k)


def typical_quotes(
    filters: Filters, aspect: str | None = None, polarity: str | None = None, k: int = 5
) -> Quotes:
    """``analytics.quotes.typical_quotes`` (a ``Quotes``): representative, mutually different reviews."""
    return _typical_quotes(cursor(), store_path(), _scoped(filters), aspect, polarity, k)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _search_feedback(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, query: str, limit: int
) -> SearchResult:
    return quote_queries.search_feedback(_con, filters, query, limit)


def search_feedback(filters: Filters, query: str, limit: int = 200) -> SearchResult:
    """``analytics.quotes.search_feedback`` (a ``SearchResult``): every term must occur, newest first;
    ``n_matching`` is None when more match than ``limit`` (count them with :func:`count_matches`)."""
    return _search_feedback(cursor(), store_path(), _scoped(filters), query, limit)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _count_matches(_con: duckdb.DuckDBPyConnection, path: str, filters: Filters, query: str) -> int:
    return quote_queries.count_matches(_con, filters, query)


def count_matches(filters: Filters, query: str) -> int:
    """``analytics.quotes.count_matches``: every feedback row whose text holds every term (a full scan)."""
    return _count_matches(cursor(), store_path(), _scoped(filters), query)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _parameter_map(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, x: str, y: str, metric: str
) -> ParameterMap:
    return map_queries.parameter_map(_con, filters, x, y, metric)


def parameter_map(filters: Filters, x: str, y: str, metric: str = "rating") -> ParameterMap:
    """``analytics.parameter_map.parameter_map`` (a ``ParameterMap``): points and satisfaction surface."""
    return _parameter_map(cursor(), store_path(), _scoped(filters), x, y, metric)


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _compare_products(
    _con: duckdb.DuckDBPyConnection, path: str, filters: Filters, products: tuple[tuple[str, str], ...]
) -> ProductComparison:
    return map_queries.compare_products(_con, filters, list(products))


def compare_products(filters: Filters, products: tuple[tuple[str, str], ...]) -> ProductComparison:
    """``analytics.parameter_map.compare_products`` (a ``ProductComparison``) for (brand, product) pairs."""
    return _compare_products(cursor(), store_path(), _scoped(filters), products)
