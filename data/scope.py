"""Data permissions: the brands, products and regions one user may see.

A :class:`Scope` is pure data (no Streamlit, no SQL engine). ``data.users`` stores one per user;
``analytics.filters.Filters`` carries one and ANDs it into every WHERE clause it builds, so a restricted
user's queries, searches and exports can only ever read rows inside the scope. Empty tuples mean "no
restriction" on that dimension; ``deny_all`` means "no row at all" (the intersection of two scopes that have
nothing in common, or a session with no signed-in user).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Scope dimension -> the column of ``feedback`` (and of tables that copy it) it restricts.
SCOPE_COLUMNS: Mapping[str, str] = {"brands": "brand", "products": "product", "regions": "region"}


def _clean(values: Iterable[object] | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):  # a lone string is one value, not its characters
        values = (values,)
    return tuple(sorted({str(v).strip() for v in values if str(v).strip()}))


@dataclass(frozen=True)
class Scope:
    """What a user may see; hashable, so it can be part of a cache key."""

    brands: tuple[str, ...] = field(default_factory=tuple)
    products: tuple[str, ...] = field(default_factory=tuple)
    regions: tuple[str, ...] = field(default_factory=tuple)
    deny_all: bool = False

    def __post_init__(self) -> None:
        for name in SCOPE_COLUMNS:
            object.__setattr__(self, name, _clean(getattr(self, name)))

    @classmethod
    def nothing(cls) -> Scope:
        """A scope that lets no row through."""
        return cls(deny_all=True)

    def is_unrestricted(self) -> bool:
        return not self.deny_all and not (self.brands or self.products or self.regions)

    def allows(self, dimension: str, value: object) -> bool:
        """Whether a single value of ``dimension`` (``brands``, ``products``, ``regions``) is inside."""
        if self.deny_all:
            return False
        allowed = getattr(self, dimension)
        return not allowed or (value is not None and str(value) in allowed)

    def intersect(self, other: Scope) -> Scope:
        """The rows both scopes allow. Disjoint restrictions give :meth:`nothing`, never "everything"."""
        if self.deny_all or other.deny_all:
            return Scope.nothing()
        merged: dict[str, tuple[str, ...]] = {}
        for name in SCOPE_COLUMNS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine and theirs:
                common = tuple(sorted(set(mine) & set(theirs)))
                if not common:
                    return Scope.nothing()
                merged[name] = common
            else:
                merged[name] = mine or theirs
        return Scope(**merged)

    def to_dict(self) -> dict[str, list[str]]:
        """The non-empty dimensions, for the users file."""
        return {name: list(getattr(self, name)) for name in SCOPE_COLUMNS if getattr(self, name)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, object] | None) -> Scope:
        """Read what :meth:`to_dict` wrote; unknown keys raise ``ValueError`` naming them."""
        if not raw:
            return cls()
        unknown = sorted(set(raw) - set(SCOPE_COLUMNS))
        if unknown:
            raise ValueError(f"unknown restriction key(s) {unknown}; allowed: {sorted(SCOPE_COLUMNS)}")
        values: dict[str, tuple[str, ...]] = {}
        for name in SCOPE_COLUMNS:
            item = raw.get(name)
            if item is None:
                continue
            if isinstance(item, str):
                item = [item]
            if not isinstance(item, list | tuple):
                raise ValueError(f"restriction {name!r} must be a list of names, got {type(item).__name__}")
            values[name] = tuple(str(v) for v in item)
        return cls(**values)

    def describe(self, lang: str = "zh") -> str:
        """In words: ``华为`` / ``华为; 广东``; ``全部`` (unrestricted) or ``无`` (deny all)."""
        if self.deny_all:
            return "无" if lang == "zh" else "none"
        parts = ["+".join(getattr(self, name)) for name in SCOPE_COLUMNS if getattr(self, name)]
        if not parts:
            return "全部" if lang == "zh" else "all"
        return "; ".join(parts)
