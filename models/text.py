"""Text normalisation and sentence/clause splitting for Chinese feedback.

Every downstream step (segmentation, aspect matching, sentiment, stored character spans) works on the output
of :func:`normalize`; spans are always offsets into the *normalised* text. :func:`normalize_with_offsets`
returns, for callers that must point back into the raw text, the raw index of every normalised character.

What :func:`normalize` does, character by character and without changing meaning:

- width folding: every character whose Unicode NFKC form is a *single* different character is replaced by it
  (full-width ASCII ``ＡＢＣ１２３，！？`` → ``ABC123,!?``, ideographic space → space, half-width katakana →
  full-width, CJK compatibility ideographs → unified ones). Characters whose NFKC form is several characters
  (``…``, ``™``, ``①``) are kept as they are, so no character ever expands;
- control and invisible format characters (``\\x00``–``\\x1f`` except whitespace, ``\\x7f``, zero-width space,
  BOM, bidi marks) are removed; the zero-width joiner and variation selectors are kept because emoji
  sequences need them;
- every run of whitespace (spaces, tabs, newlines) becomes one space; leading/trailing whitespace is dropped;
- emoji and kaomoji are kept: they carry sentiment.
"""

from __future__ import annotations

import itertools
import re
import sys
import unicodedata
from functools import lru_cache

# Characters removed outright: C0/C1 controls that are not whitespace, and invisible format characters.
_KEEP_FORMAT = {"\u200d"}  # zero-width joiner: part of emoji sequences
_WHITESPACE_RE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _translation_table() -> dict[int, str | None]:
    """Map code points to their single-character NFKC form, or to None (removed). Built once (~0.1 s)."""
    table: dict[int, str | None] = {}
    for code in range(0x110000 if sys.maxunicode > 0xFFFF else 0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        category = unicodedata.category(char)
        if category == "Cc":
            if not char.isspace():
                table[code] = None
            continue
        if category == "Cf":
            if char not in _KEEP_FORMAT:
                table[code] = None
            continue
        if category in ("Cn", "Co", "Cs"):
            continue
        folded = unicodedata.normalize("NFKC", char)
        if folded != char and len(folded) == 1:
            table[code] = folded
    return table


def normalize(text: str) -> str:
    """Return ``text`` width-folded, with control characters removed and whitespace collapsed.

    Idempotent: ``normalize(normalize(x)) == normalize(x)``. Never longer than the input.
    """
    if not text:
        return ""
    folded = text.translate(_translation_table())
    return _WHITESPACE_RE.sub(" ", folded).strip()


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Return ``(normalize(text), offsets)`` where ``offsets[i]`` is the raw index of normalised char ``i``.

    A collapsed whitespace run maps to the index of its first character. Slower than :func:`normalize`
    (a Python loop); meant for highlighting a stored span in the raw text, not for batch work.
    """
    table = _translation_table()
    out: list[str] = []
    offsets: list[int] = []
    pending_space: int | None = None
    for index, char in enumerate(text):
        mapped = table.get(ord(char), char)
        if mapped is None:
            continue
        if mapped.isspace():
            if pending_space is None:
                pending_space = index
            continue
        if pending_space is not None:
            if out:
                out.append(" ")
                offsets.append(pending_space)
            pending_space = None
        out.append(mapped)
        offsets.append(index)
    return "".join(out), offsets


# ---------------------------------------------------------------------------------------------------------
# Sentence and clause splitting
# ---------------------------------------------------------------------------------------------------------

#: End of a sentence (after normalisation full-width ！？；～ are already ASCII).
SENTENCE_DELIMITERS = "。！？!?；;…~\n"
#: End of a clause: sentence delimiters plus commas and colons (not the enumeration comma 、, which joins
#: aspects sharing one opinion: "屏幕、电池都不错").
CLAUSE_DELIMITERS = SENTENCE_DELIMITERS + ",，:："

#: Contrast markers. At a clause boundary they naturally begin the clause they introduce.
CONTRAST_MARKERS: tuple[str, ...] = ("但是", "不过", "就是", "可是", "然而", "只是", "但", "可惜")
#: The subset safe to split on *inside* a clause ("屏幕很好但是电池不行"). 不过/就是/只是 are not split
#: mid-clause: "比不过", "这就是我要的", "只是一般" are common and not contrasts.
_MID_CLAUSE_CONTRAST_RE = re.compile(r"(?<!不)(?:但是|可是|然而|但(?!是|凡))")

_SENTENCE_RE = re.compile(f"[^{re.escape(SENTENCE_DELIMITERS)}]+")
_CLAUSE_RE = re.compile(f"[^{re.escape(CLAUSE_DELIMITERS)}]+")


def _is_latin_or_digit(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in "+-.%#")


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _split_on_spaces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` at spaces (Chinese reviews use them as commas: "屏幕好 电池差").

    A space next to a Latin letter or digit does not split ("华为 Mate 60 很好", "iPhone 15 不错").
    """
    pieces: list[tuple[int, int]] = []
    piece_start = start
    for index in range(start + 1, end - 1):
        if (
            text[index] == " "
            and not _is_latin_or_digit(text[index - 1])
            and not _is_latin_or_digit(text[index + 1])
        ):
            span = _trimmed(text, piece_start, index)
            if span:
                pieces.append(span)
            piece_start = index + 1
    span = _trimmed(text, piece_start, end)
    if span:
        pieces.append(span)
    return pieces


def _split_on_contrast(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split before a mid-clause contrast marker so the marker starts the clause it introduces."""
    cuts = [m.start() for m in _MID_CLAUSE_CONTRAST_RE.finditer(text, start, end) if m.start() > start]
    bounds = [start, *cuts, end]
    return [span for a, b in itertools.pairwise(bounds) if (span := _trimmed(text, a, b))]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return ``[start, end)`` character spans of the sentences of ``text`` (delimiters excluded)."""
    return [span for m in _SENTENCE_RE.finditer(text) if (span := _trimmed(text, m.start(), m.end()))]


def split_clauses(text: str) -> list[tuple[int, int]]:
    """Return ``[start, end)`` character spans of the clauses of ``text``, in order, delimiters excluded.

    Splits on sentence punctuation, commas and colons, on spaces not next to Latin letters or digits, and
    before a contrast marker inside a clause (但是/可是/然而/但); a contrast marker (但是/不过/就是/可是/
    然而/只是) always sits at the start of the clause it introduces. Meant for normalised text, but safe on
    any string.
    """
    clauses: list[tuple[int, int]] = []
    for match in _CLAUSE_RE.finditer(text):
        for start, end in _split_on_spaces(text, match.start(), match.end()):
            clauses.extend(_split_on_contrast(text, start, end))
    return clauses


def clause_at(clauses: list[tuple[int, int]], position: int) -> tuple[int, int] | None:
    """Return the clause span containing character ``position``, or None (position on a delimiter)."""
    lo, hi = 0, len(clauses)
    while lo < hi:
        mid = (lo + hi) // 2
        start, end = clauses[mid]
        if position < start:
            hi = mid
        elif position >= end:
            lo = mid + 1
        else:
            return clauses[mid]
    return None
