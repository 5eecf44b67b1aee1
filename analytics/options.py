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
from analytics.rollup_source import feedback_source, use_rollups
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


def _present(column: str) -> str:
    """SQL: ``column`` holds a name (not NULL, not blank as DuckDB's ``trim`` sees it)."""
    return f"({column} IS NOT NULL AND trim({column}) <> '')"


def _lists_sql(rollups: bool, scope: Scope) -> tuple[str, dict[str, object]]:
    """One statement of three plain parts, each row tagged by ``part``:

    - ``g``: one row per (dataset, brand, product, channel[, region]) group with its first and last date and
      whether brand, product, channel (and region) hold a name;
    - ``r`` (current rollups only): the region names;
    - ``d``: every ``datasets`` row (a handful), kept in Python when its id has rows.

    Plain GROUP BYs under one UNION ALL cost less than grouping sets, sorting and joins in SQL (at this size
    DuckDB's pipelines, not the rows, dominate); the lists are built and sorted in Python.

    With current rollups the groups come from :func:`analytics.rollup_source.feedback_source` (the month
    table without ``region`` unless the scope restricts regions: ~30x fewer rows) and the regions from
    ``rollup_feedback_month``: rows with ``n > 0`` are exactly the groups that have feedback rows (annotation
    deltas have ``n = 0``), ``first_at``/``last_at`` hold each group's date span. Otherwise everything comes
    from ``feedback`` (the regions as part of the groups).
    """
    filters = Filters(scope=scope)
    where, params = filters.where(alias="f")
    names = ", ".join(_present(c) for c in ("brand", "product", "channel"))
    datasets = ("SELECT 'd', dataset_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
                " name, kind, is_demo FROM datasets")
    if not rollups:
        groups = f"""SELECT 'g' AS part, dataset_id, brand, product, channel, region, min(created_at),
                            max(created_at), {names}, {_present("region")}, NULL AS name, NULL AS kind,
                            NULL::BOOLEAN AS demo
                     FROM feedback f WHERE {where} GROUP BY ALL"""
        return f"{groups}\nUNION ALL {datasets}", params
    source, source_params = feedback_source(filters, "f")  # the same scope parameters as ``where``
    params.update(source_params)
    groups = f"""SELECT 'g' AS part, dataset_id, brand, product, channel, NULL AS region, min(first_at),
                        max(last_at), {names}, FALSE, NULL AS name, NULL AS kind, NULL::BOOLEAN AS demo
                 FROM {source} WHERE f.n > 0 GROUP BY ALL"""
    regions = f"""SELECT 'r', NULL, NULL, NULL, NULL, region, NULL, NULL, NULL, NULL, NULL, TRUE, NULL, NULL,
                         NULL
                  FROM rollup_feedback_month f WHERE f.n > 0 AND {where}
                  GROUP BY region HAVING {_present("region")}"""
    return f"{groups}\nUNION ALL {regions}\nUNION ALL {datasets}", params


def filter_options(con: duckdb.DuckDBPyConnection, scope: Scope | None = None) -> FilterOptions:
    """Collect the option lists for the sidebar filters from the rows ``scope`` lets through.

    Sorted in Python: code-point order of ``str`` is DuckDB's (byte-wise UTF-8) ``ORDER BY`` order; products
    by product, then brand (a missing brand last), as before.
    """
    sql, params = _lists_sql(use_rollups(con), scope or Scope())
    rows = con.execute(sql, params).fetchall()
    # groups: dataset, brand, product, channel, region, first, last, then brand/product/channel/region named
    groups = [r[1:] for r in rows if r[0] == "g"]
    firsts = [g[5] for g in groups if g[5] is not None]
    lasts = [g[6] for g in groups if g[6] is not None]
    dataset_ids = {g[0] for g in groups}
    regions = {str(g[4]) for g in groups if g[10]} | {str(r[5]) for r in rows if r[0] == "r"}
    products = {(g[1], str(g[2])) for g in groups if g[8]}
    datasets = sorted((r[1], r[12], r[13], r[14]) for r in rows if r[0] == "d" and r[1] in dataset_ids)
    return FilterOptions(
        date_min=min(firsts).date() if firsts else None,
        date_max=max(lasts).date() if lasts else None,
        brands=tuple(sorted({str(g[1]) for g in groups if g[7]})),
        products=tuple(sorted(products, key=lambda bp: (bp[1], bp[0] is None, bp[0] or ""))),
        channels=tuple(sorted({str(g[3]) for g in groups if g[9]})),
        datasets=tuple(DatasetOption(int(i), str(n), str(k), bool(d)) for i, n, k, d in datasets),
        regions=tuple(sorted(regions)),
    )
