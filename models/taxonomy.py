"""Aspect taxonomies: hierarchical, user-editable YAML files of aspects, their terms and opinion words.

A taxonomy file (``models/taxonomies/<name>.yaml``, shipped; a user copy in :func:`user_taxonomy_dir`
overrides it) looks like::

    label: 手机                      # shown in the UI
    label_en: Phone
    aspects:
      - name: 电池                   # node name; its path is the names from the root joined by "/"
        name_en: Battery
        terms: [电池, 电量]          # words that mention the aspect (the name itself always counts)
        opinions:                    # typical opinion words, for people and for lexicon features
          positive: [耐用]
          negative: [不耐用]
        children:
          - name: 续航
            terms: [续航, 待机, 电池耐用, 掉电, 耗电]

Rules checked by :func:`parse_taxonomy` (errors name the file, the node path and the problem): known keys
only; non-empty names without "/"; unique names among siblings; at most three levels; every term maps to
one node only (after normalisation; Latin terms are matched case-insensitively).

The top level of a path (its first segment) is the aspect's category on the dashboards (``aspect_top``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from data.config import PROJECT_ROOT
from models.text import normalize

SHIPPED_DIR = Path(__file__).resolve().parent / "taxonomies"
USER_DIR_ENV_VAR = "TINGJIAN_TAXONOMY_DIR"
DEFAULT_TAXONOMY = "phone"
MAX_DEPTH = 3
PATH_SEPARATOR = "/"

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_FILE_KEYS = {"label", "label_en", "description", "aspects"}
_NODE_KEYS = {"name", "name_en", "terms", "opinions", "children"}
_OPINION_KEYS = {"positive", "negative"}


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used; the message names the file, the node and the problem."""


@dataclass(frozen=True)
class AspectNode:
    """One aspect. ``path`` is e.g. ``电池/续航``; ``terms`` include the name, normalised, case kept."""

    name: str
    path: str
    terms: tuple[str, ...]
    name_en: str | None = None
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    children: tuple[AspectNode, ...] = ()

    @property
    def top(self) -> str:
        return self.path.split(PATH_SEPARATOR, 1)[0]

    @property
    def depth(self) -> int:
        return self.path.count(PATH_SEPARATOR) + 1

    def to_dict(self) -> dict[str, Any]:
        """The node as it is written in YAML (the name is not repeated among the terms)."""
        out: dict[str, Any] = {"name": self.name}
        if self.name_en:
            out["name_en"] = self.name_en
        extra_terms = [term for term in self.terms if term != self.name]
        if extra_terms:
            out["terms"] = extra_terms
        if self.positive or self.negative:
            out["opinions"] = {"positive": list(self.positive), "negative": list(self.negative)}
        if self.children:
            out["children"] = [child.to_dict() for child in self.children]
        return out


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy. ``source`` is the file it came from (None when built from text)."""

    name: str
    label: str
    roots: tuple[AspectNode, ...]
    label_en: str | None = None
    description: str | None = None
    source: Path | None = field(default=None, compare=False)

    def nodes(self) -> Iterator[AspectNode]:
        """Every node, depth first, parents before children."""
        stack = list(reversed(self.roots))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def paths(self) -> list[str]:
        return [node.path for node in self.nodes()]

    def node(self, path: str) -> AspectNode:
        for node in self.nodes():
            if node.path == path:
                return node
        raise KeyError(f"taxonomy {self.name!r} has no aspect {path!r}")

    def term_index(self) -> dict[str, str]:
        """Map every term (normalised, Latin letters lower-cased) to the path of the node it mentions."""
        return {_term_key(term): node.path for node in self.nodes() for term in node.terms}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label}
        if self.label_en:
            out["label_en"] = self.label_en
        if self.description:
            out["description"] = self.description
        out["aspects"] = [root.to_dict() for root in self.roots]
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False, width=110)

    def content_hash(self) -> str:
        """A short hash of the content that matters for annotation (part of the pipeline version)."""
        canonical = json.dumps(
            {"name": self.name, **self.to_dict()}, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _term_key(term: str) -> str:
    """The form a term is matched in: normalised, Latin letters lower-cased."""
    return normalize(term).lower()


# ---------------------------------------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.term_owner: dict[str, str] = {}

    def fail(self, where: str, problem: str) -> TaxonomyError:
        return TaxonomyError(f"{self.source}: {where}: {problem}")

    def strings(self, value: object, where: str, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(where, f"'{key}' must be a list of words, got {type(value).__name__}")
        out: list[str] = []
        for item in value:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)  # YAML reads 5G as a string but 360 as a number
            if not isinstance(item, str) or not normalize(item):
                raise self.fail(where, f"'{key}' contains {item!r}; every entry must be a non-empty word")
            word = normalize(item)
            if word not in out:
                out.append(word)
        return tuple(out)

    def node(self, raw: object, parent_path: str, depth: int, index: int) -> AspectNode:
        where = f"aspect #{index + 1} under {parent_path or 'the top level'}"
        if not isinstance(raw, Mapping):
            raise self.fail(where, f"each aspect must be a mapping with a 'name', got {type(raw).__name__}")
        unknown = set(raw) - _NODE_KEYS
        if unknown:
            allowed = sorted(_NODE_KEYS)
            raise self.fail(where, f"unknown key(s) {sorted(map(str, unknown))}; allowed: {allowed}")
        name = raw.get("name")
        if not isinstance(name, str) or not normalize(name):
            raise self.fail(where, "missing or empty 'name'")
        name = normalize(name)
        if PATH_SEPARATOR in name:
            raise self.fail(where, f"name {name!r} must not contain '{PATH_SEPARATOR}' (it separates levels)")
        path = f"{parent_path}{PATH_SEPARATOR}{name}" if parent_path else name
        where = f"aspect {path}"
        if depth > MAX_DEPTH:
            raise self.fail(where, f"too deep: at most {MAX_DEPTH} levels are supported")
        name_en = raw.get("name_en")
        if name_en is not None and not isinstance(name_en, str):
            raise self.fail(where, "'name_en' must be text")

        terms: list[str] = []
        keys: set[str] = set()
        for word in (name, *self.strings(raw.get("terms"), where, "terms")):
            key = _term_key(word)
            owner = self.term_owner.get(key)
            if owner is not None and owner != path:
                raise self.fail(
                    where, f"term {word!r} is already used by aspect {owner}; a term maps to one aspect"
                )
            self.term_owner[key] = path
            if key not in keys:
                keys.add(key)
                terms.append(word)

        opinions = raw.get("opinions") or {}
        if not isinstance(opinions, Mapping):
            raise self.fail(where, "'opinions' must be a mapping with 'positive' and/or 'negative' lists")
        unknown = set(opinions) - _OPINION_KEYS
        if unknown:
            found = sorted(map(str, unknown))
            raise self.fail(where, f"unknown opinion key(s) {found}; use positive/negative")
        positive = self.strings(opinions.get("positive"), where, "opinions.positive")
        negative = self.strings(opinions.get("negative"), where, "opinions.negative")
        both = sorted(set(positive) & set(negative))
        if both:
            raise self.fail(where, f"opinion word(s) {both} are listed as both positive and negative")

        raw_children = raw.get("children") or []
        if not isinstance(raw_children, list):
            raise self.fail(where, "'children' must be a list of aspects")
        children = self.siblings(raw_children, path, depth + 1)
        return AspectNode(
            name=name,
            path=path,
            terms=tuple(terms),
            name_en=name_en.strip() if isinstance(name_en, str) and name_en.strip() else None,
            positive=positive,
            negative=negative,
            children=children,
        )

    def siblings(self, raw_nodes: Sequence[object], parent_path: str, depth: int) -> tuple[AspectNode, ...]:
        nodes = [self.node(raw, parent_path, depth, i) for i, raw in enumerate(raw_nodes)]
        seen: set[str] = set()
        for node in nodes:
            if node.name in seen:
                raise self.fail(f"aspect {node.path}", "two sibling aspects have the same name")
            seen.add(node.name)
        return tuple(nodes)


def parse_taxonomy(data: object, *, name: str, source: str | Path | None = None) -> Taxonomy:
    """Validate a taxonomy read from YAML (a mapping) and return it; raise :class:`TaxonomyError`."""
    where = str(source) if source is not None else f"taxonomy {name!r}"
    parser = _Parser(where)
    if not _NAME_RE.match(name):
        raise TaxonomyError(
            f"{where}: the taxonomy name {name!r} must be lower-case letters, digits or '_' (e.g. 'phone')"
        )
    if not isinstance(data, Mapping):
        raise TaxonomyError(f"{where}: the file must be a mapping with 'label' and 'aspects'")
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise TaxonomyError(
            f"{where}: unknown top-level key(s) {sorted(map(str, unknown))}; allowed: {sorted(_FILE_KEYS)}"
        )
    label = data.get("label")
    if not isinstance(label, str) or not label.strip():
        raise TaxonomyError(f"{where}: missing 'label' (the name shown in the UI, e.g. 手机)")
    aspects = data.get("aspects")
    if not isinstance(aspects, list) or not aspects:
        raise TaxonomyError(f"{where}: 'aspects' must be a non-empty list of aspects")
    roots = parser.siblings(aspects, "", 1)
    label_en = data.get("label_en")
    description = data.get("description")
    return Taxonomy(
        name=name,
        label=label.strip(),
        roots=roots,
        label_en=label_en.strip() if isinstance(label_en, str) and label_en.strip() else None,
        description=description.strip() if isinstance(description, str) and description.strip() else None,
        source=Path(source) if source is not None else None,
    )


def parse_taxonomy_text(text: str, *, name: str, source: str | Path | None = None) -> Taxonomy:
    """Parse YAML text (e.g. from the editor) and validate it."""
    where = str(source) if source is not None else f"taxonomy {name!r}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TaxonomyError(f"{where}: {position}not valid YAML ({problem})") from None
    return parse_taxonomy(data, name=name, source=source)


# ---------------------------------------------------------------------------------------------------------
# Files: shipped taxonomies and user copies
# ---------------------------------------------------------------------------------------------------------


def user_taxonomy_dir() -> Path:
    """Writable folder of user-edited taxonomies (``$TINGJIAN_TAXONOMY_DIR``, else ``data/taxonomies``)."""
    value = os.environ.get(USER_DIR_ENV_VAR)
    return Path(value).expanduser() if value else PROJECT_ROOT / "data" / "taxonomies"


def _user_dir(user_dir: Path | None) -> Path:
    return user_dir if user_dir is not None else user_taxonomy_dir()


def taxonomy_file(name: str, user_dir: Path | None = None) -> Path:
    """The file :func:`load_taxonomy` reads for ``name``: the user copy if any, else the shipped one."""
    user_copy = _user_dir(user_dir) / f"{name}.yaml"
    if user_copy.is_file():
        return user_copy
    return SHIPPED_DIR / f"{name}.yaml"


def available_taxonomies(user_dir: Path | None = None) -> list[str]:
    """Names of every taxonomy, shipped or user-made, sorted with the default first."""
    names = {path.stem for path in SHIPPED_DIR.glob("*.yaml")}
    folder = _user_dir(user_dir)
    if folder.is_dir():
        names.update(path.stem for path in folder.glob("*.yaml") if _NAME_RE.match(path.stem))
    return sorted(names, key=lambda n: (n != DEFAULT_TAXONOMY, n))


def is_user_copy(name: str, user_dir: Path | None = None) -> bool:
    return (_user_dir(user_dir) / f"{name}.yaml").is_file()


def load_taxonomy(name: str = DEFAULT_TAXONOMY, user_dir: Path | None = None) -> Taxonomy:
    """Load and validate the taxonomy ``name`` (user copy first); raise :class:`TaxonomyError`."""
    if not _NAME_RE.match(name):
        raise TaxonomyError(f"taxonomy name {name!r} is not valid (lower-case letters, digits, '_')")
    path = taxonomy_file(name, user_dir)
    if not path.is_file():
        known = ", ".join(available_taxonomies(user_dir))
        raise TaxonomyError(f"no taxonomy named {name!r} ({path} does not exist); known: {known}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaxonomyError(f"{path}: cannot read the file ({exc}); save it as UTF-8 text") from None
    return parse_taxonomy_text(text, name=name, source=path)


def save_taxonomy(
    taxonomy_or_text: Taxonomy | str, name: str | None = None, user_dir: Path | None = None
) -> Path:
    """Validate and write a user copy (overriding the shipped file); return its path.

    Accepts a :class:`Taxonomy` or YAML text (then ``name`` is required). The text is written as given, so
    comments survive; it is validated first and nothing is written if it is invalid.
    """
    if isinstance(taxonomy_or_text, Taxonomy):
        taxonomy = taxonomy_or_text
        text = taxonomy.to_yaml()
    else:
        if name is None:
            raise TaxonomyError("save_taxonomy needs a name when given YAML text")
        text = taxonomy_or_text
        taxonomy = parse_taxonomy_text(text, name=name)
    folder = _user_dir(user_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{taxonomy.name}.yaml"
    temporary = target.with_suffix(".yaml.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)
    return target


def reset_taxonomy(name: str, user_dir: Path | None = None) -> bool:
    """Delete the user copy of ``name`` so the shipped file applies again; True if one was deleted."""
    user_copy = _user_dir(user_dir) / f"{name}.yaml"
    if user_copy.is_file():
        user_copy.unlink()
        return True
    return False
