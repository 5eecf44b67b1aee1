"""Where a query reads its counts: the rollup tables (``data/rollups.py``) or the base tables.

A query reads rollups when :func:`use_rollups` says so: the rollups account for exactly the rows of the base
tables (``data.rollups.is_current``) and the caller has not asked for the base tables
(:func:`base_tables_only`, used by tests and by the benchmark's before/after comparison).

The rollup "source" is a subquery with the column names of the base table it replaces, the date column
included (``created_at`` holds the day or month start), so the analytics' SQL keeps its shape. A date range is
split into whole months, read from a month table, and the days at either edge, read from the day table
(sorted by day, so DuckDB skips the other days' row groups): the result is exact for any range. Filters are
applied with :meth:`Filters.where` on the rollups' own columns (same names as ``feedback``'s), so every
restriction a ``Filters`` carries applies unchanged. A query whose filter touches ``region`` (or, for
feedback, that groups by it) reads the month table that has that column; otherwise the ~30-40x smaller one
without it (``region`` is then absent from the source: a query that reads it fails loudly, never reads NULLs).
"""

from __future__ import annotations

import datetime as dt
import re
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


# The guard's answer for the current read-only block (see :func:`one_guard`); None outside such a block.
_GUARD_ANSWER: ContextVar[list[bool] | None] = ContextVar("tingjian_one_guard", default=None)


@contextmanager
def one_guard() -> Iterator[None]:
    """Inside this block, :func:`use_rollups` asks the guard (``data.rollups.is_current``) once and reuses
    that answer: for one dashboard render, a block of reads of one store through one kind of cursor that
    writes nothing the guard counts (each analytics call asking again cost ~1 ms a call, 9 calls on the
    overview). The only write of a dashboard page, a case created from a quote (创建工单), touches ``cases``
    and ``case_events``, which the guard does not read.

    Why that is safe: every writer of the product keeps the rollups current in the same transaction as the
    base rows (imports, annotation, deletion), so a write committed by another session while the block runs
    leaves the answer true; what makes it false (attached Parquet annotations, rows written without the
    maintenance calls, an older layout) is a property of the store and cursor kind, not of the moment, and
    does not change within a render. Never wrap code that writes feedback, annotations or rollups (imports,
    annotation, deletion), or that reads two stores or both a plain and an attached-Parquet cursor. Outside
    the block every call asks, as before.
    """
    token = _GUARD_ANSWER.set([])
    try:
        yield
    finally:
        _GUARD_ANSWER.reset(token)


def use_rollups(con: duckdb.DuckDBPyConnection) -> bool:
    """True when queries on ``con`` may read the rollups (they are current and not switched off)."""
    if _BASE_ONLY.get():
        return False
    answer = _GUARD_ANSWER.get()
    if answer is None:
        return is_current(con)
    if not answer:
        answer.append(is_current(con))
    return answer[0]


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
    filters: Filters,
    alias: str,
    day_table: str,
    month_table: str,
    grain: str,
    drop_region: bool = False,
    subtract: tuple[str, ...] = (),
) -> tuple[str, dict[str, object]]:
    where, params = filters.with_(date_from=None, date_to=None).where(alias="r")
    where = _IN_LIST.sub(_list_contains, where)
    drops = _SUBTRACT_DROPS if subtract else ()
    day_excluded = ", ".join(["day", *(["region"] if drop_region else []), *drops])
    month_excluded = ", ".join(["month", *drops])
    day_part = f"SELECT r.* EXCLUDE ({day_excluded}), r.day AS created_at FROM {day_table} r WHERE {where}"
    month_part = (
        f"SELECT r.* EXCLUDE ({month_excluded}), r.month AS created_at FROM {month_table} r WHERE {where}"
    )
    if grain == "day":
        if filters.date_from is not None or filters.date_to is not None:
            day_where, day_params = filters.where(alias="r", date_column="day")
            params.update(day_params)
            day_part += f" AND {day_where}"
        return f"({day_part}) {alias}", params
    if filters.date_from is None and filters.date_to is None:
        return f"({month_part}) {alias}", params
    start, month_from, month_to, end = split_months(filters)
    edges, minus = [], []
    if start is not None and end is not None and month_from is not None and month_to is not None and (
        month_from >= month_to
    ):
        # No whole month inside: the days, or (subtract, the range inside one month) the whole month less
        # the days outside the range.
        first, after = _month_start(start), _next_month(_month_start(start))
        outside = (start - first).days + (after - end).days
        if not subtract or end > after or outside >= (end - start).days:
            day_where, day_params = filters.where(alias="r", date_column="day")
            params.update(day_params)
            return f"({day_part} AND {day_where}) {alias}", params
        month_from, month_to = first, after
        minus = _ranges(params, "minus", [(first, start), (end, after)])
    else:
        if month_from is not None and start is not None and start < month_from:
            first = _month_start(start)
            if subtract and (start - first).days < (month_from - start).days:
                month_from = first
                minus += _ranges(params, "minus_start", [(first, start)])
            else:
                edges += _ranges(params, "start", [(start, month_from)])
        if month_to is not None and end is not None and end > month_to:
            after = _next_month(month_to)
            if subtract and (after - end).days < (end - month_to).days:
                minus += _ranges(params, "minus_end", [(end, after)])
                month_to = after
            else:
                edges += _ranges(params, "end", [(month_to, end)])
    month_clauses = []
    if month_from is not None:
        params["_rs_month_from"] = _ts(month_from)
        month_clauses.append("r.month >= $_rs_month_from")
    else:
        month_clauses.append("r.month IS NOT NULL")
    if month_to is not None:
        params["_rs_month_to"] = _ts(month_to)
        month_clauses.append("r.month < $_rs_month_to")
    sql = f"{month_part} AND {' AND '.join(month_clauses)}"
    if edges:
        sql += f"\nUNION ALL BY NAME\n{day_part} AND ({' OR '.join(edges)})"
    if minus:
        negated = ", ".join(f"-r.{c} AS {c}" for c in subtract)
        minus_part = (
            f"SELECT r.* EXCLUDE ({day_excluded}, {', '.join(subtract)}), {negated}, r.day AS created_at"
            f" FROM {day_table} r WHERE {where}"
        )
        sql += f"\nUNION ALL BY NAME\n{minus_part} AND ({' OR '.join(minus)})"
    return f"({sql}) {alias}", params


# ``r.col IN (SELECT unnest($p))`` (Filters.where) is a semi-join per UNION branch: ~1 ms each at 1M. On
# the rollups' small month tables (one row group each) ``list_contains($p, r.col)`` selects the same rows
# (NULL and non-members are dropped either way) without a join. ``region`` keeps the semi-join: its dynamic
# filter lets DuckDB skip row groups of rollup_aspects_region_month (sorted by region). A WHERE that does
# not have this shape is left as it is.
_IN_LIST = re.compile(r"\br\.(\w+) IN \(SELECT unnest\(\$(\w+)\)\)")


def _list_contains(match: re.Match[str]) -> str:
    column, param = match.group(1), match.group(2)
    return match.group(0) if column == "region" else f"list_contains(${param}, r.{column})"


# Columns left out of a source that subtracts days: sums that cannot be subtracted exactly (a float).
_SUBTRACT_DROPS = ("confidence_sum",)


def _ranges(params: dict[str, object], name: str, spans: list[tuple[dt.date, dt.date]]) -> list[str]:
    """SQL conditions ``r.day`` in ``[a, b)`` for the non-empty spans; their bounds added to ``params``."""
    clauses = []
    for i, (a, b) in enumerate(spans):
        if a >= b:
            continue
        params[f"_rs_{name}_{i}_a"], params[f"_rs_{name}_{i}_b"] = _ts(a), _ts(b)
        clauses.append(f"(r.day >= $_rs_{name}_{i}_a AND r.day < $_rs_{name}_{i}_b)")
    return clauses


def feedback_source(
    filters: Filters, alias: str = "f", grain: str = "month", region: bool = False
) -> tuple[str, dict[str, object]]:
    """``(from_sql, params)``: the feedback rollup rows selected by ``filters`` as ``(…) alias``.

    ``grain="day"`` reads only the day table (for weekly trends: month rows cannot be split into weeks).
    ``region=True``: the query reads ``region`` (e.g. groups by it). Otherwise, when the filter does not
    touch ``region`` either, whole months come from ``rollup_feedback_noregion_month`` and the source has no
    ``region`` column.
    """
    if region or needs_region(filters):
        return _source(filters, alias, "rollup_feedback_day", "rollup_feedback_month", grain)
    return _source(
        filters, alias, "rollup_feedback_day", "rollup_feedback_noregion_month", grain, drop_region=True
    )


def needs_region(filters: Filters) -> bool:
    """Does the filter (restrictions included) constrain ``region``?"""
    where, _ = filters.where(alias="r")
    return "r.region" in where


def aspect_source(
    filters: Filters, alias: str = "m", grain: str = "month", subtract: bool = False
) -> tuple[str, dict[str, object]]:
    """``(from_sql, params)``: the aspect rollup rows selected by ``filters`` as ``(…) alias``.

    ``subtract=True`` (for callers that ignore groups whose counts sum to zero): a month only partly inside
    the date range is read as the whole month minus the days outside the range when those are fewer than
    the days inside (a 90-day window then reads ~2 days of day rows instead of ~60); the minus rows carry
    negated counters. Integer counters subtract exactly; ``confidence_sum`` is left out of such a source.
    """
    month_table = "rollup_aspects_region_month" if needs_region(filters) else "rollup_aspects_month"
    subtracted = _ASPECT_COUNTERS if subtract else ()
    return _source(filters, alias, "rollup_aspects_day", month_table, grain, subtract=subtracted)


_ASPECT_COUNTERS = ("n", "positive", "neutral", "negative", "reviews", "reviews_top")


def grain_for(part: str) -> str:
    """The rollup grain a ``date_trunc`` part needs: weeks need days, months and quarters do not."""
    return "day" if part == "week" else "month"
