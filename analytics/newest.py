"""The newest rows (feedback, aspect mentions) that pass an expensive test (text search), in date slices.

Feedback is stored in ``created_at`` order (each import sorted by date, ``data/ingest_sql.py``), so a
condition ``created_at >= cut`` lets DuckDB skip every older row group through its zone maps. A plain
``ORDER BY created_at DESC LIMIT n`` over a selective text test does not get that far: its dynamic filter
only tightens once ``n`` hits are found, and the scan threads have by then started on most row groups
(measured at 1M reviews: 7 of 9 row groups read for a search with 583 hits).

:func:`newest_rows` therefore tests the rows of the newest ``k`` rows of the store first (the cut date
found from the dates alone), and widens the slice (``created_at`` in ``[next cut, previous cut)``) by a
factor estimated from the hit rate so far until ``need`` hits are found or the store is exhausted.
Slices are disjoint prefixes of the order ``created_at DESC NULLS LAST,
feedback_id DESC`` (a tie on ``created_at`` never straddles a cut), so the rows returned are exactly the
``need`` first rows of the full query.
"""

from __future__ import annotations

import math

import pandas as pd
from duckdb import DuckDBPyConnection

#: Tables stored in ``created_at`` order (per import / annotation batch) that :func:`newest_rows` reads.
TABLES = ("feedback", "aspect_mentions")
#: The first slice holds this many times ``need`` rows of the table.
FIRST_SLICE_FACTOR = 16
#: A slice grows at most this much over the previous one (and at least twofold).
MAX_GROWTH = 16
#: Slices before the rest of the scope is read in one query.
MAX_SLICES = 4


def order_sql(alias: str = "f") -> str:
    """The newest-first order of every row read: ``created_at DESC NULLS LAST, feedback_id DESC``."""
    return f"ORDER BY {alias}.created_at DESC NULLS LAST, {alias}.feedback_id DESC"


def _cut(con: DuckDBPyConnection, table: str, rows: int, k: int) -> object:
    """A date about ``k`` rows back from the newest of ``table`` (``rows`` rows): the ``created_at`` stored
    at row ``rows − k`` (one row read by rowid, ~0.5 ms), else, when that row has no date or is gone, the
    exact ``k``-th newest date (a Top-N over the dates, 5–25 ms at 1M rows). None: fewer rows, or no date
    there (then no date prefix holds ``k`` rows).

    Any date is a correct cut (slices are date ranges); ``k`` only sizes the slice, and on storage sorted by
    date the row ``rows − k`` holds about the ``k``-th newest date. A slice's hit rate accounts for the
    filter's selectivity when the next slice is sized.
    """
    if k > rows:
        return None
    found = con.execute(
        f"SELECT created_at FROM {table} WHERE rowid = $tj_row", {"tj_row": rows - k}
    ).fetchall()
    if found and found[0][0] is not None:
        return found[0][0]
    exact = con.execute(
        f"SELECT created_at FROM {table} ORDER BY created_at DESC NULLS LAST LIMIT 1 OFFSET $tj_k",
        {"tj_k": k - 1},
    ).fetchall()
    return exact[0][0] if exact else None


def _rows_since(con: DuckDBPyConnection, table: str, when: object) -> int:
    """Rows of ``table`` with ``created_at >= when`` (a scan of the newest dates alone, < 1 ms at 1M)."""
    sql = f"SELECT count(*) FROM {table} WHERE created_at >= $tj_when"
    return int(con.execute(sql, {"tj_when": when}).fetchall()[0][0])


def newest_rows(
    con: DuckDBPyConnection,
    columns: str,
    scope: str,
    scope_params: dict[str, object],
    match: str,
    match_params: dict[str, object],
    need: int,
    since: object = None,
    before: object = None,
    table: str = "feedback",
    alias: str = "f",
) -> pd.DataFrame:
    """The first ``need`` rows (``columns`` of ``table alias``) in the order :func:`order_sql` among those
    that satisfy ``scope AND match``.

    ``scope`` should be cheap (the filter's columns: no text); ``match`` is the expensive test, evaluated
    only on the slices read; each comes with its own parameters. ``since`` / ``before``: the scope's date
    bounds (``created_at >= since``, ``< before``) when it has them, so the slices start at its newest rows.
    """
    if need < 1:
        raise ValueError(f"need must be at least 1, got {need}")
    if table not in TABLES or not alias.isidentifier():
        raise ValueError(f"newest_rows reads one of {TABLES} under a plain alias, not {table!r} {alias!r}")
    params = {**scope_params, **match_params}
    select = f"SELECT {columns} FROM {table} {alias} WHERE {scope} AND {match}"
    order = order_sql(alias)
    frames: list[pd.DataFrame] = []
    found = 0
    upper: object = None  # rows from this date on were read already (None: none yet)
    rows = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
    newer = _rows_since(con, table, before) if before is not None else 0  # rows after the scope: skipped
    k = FIRST_SLICE_FACTOR * need
    for _ in range(MAX_SLICES):
        cut = _cut(con, table, rows, newer + k)
        if cut is None or (since is not None and cut <= since) or (upper is not None and cut >= upper):
            break  # the rest of the scope (or an undated prefix, or storage out of date order): one query
        bounds = f"{alias}.created_at >= $tj_lo"
        slice_params = {**params, "tj_lo": cut, "tj_n": need - found}
        if upper is not None:
            bounds += f" AND {alias}.created_at < $tj_hi"
            slice_params["tj_hi"] = upper
        frame = con.execute(f"{select} AND {bounds} {order} LIMIT $tj_n", slice_params).df()
        frames.append(frame)
        found += len(frame)
        if found >= need:
            return _concat(frames)
        upper = cut
        growth = MAX_GROWTH if found == 0 else math.ceil(2 * need / found)
        k *= min(MAX_GROWTH, max(2, growth))
    rest_params = {**params, "tj_n": need - found}
    rest = ""
    if upper is not None:
        rest = f"AND ({alias}.created_at < $tj_hi OR {alias}.created_at IS NULL)"
        rest_params["tj_hi"] = upper
    frames.append(con.execute(f"{select} {rest} {order} LIMIT $tj_n", rest_params).df())
    return _concat(frames)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    non_empty = [frame for frame in frames if not frame.empty]
    if not non_empty:
        return frames[0]
    return pd.concat(non_empty, ignore_index=True) if len(non_empty) > 1 else non_empty[0]
