"""Aspect term matching: find every mention of a taxonomy aspect in a normalised text.

One compiled regular expression per taxonomy, built as a trie of all terms (so the regex engine follows one
branch per character instead of trying every term), scans each text once: leftmost-longest, non-overlapping
matches. Then three checks keep precision:

- a Latin/digit term ("5G", "NFC", "oled") must not sit inside a longer Latin word or number;
- a one-character term ("卡", "贵", "吵") must be a whole jieba token, or a token made of a degree/negation
  word plus the term ("太卡", "很贵", "不吵"); so "卡" in "信用卡" or "贵" in "贵州" is not a mention. Only
  the clauses holding such a candidate are segmented: segmenting every review would cost more than the
  rest of the pipeline together (jieba, HMM off: ~1,000 reviews/s of 100 characters on one core);
- in one clause, an aspect is reported once, and a parent aspect is dropped when one of its children is
  mentioned in the same clause ("电池续航很好" → 电池/续航 only).

Every mention carries the clause that contains it (see :func:`models.text.split_clauses`): aspect polarity is
decided from that clause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from models.segment import Segmenter, get_segmenter
from models.taxonomy import AspectNode, Taxonomy
from models.text import clause_at, split_clauses

#: Bump when the matching rules change (it is part of the annotation pipeline version).
MATCHER_VERSION = "1"

#: Prefixes that may be glued to a one-character term inside one jieba token ("太卡", "很快", "不贵").
_TOKEN_PREFIXES: frozenset[str] = frozenset(
    {"很", "太", "超", "好", "真", "挺", "较", "蛮", "特", "巨", "贼", "老", "偏", "过", "最", "更", "还"}
    | {"也", "都", "不", "没", "非常", "比较", "有点", "有些", "稍", "略", "极", "忒"}
)
_ASCII_UPPER_TO_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def _is_latin_or_digit(char: str) -> bool:
    return char.isascii() and char.isalnum()


@dataclass(frozen=True)
class AspectMatch:
    """One aspect mention: ``text[start:end]`` is the term, ``text[clause_start:clause_end]`` its clause."""

    path: str
    term: str
    start: int
    end: int
    clause_start: int
    clause_end: int

    @property
    def top(self) -> str:
        return self.path.split("/", 1)[0]


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, longest first at each position, built as a prefix trie."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        ends_here = "" in node
        if len(branches) == 1 and not ends_here:
            return branches[0]
        # greedy "?" tries the longer continuation first, so each match is the longest term there
        return "(?:" + "|".join(branches) + (")?" if ends_here else ")")

    return emit(trie)


class AspectMatcher:
    """Finds taxonomy aspects in normalised texts. Build once per taxonomy; thread-safe to use."""

    def __init__(self, taxonomy: Taxonomy, segmenter: Segmenter | None = None) -> None:
        self.taxonomy = taxonomy
        self._term_to_path = taxonomy.term_index()
        if not self._term_to_path:
            raise ValueError(f"taxonomy {taxonomy.name!r} has no terms")
        self._regex = re.compile(_trie_pattern(self._term_to_path))
        self._parents = {node.path: {child.path for child in _descendants(node)} for node in taxonomy.nodes()}
        self._segmenter = segmenter if segmenter is not None else get_segmenter()
        self._segmenter.add_words(term for term in self._term_to_path if not term.isascii())
        self.version = f"matcher{MATCHER_VERSION}-{taxonomy.name}-{taxonomy.content_hash()}"

    def find(self, text: str, clauses: list[tuple[int, int]] | None = None) -> list[AspectMatch]:
        """Return the aspect mentions in ``text`` (normalised), in text order."""
        if not text:
            return []
        if clauses is None:
            clauses = split_clauses(text)
        lowered = text.translate(_ASCII_UPPER_TO_LOWER)
        clause_tokens: dict[int, dict[int, tuple[str, int]]] = {}
        found: list[AspectMatch] = []
        for match in self._regex.finditer(lowered):
            start, end = match.span()
            term = match.group()
            clause = clause_at(clauses, start)
            if clause is None or end > clause[1]:
                continue
            if term.isascii():
                if (start > 0 and _is_latin_or_digit(text[start - 1])) or (
                    end < len(text) and _is_latin_or_digit(text[end])
                ):
                    continue
            elif len(term) == 1:
                tokens = clause_tokens.get(clause[0])
                if tokens is None:
                    tokens = clause_tokens[clause[0]] = self._token_index(text, clause)
                if not self._whole_token(tokens, term, start):
                    continue
            found.append(
                AspectMatch(
                    path=self._term_to_path[term],
                    term=text[start:end],
                    start=start,
                    end=end,
                    clause_start=clause[0],
                    clause_end=clause[1],
                )
            )
        return self._deduplicate(found)

    def _token_index(self, text: str, clause: tuple[int, int]) -> dict[int, tuple[str, int]]:
        """Map every character position of the clause to (token, token start), offsets into ``text``.

        Only the clause is segmented: jieba splits its input at punctuation and spaces anyway, so the
        tokens inside a clause are the same as when segmenting the whole text, at a fraction of the cost.
        """
        offset = clause[0]
        index: dict[int, tuple[str, int]] = {}
        for word, start, end in self._segmenter.tokens(text[clause[0] : clause[1]]):
            for position in range(start, end):
                index[offset + position] = (word, offset + start)
        return index

    @staticmethod
    def _whole_token(tokens: dict[int, tuple[str, int]], term: str, position: int) -> bool:
        token, token_start = tokens.get(position, ("", position))
        if token == term:
            return True
        # the term must end the token, and what precedes it must be a degree/negation word
        return token_start + len(token) == position + 1 and token[: position - token_start] in _TOKEN_PREFIXES

    def _deduplicate(self, found: list[AspectMatch]) -> list[AspectMatch]:
        by_clause: dict[int, list[AspectMatch]] = {}
        for mention in found:
            by_clause.setdefault(mention.clause_start, []).append(mention)
        kept: list[AspectMatch] = []
        for mentions in by_clause.values():
            paths = {mention.path for mention in mentions}
            seen: set[str] = set()
            for mention in mentions:
                if mention.path in seen or self._parents[mention.path] & paths:
                    continue
                seen.add(mention.path)
                kept.append(mention)
        kept.sort(key=lambda mention: mention.start)
        return kept


def _descendants(node: AspectNode) -> list[AspectNode]:
    out: list[AspectNode] = []
    stack = list(node.children)
    while stack:
        child = stack.pop()
        out.append(child)
        stack.extend(child.children)
    return out
