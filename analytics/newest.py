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
#: The rows read so far grow at most this much per slice (no hit yet: by this much).
MAX_GROWTH = 16
#: ... and at least this much (a slice is never tiny next to what was read).
MIN_GROWTH = 1.25
#: The next slice is sized to find this many times the hits still missing at the hit rate so far.
HIT_MARGIN = 1.3
#: Slices before the rest of the scope is read in one query.
MAX_SLICES = 6


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
    narrow: bool = False,
    review: tuple[str, dict[str, object]] | None = None,
    first: int | None = None,
    expected: int | None = None,
) -> pd.DataFrame:
    """The first ``need`` rows (``columns`` of ``table alias``) in the order :func:`order_sql` among those
    that satisfy ``scope AND match``.

    ``scope`` should be cheap (the filter's columns: no text); ``match`` is the expensive test, evaluated
    only on the slices read; each comes with its own parameters. ``since`` / ``before``: the scope's date
    bounds (``created_at >= since``, ``< before``) when it has them, so the slices start at its newest rows.
    ``narrow``: the scope restricts more than dates (a brand, a model, a province), so ``match`` is tested
    only on the rows that pass it (:func:`late_test`). ``review``: a condition (and its parameters) on each
    row's review, the ``feedback`` row ``r`` with its ``dataset_id`` and ``feedback_id`` (a province for
    ``aspect_mentions``, which has no region); a row's review has the row's ``created_at``, so the semi-join
    reads only the reviews of the slice's dates, not every review that passes. ``first``: rows of the first
    slice (default ``FIRST_SLICE_FACTOR × need``; more where hits are known to be rare). ``expected``: about
    how many rows pass ``scope AND match`` (the rollups' count): the first slice is then sized from that hit
    rate (:func:`first_slice_rows`), so a narrow filter does not spend a query on a slice too small.
    """
    if need < 1:
        raise ValueError(f"need must be at least 1, got {need}")
    if table not in TABLES or not alias.isidentifier():
        raise ValueError(f"newest_rows reads one of {TABLES} under a plain alias, not {table!r} {alias!r}")
    params = {**scope_params, **match_params, **(review[1] if review else {})}
    test = late_test(match, alias) if narrow else match
    select = f"SELECT {columns} FROM {table} {alias} WHERE {scope} AND {test}"
    order = order_sql(alias)

    def read(lower: bool, upper: bool, slice_params: dict[str, object]) -> pd.DataFrame:
        where = _date_slice(alias, lower, upper)
        if review is not None:
            where += (f" AND ({alias}.dataset_id, {alias}.feedback_id) IN (SELECT r.dataset_id, r.feedback_id"
                      f" FROM feedback r WHERE ({review[0]}) AND {_date_slice('r', lower, upper)})")
        return con.execute(f"{select} AND {where} {order} LIMIT $tj_n", {**params, **slice_params}).df()

    frames: list[pd.DataFrame] = []
    found = 0
    upper: object = None  # rows from this date on were read already (None: none yet)
    rows = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
    newer = _rows_since(con, table, before) if before is not None else 0  # rows after the scope: skipped
    k = max(FIRST_SLICE_FACTOR * need, first or 0, first_slice_rows(rows - newer, expected, need))
    for _ in range(MAX_SLICES):
        cut = _cut(con, table, rows, newer + k)
        if cut is None or (since is not None and cut <= since) or (upper is not None and cut >= upper):
            break  # the rest of the scope (or an undated prefix, or storage out of date order): one query
        slice_params = {"tj_lo": cut, "tj_n": need - found}
        if upper is not None:
            slice_params["tj_hi"] = upper
        frames.append(read(True, upper is not None, slice_params))
        found += len(frames[-1])
        if found >= need:
            return _concat(frames)
        upper = cut
        k = next_slice_rows(k, found, need)
    rest_params: dict[str, object] = {"tj_n": need - found}
    if upper is not None:
        rest_params["tj_hi"] = upper
    frames.append(read(False, upper is not None, rest_params))
    return _concat(frames)


def _date_slice(alias: str, lower: bool, upper: bool) -> str:
    """``created_at`` in a slice: from ``$tj_lo`` (``lower``), before ``$tj_hi`` (``upper``; undated rows
    belong to the last, open-ended slice, which has no lower bound)."""
    if lower:
        return f"{alias}.created_at >= $tj_lo" + (f" AND {alias}.created_at < $tj_hi" if upper else "")
    return f"({alias}.created_at < $tj_hi OR {alias}.created_at IS NULL)" if upper else "TRUE"


def first_slice_rows(rows: int, expected: int | None, need: int) -> int:
    """Rows of a first slice that holds ``HIT_MARGIN × need`` hits when ``expected`` of ``rows`` rows are
    hits (0 when that is not known or nothing is expected). The rows outside the scope's dates count as
    rows, so a date range makes the estimate low, never high: at worst a second slice follows."""
    if not expected or expected <= 0 or rows <= 0:
        return 0
    return math.ceil(HIT_MARGIN * need * rows / expected)


def next_slice_rows(read: int, found: int, need: int) -> int:
    """How many of the newest rows the next slice should reach back to, after ``read`` rows gave ``found``
    of the ``need`` hits: enough for ``HIT_MARGIN`` times the missing hits at the hit rate so far (the
    rows read only grow by the factor that takes), at least ``MIN_GROWTH`` and at most ``MAX_GROWTH``
    times ``read``; ``MAX_GROWTH`` times while nothing was found.

    Only speed depends on it: too small costs one more slice (a query), too large reads rows that are not
    needed (the slice's ``LIMIT`` does not stop the scan threads early).
    """
    if found <= 0:
        return read * MAX_GROWTH
    growth = 1 + HIT_MARGIN * (need - found) / found
    return math.ceil(read * min(MAX_GROWTH, max(MIN_GROWTH, growth)))


def late_test(match: str, alias: str) -> str:
    """``match`` written so that DuckDB evaluates it above the scan, on the rows that passed the scope.

    DuckDB pushes a test of one column (``contains(f.text, …)``) into the scan, where it runs on every
    row of each vector before the other filters have thinned it out: for a model's 5 % of the rows the
    whole text test still ran on all of them (measured at 1M reviews: 115 ms; tested above the scan, on the
    rows the scan lets through, 58 ms). A test that names a second column stays above the scan. The
    second column is ``feedback_id``, declared NOT NULL in both :data:`TABLES` (and equal to a feedback row's
    in the attached Parquet views), so ``… OR feedback_id IS NULL`` adds no row: the result is ``match``'s.
    """
    return f"(({match}) OR {alias}.feedback_id IS NULL)"


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    non_empty = [frame for frame in frames if not frame.empty]
    if not non_empty:
        return frames[0]
    return pd.concat(non_empty, ignore_index=True) if len(non_empty) > 1 else non_empty[0]
