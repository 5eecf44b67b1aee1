"""What the sidebar filters can offer: the values present in the store.

One query per list, all read-only. The sidebar narrows product options to the chosen brands in Python
(:meth:`FilterOptions.products_for`), so changing a brand costs no extra query.

Every list is read through ``Filters(scope=scope).where()``: a user restricted to 华为 is not even offered the
names of other brands, their products, channels only they use, or datasets holding none of 华为's rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from analytics.filters import Filters
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


def _strings(
    con: duckdb.DuckDBPyConnection, column: str, where: str, params: dict[str, object]
) -> tuple[str, ...]:
    # ``column`` comes from the fixed calls below, never from user input.
    rows = con.execute(
        f"SELECT DISTINCT {column} FROM feedback "
        f"WHERE {column} IS NOT NULL AND trim({column}) <> '' AND {where} ORDER BY 1",
        params,
    ).fetchall()
    return tuple(str(r[0]) for r in rows)


def filter_options(con: duckdb.DuckDBPyConnection, scope: Scope | None = None) -> FilterOptions:
    """Collect the option lists for the sidebar filters from the rows ``scope`` lets through."""
    where, params = Filters(scope=scope or Scope()).where()
    span = con.execute(
        f"SELECT min(created_at), max(created_at) FROM feedback WHERE {where}", params
    ).fetchall()[0]
    date_min = span[0].date() if span[0] is not None else None
    date_max = span[1].date() if span[1] is not None else None
    products = con.execute(
        "SELECT DISTINCT brand, product FROM feedback "
        f"WHERE product IS NOT NULL AND trim(product) <> '' AND {where} ORDER BY product, brand",
        params,
    ).fetchall()
    datasets = con.execute(
        "SELECT dataset_id, name, kind, is_demo FROM datasets "
        f"WHERE dataset_id IN (SELECT DISTINCT dataset_id FROM feedback WHERE {where}) ORDER BY dataset_id",
        params,
    ).fetchall()
    return FilterOptions(
        date_min=date_min,
        date_max=date_max,
        brands=_strings(con, "brand", where, params),
        products=tuple((b, str(p)) for b, p in products),
        channels=_strings(con, "channel", where, params),
        datasets=tuple(DatasetOption(int(i), str(n), str(k), bool(d)) for i, n, k, d in datasets),
        regions=_strings(con, "region", where, params),
    )
