"""Where a query reads its counts: the rollup tables (``data/rollups.py``) or the base tables.

A query reads rollups when :func:`use_rollups` says so: the rollups account for exactly the rows of the base
tables (``data.rollups.is_current``) and the caller has not asked for the base tables
(:func:`base_tables_only`, used by tests and by the benchmark's before/after comparison).

The rollup "source" is a subquery with the column names of the base table it replaces, the date column
included (``created_at`` holds the day or month start), so the analytics' SQL keeps its shape. A date range is
split into whole months, read from a month table, and the days at either edge, read from the day table
(sorted by day, so DuckDB skips the other days' row groups): the result is exact for any range. Filters are
applied with :meth:`Filters.where` on the rollups' own columns (same names as ``feedback``'s), so every
restriction a ``Filters`` carries applies unchanged. A query whose filter touches ``region`` reads the aspect
table that has that column; otherwise the ~40x smaller one without it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import duckdb

from analytics.filters import Filters
from data.rollups import is_current

_BASE_ONLY: ContextVar[bool] = ContextVar("tingjian_base_tables_only", default=False)


@contextmanager
def base_tables_only() -> Iterator[None]:
    """Inside this block, analytics read the base tables (the reference the rollups are checked against)."""
    token = _BASE_ONLY.set(True)
    try:
        yield
    finally:
        _BASE_ONLY.reset(token)


def use_rollups(con: duckdb.DuckDBPyConnection) -> bool:
    """True when queries on ``con`` may read the rollups (they are current and not switched off)."""
    return not _BASE_ONLY.get() and is_current(con)


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def split_months(filters: Filters) -> tuple[dt.date | None, dt.date | None, dt.date | None, dt.date | None]:
    """``(start, month_from, month_to, end)``: [start, end) is the filter's range (end exclusive, None: open);
    [month_from, month_to) the whole months inside it (None = open on that side)."""
    start = filters.date_from
    end = filters.date_to + dt.timedelta(days=1) if filters.date_to else None
    month_from = None if start is None else (start if start.day == 1 else _next_month(start))
    month_to = None if end is None else _month_start(end)
    return start, month_from, month_to, end


def _ts(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min)


def _source(
    filters: Filters, alias: str, day_table: str, month_table: str, grain: str
) -> tuple[str, dict[str, object]]:
    where, params = filters.with_(date_from=None, date_to=None).where(alias="r")
    day_part = f"SELECT r.* EXCLUDE (day), r.day AS created_at FROM {day_table} r WHERE {where}"
    month_part = f"SELECT r.* EXCLUDE (month), r.month AS created_at FROM {month_table} r WHERE {where}"
    if grain == "day":
        if filters.date_from is not None or filters.date_to is not None:
            day_where, day_params = filters.where(alias="r", date_column="day")
            params.update(day_params)
            day_part += f" AND {day_where}"
        return f"({day_part}) {alias}", params
    if filters.date_from is None and filters.date_to is None:
        return f"({month_part}) {alias}", params
    start, month_from, month_to, end = split_months(filters)
    if month_from is not None and month_to is not None and month_from >= month_to:
        day_where, day_params = filters.where(alias="r", date_column="day")
        params.update(day_params)
        return f"({day_part} AND {day_where}) {alias}", params
    month_clauses, edges = [], []
    if month_from is not None:
        params["_rs_month_from"] = _ts(month_from)
        month_clauses.append("r.month >= $_rs_month_from")
        if start is not None and start < month_from:
            params["_rs_start"] = _ts(start)
            edges.append("(r.day >= $_rs_start AND r.day < $_rs_month_from)")
    else:
        month_clauses.append("r.month IS NOT NULL")
    if month_to is not None:
        params["_rs_month_to"] = _ts(month_to)
        month_clauses.append("r.month < $_rs_month_to")
        if end is not None and end > month_to:
            params["_rs_end"] = _ts(end)
            edges.append("(r.day >= $_rs_month_to AND r.day < $_rs_end)")
    sql = f"{month_part} AND {' AND '.join(month_clauses)}"
    if edges:
        sql += f"\nUNION ALL BY NAME\n{day_part} AND ({' OR '.join(edges)})"
    return f"({sql}) {alias}", params


def feedback_source(
    filters: Filters, alias: str = "f", grain: str = "month"
) -> tuple[str, dict[str, object]]:
    """``(from_sql, params)``: the feedback rollup rows selected by ``filters`` as ``(…) alias``.

    ``grain="day"`` reads only the day table (for weekly trends: month rows cannot be split into weeks).
    """
    return _source(filters, alias, "rollup_feedback_day", "rollup_feedback_month", grain)


def needs_region(filters: Filters) -> bool:
    """Does the filter (restrictions included) constrain ``region``?"""
    where, _ = filters.where(alias="r")
    return "r.region" in where


def aspect_source(filters: Filters, alias: str = "m", grain: str = "month") -> tuple[str, dict[str, object]]:
    """``(from_sql, params)``: the aspect rollup rows selected by ``filters`` as ``(…) alias``."""
    month_table = "rollup_aspects_region_month" if needs_region(filters) else "rollup_aspects_month"
    return _source(filters, alias, "rollup_aspects_day", month_table, grain)


def grain_for(part: str) -> str:
    """The rollup grain a ``date_trunc`` part needs: weeks need days, months and quarters do not."""
    return "day" if part == "week" else "month"
