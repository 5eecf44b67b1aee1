"""One filter object for every query: turns itself into a SQL WHERE clause with bound parameters.

Values are always bound parameters; column names come only from ``FILTER_COLUMNS`` (a whitelist), so no
user-supplied string ever becomes SQL. Modelled on datasette's ``Filters.build_where_clauses``.

Data permissions: ``Filters.scope`` (a :class:`data.scope.Scope`) is the signed-in user's restriction to
brands, products or regions. :meth:`Filters.where` ALWAYS ANDs it in, on top of what the sidebar chose, so a
sidebar brand outside the scope selects no rows (never other rows). The URL round trip neither reads nor
writes it, and :meth:`Filters.with_` keeps it unless a caller names ``scope`` explicitly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace

from data.scope import SCOPE_COLUMNS, Scope

# Filter field -> column of the ``feedback`` table it constrains.
FILTER_COLUMNS: Mapping[str, str] = {
    "brands": "brand",
    "products": "product",
    "channels": "channel",
    "regions": "region",
    "dataset_ids": "dataset_id",
}

_LIST_SEPARATOR = "~"


# The characters DuckDB's trim() strips (measured on duckdb 2.0: the Unicode space separators).
_TRIMMED_CODE_POINTS = (0x20, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)


def text_present(alias: str = "f") -> str:
    """SQL that is true when ``alias.text`` holds a character that ``trim`` keeps.

    Same result as ``text IS NOT NULL AND length(trim(text)) > 0``, but ``trim`` of every text cost ~3x the
    scan at 1M rows (bench/run.py): a text whose first character is not one that ``trim`` strips is
    decided by that character alone, and ``trim`` only runs for texts that start with a space.
    """
    if not alias.isidentifier():
        raise ValueError(f"invalid table alias {alias!r}")
    text = f"{alias}.text"
    spaces = ", ".join(str(c) for c in _TRIMMED_CODE_POINTS)
    return (f"({text} IS NOT NULL AND ({text} <> '' AND unicode({text}) NOT IN ({spaces})"
            f" OR length(trim({text})) > 0))")


def _as_tuple(values: Iterable[object] | None) -> tuple:
    if values is None:
        return ()
    return tuple(sorted(set(values), key=str))


@dataclass(frozen=True)
class Filters:
    """What the user is looking at. Empty tuples mean "no restriction" on that field."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    brands: tuple[str, ...] = field(default_factory=tuple)
    products: tuple[str, ...] = field(default_factory=tuple)
    channels: tuple[str, ...] = field(default_factory=tuple)
    regions: tuple[str, ...] = field(default_factory=tuple)
    dataset_ids: tuple[int, ...] = field(default_factory=tuple)
    scope: Scope = field(default_factory=Scope)  # the user's data permissions; never from the URL

    def __post_init__(self) -> None:
        for name in FILTER_COLUMNS:
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        if not isinstance(self.scope, Scope):
            raise TypeError(f"scope must be a data.scope.Scope, got {type(self.scope).__name__}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")

    def with_(self, **changes: object) -> Filters:
        """Return a copy with some fields changed (the scope stays unless ``scope=`` is given)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def within(self, scope: Scope) -> Filters:
        """A copy whose scope is also limited by ``scope`` (the intersection: it can only narrow)."""
        combined = self.scope.intersect(scope)
        return self if combined == self.scope else replace(self, scope=combined)

    def where(
        self, alias: str = "", date_column: str = "created_at", region_column: bool = True
    ) -> tuple[str, dict[str, object]]:
        """Return ``(sql, params)``: a WHERE body (``TRUE`` when unrestricted) and its named parameters.

        ``alias`` prefixes column names (``"f"`` gives ``f.brand``); it must be a plain identifier.
        ``region_column=False`` is for tables without a ``region`` column but with ``dataset_id`` and
        ``feedback_id`` (``aspect_mentions``): region conditions become a semi-join on ``feedback``.
        The scope is always part of the result.
        """
        if alias and not alias.isidentifier():
            raise ValueError(f"invalid table alias {alias!r}")
        prefix = f"{alias}." if alias else ""
        if date_column not in {"created_at", "month", "week", "day"}:
            raise ValueError(f"date column {date_column!r} is not allowed")
        if self.scope.deny_all:
            return "FALSE", {}
        clauses: list[str] = []
        params: dict[str, object] = {}
        region_clauses: list[str] = []
        if self.date_from is not None:
            clauses.append(f"{prefix}{date_column} >= $date_from")
            params["date_from"] = dt.datetime.combine(self.date_from, dt.time.min)
        if self.date_to is not None:
            clauses.append(f"{prefix}{date_column} < $date_to")
            params["date_to"] = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min)
        restrictions = [(name, column, getattr(self, name)) for name, column in FILTER_COLUMNS.items()]
        restrictions += [
            (f"scope_{name}", column, getattr(self.scope, name)) for name, column in SCOPE_COLUMNS.items()
        ]
        for param, column, values in restrictions:
            if not values:
                continue
            params[param] = list(values)
            if column == "region" and not region_column:
                region_clauses.append(f"region IN (SELECT unnest(${param}))")
            else:
                clauses.append(f"{prefix}{column} IN (SELECT unnest(${param}))")
        if region_clauses:
            clauses.append(
                f"({prefix}dataset_id, {prefix}feedback_id) IN (SELECT dataset_id, feedback_id FROM feedback"
                f" WHERE {' AND '.join(region_clauses)})"
            )
        return (" AND ".join(clauses) if clauses else "TRUE"), params

    def scope_where(
        self, alias: str = "", dimensions: Iterable[str] = ("brands", "products")
    ) -> tuple[str, dict[str, object]]:
        """Only the scope, on the given dimensions: for tables outside ``feedback``'s shape (``products``)."""
        if alias and not alias.isidentifier():
            raise ValueError(f"invalid table alias {alias!r}")
        prefix = f"{alias}." if alias else ""
        if self.scope.deny_all:
            return "FALSE", {}
        clauses: list[str] = []
        params: dict[str, object] = {}
        for name in dimensions:
            column = SCOPE_COLUMNS[name]
            values = getattr(self.scope, name)
            if values:
                clauses.append(f"{prefix}{column} IN (SELECT unnest($scope_{name}))")
                params[f"scope_{name}"] = list(values)
        return (" AND ".join(clauses) if clauses else "TRUE"), params

    def is_unrestricted(self) -> bool:
        return self == Filters()

    # --- URL query string round trip -------------------------------------------------------------
    def to_query_params(self) -> dict[str, str]:
        """Encode as flat string parameters for ``st.query_params`` (empty fields are omitted)."""
        out: dict[str, str] = {}
        if self.date_from:
            out["from"] = self.date_from.isoformat()
        if self.date_to:
            out["to"] = self.date_to.isoformat()
        for name in FILTER_COLUMNS:
            values = getattr(self, name)
            if values:
                out[name] = _LIST_SEPARATOR.join(str(v) for v in values)
        return out

    @classmethod
    def from_query_params(cls, params: Mapping[str, str]) -> Filters:
        """Decode what :meth:`to_query_params` wrote; malformed parts are ignored, never raised."""

        def parse_date(value: str | None) -> dt.date | None:
            if not value:
                return None
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                return None

        values: dict[str, object] = {
            "date_from": parse_date(params.get("from")),
            "date_to": parse_date(params.get("to")),
        }
        if values["date_from"] and values["date_to"] and values["date_from"] > values["date_to"]:
            values["date_to"] = None
        for f in fields(cls):
            if f.name not in FILTER_COLUMNS:
                continue
            raw = params.get(f.name)
            if not raw:
                continue
            items = [item for item in str(raw).split(_LIST_SEPARATOR) if item]
            if f.name == "dataset_ids":
                items = [int(item) for item in items if item.isdigit()]  # type: ignore[misc]
            values[f.name] = tuple(items)
        return cls(**values)  # type: ignore[arg-type]

    def describe(self, lang: str = "zh") -> str:
        """Describe the filter in words for chart captions.

        Example: ``华为, 京东+天猫, 2025-01-01 至 2025-06-30``.
        """
        parts: list[str] = []
        for name in ("brands", "products", "channels", "regions"):
            values = getattr(self, name)
            if values:
                parts.append("+".join(str(v) for v in values))
        if self.date_from or self.date_to:
            start = self.date_from.isoformat() if self.date_from else "…"
            end = self.date_to.isoformat() if self.date_to else "…"
            parts.append(f"{start} 至 {end}" if lang == "zh" else f"{start} to {end}")
        if self.dataset_ids:
            label = "数据集" if lang == "zh" else "datasets"
            parts.append(f"{label} {', '.join(str(d) for d in self.dataset_ids)}")
        if not self.scope.is_unrestricted():
            label = "权限范围" if lang == "zh" else "access"
            parts.append(f"{label} {self.scope.describe(lang)}")
        if not parts:
            return "全部数据" if lang == "zh" else "all data"
        return ", ".join(parts)
