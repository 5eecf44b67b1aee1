"""What the sidebar filters can offer: the values present in the store.

One query per list, all read-only. The sidebar narrows product options to the chosen brands in Python
(:meth:`FilterOptions.products_for`), so changing a brand costs no extra query.

Every list is read through ``Filters(scope=scope).where()``: a user restricted to 华为 is not even offered the
names of other brands, their products, channels only they use, or datasets holding none of 华为's rows.

When the rollups are current (:func:`analytics.rollup_source.use_rollups`), the lists come from
``rollup_feedback_month`` (same column names, one row per month and group: ~15x fewer rows than ``feedback``
at 1M); its rows with ``n > 0`` are exactly the groups that have feedback rows (annotation deltas have
``n = 0``), and ``first_at``/``last_at`` hold each group's date span.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from analytics.filters import Filters
from analytics.rollup_source import use_rollups
from data.scope import Scope


@dataclass(frozen=True)
class DatasetOption:
    dataset_id: int
    name: str
    kind: str
    is_demo: bool


@dataclass(frozen=True)
class FilterOptions:
    """Values present in ``feedback`` (NULLs and empty strings left out), sorted."""

    date_min: dt.date | None
    date_max: dt.date | None
    brands: tuple[str, ...]
    products: tuple[tuple[str | None, str], ...]  # (brand, product)
    channels: tuple[str, ...]
    datasets: tuple[DatasetOption, ...]
    regions: tuple[str, ...] = ()

    def products_for(self, brands: Iterable[str]) -> tuple[str, ...]:
        """Product names of the given brands (all products when ``brands`` is empty)."""
        chosen = set(brands)
        names = {product for brand, product in self.products if not chosen or brand in chosen}
        return tuple(sorted(names))

    @property
    def dataset_ids(self) -> tuple[int, ...]:
        return tuple(d.dataset_id for d in self.datasets)

    def dataset_label(self, dataset_id: int) -> str:
        for d in self.datasets:
            if d.dataset_id == dataset_id:
                return d.name
        return str(dataset_id)


@dataclass(frozen=True)
class _Source:
    """Where the lists are read: ``table`` aliased ``f``, ``rows`` restricts it to real groups."""

    table: str
    rows: str
    first: str
    last: str


_BASE = _Source("feedback f", "TRUE", "f.created_at", "f.created_at")
_ROLLUP = _Source("rollup_feedback_month f", "f.n > 0", "f.first_at", "f.last_at")


def _strings(
    con: duckdb.DuckDBPyConnection, source: _Source, column: str, where: str, params: dict[str, object]
) -> tuple[str, ...]:
    # ``column`` comes from the fixed calls below, never from user input.
    rows = con.execute(
        f"SELECT DISTINCT f.{column} FROM {source.table} "
        f"WHERE f.{column} IS NOT NULL AND trim(f.{column}) <> '' AND {source.rows} AND {where} ORDER BY 1",
        params,
    ).fetchall()
    return tuple(str(r[0]) for r in rows)


def filter_options(con: duckdb.DuckDBPyConnection, scope: Scope | None = None) -> FilterOptions:
    """Collect the option lists for the sidebar filters from the rows ``scope`` lets through."""
    where, params = Filters(scope=scope or Scope()).where(alias="f")
    source = _ROLLUP if use_rollups(con) else _BASE
    span = con.execute(
        f"SELECT min({source.first}), max({source.last}) FROM {source.table} WHERE {source.rows} AND {where}",
        params,
    ).fetchall()[0]
    date_min = span[0].date() if span[0] is not None else None
    date_max = span[1].date() if span[1] is not None else None
    products = con.execute(
        f"SELECT DISTINCT f.brand, f.product FROM {source.table} "
        f"WHERE f.product IS NOT NULL AND trim(f.product) <> '' AND {source.rows} AND {where} "
        "ORDER BY f.product, f.brand",
        params,
    ).fetchall()
    datasets = con.execute(
        "SELECT dataset_id, name, kind, is_demo FROM datasets WHERE dataset_id IN "
        f"(SELECT DISTINCT f.dataset_id FROM {source.table} WHERE {source.rows} AND {where})"
        " ORDER BY dataset_id",
        params,
    ).fetchall()
    return FilterOptions(
        date_min=date_min,
        date_max=date_max,
        brands=_strings(con, source, "brand", where, params),
        products=tuple((b, str(p)) for b, p in products),
        channels=_strings(con, source, "channel", where, params),
        datasets=tuple(DatasetOption(int(i), str(n), str(k), bool(d)) for i, n, k, d in datasets),
        regions=_strings(con, source, "region", where, params),
    )
