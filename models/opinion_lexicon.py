"""Opinion lexicon: positive/negative opinion words, negation, degree and contrast words, and a scanner.

The word lists live in ``models/resources/opinion_*.txt`` (one word a line, ``#`` comments):

- ``opinion_positive.txt`` / ``opinion_negative.txt``: opinion words. A word listed in both is *ambiguous*
  (大, 小, 高, 低: "价格高" is bad, "分辨率高" good); it is still reported as an opinion, with polarity 0,
  and the learned model decides from its context.
- ``opinion_complaint.txt``: complaint terms (发热, 烫手, 卡顿, 闪退, 漏光 …), words that name a problem by
  themselves and are often the aspect term itself. They are negative opinion words (merged into the
  negative list) and also kept in :attr:`Lexicon.complaints`; negated ("没有发热", "不卡") they read positive.
- ``opinion_negation.txt``: negators (不, 没, 不太, 不是很 …) flipping the next opinion word.
- ``opinion_degree.txt``: ``word<TAB>weight`` intensifiers and softeners (很 1.5, 有点 0.7 …); an
  ambiguous word after an "excess" degree word (太, 过, 过于) counts as negative (太大, 过高).
- ``opinion_contrast.txt``: contrast markers (但是, 不过 …); the clause after the marker dominates.
- ``opinion_neutral_shadow.txt``: compounds that contain an opinion character but are not opinions
  (软件, 快门, 大小); longest match finds them first, so 软 in 软件 is not read as "soft".

:meth:`Lexicon.scan` segments a span by forward maximum matching against one dict (one lookup per
candidate length per character, independent of the lexicon size) and resolves negation and degree scope.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

RESOURCE_DIR = Path(__file__).resolve().parent / "resources"
LEXICON_FILES: tuple[str, ...] = (
    "opinion_positive.txt",
    "opinion_negative.txt",
    "opinion_complaint.txt",
    "opinion_negation.txt",
    "opinion_degree.txt",
    "opinion_contrast.txt",
    "opinion_neutral_shadow.txt",
)

POSITIVE = "positive"
NEGATIVE = "negative"
AMBIGUOUS = "ambiguous"
NEGATION = "negation"
DEGREE = "degree"
CONTRAST = "contrast"
SHADOW = "shadow"

#: Degree words meaning "too much": with an ambiguous word they make it negative (太大, 过高, 太少).
EXCESS_DEGREES = frozenset({"太", "过", "过于", "太过"})

#: Characters allowed between a negator/degree word and the opinion word it modifies (不 太 好, 没 那么 好).
SCOPE_GAP = 2


class LexiconError(ValueError):
    """A lexicon file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class Token:
    """One lexicon match: ``text[start:end]`` is ``word`` of ``kind`` (degree words carry their weight)."""

    word: str
    start: int
    end: int
    kind: str
    weight: float = 1.0


@dataclass(frozen=True)
class OpinionHit:
    """An opinion word with the negation and degree that govern it.

    ``polarity`` is +1/-1 after negation (0 for ambiguous words), ``base`` the word's own polarity.
    """

    word: str
    start: int
    end: int
    base: int
    polarity: int
    negator: str | None
    degree: str | None
    degree_weight: float


@dataclass(frozen=True)
class ScanResult:
    """Everything the scanner found in one span."""

    opinions: tuple[OpinionHit, ...]
    negators: tuple[Token, ...]
    degrees: tuple[Token, ...]
    contrasts: tuple[Token, ...]


def _read_words(path: Path) -> list[tuple[str, float]]:
    if not path.is_file():
        raise LexiconError(f"Lexicon file {path} is missing; restore it from the repository.")
    entries: list[tuple[str, float]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        weight = 1.0
        if len(parts) == 2:
            try:
                weight = float(parts[1])
            except ValueError as exc:
                raise LexiconError(f"{path}, line {number}: weight {parts[1]!r} is not a number.") from exc
        elif len(parts) > 2:
            raise LexiconError(f"{path}, line {number}: expected 'word' or 'word<TAB>weight'.")
        entries.append((parts[0].strip(), weight))
    return entries


class Lexicon:
    """The opinion lexicon as one longest-match dictionary."""

    def __init__(self, resource_dir: Path = RESOURCE_DIR) -> None:
        positive = {w for w, _ in _read_words(resource_dir / "opinion_positive.txt")}
        complaints = {w for w, _ in _read_words(resource_dir / "opinion_complaint.txt")}
        negative = {w for w, _ in _read_words(resource_dir / "opinion_negative.txt")} | complaints
        entries: dict[str, tuple[str, float]] = {}
        for word, _ in _read_words(resource_dir / "opinion_neutral_shadow.txt"):
            entries[word] = (SHADOW, 1.0)
        for word, weight in _read_words(resource_dir / "opinion_degree.txt"):
            entries[word] = (DEGREE, weight)
        for word, _ in _read_words(resource_dir / "opinion_contrast.txt"):
            entries[word] = (CONTRAST, 1.0)
        for word, _ in _read_words(resource_dir / "opinion_negation.txt"):
            entries[word] = (NEGATION, 1.0)
        for word in positive | negative:
            kind = (
                AMBIGUOUS
                if word in positive and word in negative
                else (POSITIVE if word in positive else NEGATIVE)
            )
            entries[word] = (kind, 1.0)
        self.entries = entries
        self.positive = frozenset(positive - negative)
        self.negative = frozenset(negative - positive)
        #: Complaint terms (negative words naming a problem, e.g. 发热, 卡顿): see ``opinion_complaint.txt``.
        self.complaints = frozenset(complaints - positive)
        self.max_len = max(len(word) for word in entries)
        # Longest word per first character: most characters start no word and are skipped at once.
        self.first_max: dict[str, int] = {}
        for word in entries:
            self.first_max[word[0]] = max(self.first_max.get(word[0], 0), len(word))
        digest = hashlib.sha256()
        for name in LEXICON_FILES:
            digest.update(name.encode())
            digest.update((resource_dir / name).read_bytes())
        self.digest = digest.hexdigest()

    def tokens(self, text: str, start: int = 0, end: int | None = None) -> list[Token]:
        """Lexicon words in ``text[start:end]`` by forward maximum matching (unmatched characters skipped)."""
        stop = len(text) if end is None else end
        entries = self.entries
        first_max = self.first_max
        found: list[Token] = []
        i = start
        while i < stop:
            longest = first_max.get(text[i])
            if longest is None:
                i += 1
                continue
            for length in range(min(longest, stop - i), 0, -1):
                hit = entries.get(text[i : i + length])
                if hit is not None:
                    found.append(Token(text[i : i + length], i, i + length, hit[0], hit[1]))
                    i += length
                    break
            else:
                i += 1
        return found

    def scan(self, text: str, start: int = 0, end: int | None = None) -> ScanResult:
        """Opinion words in ``text[start:end]`` with the negator and degree word in scope of each.

        A negator or degree word governs the next opinion word when at most :data:`SCOPE_GAP` unmatched
        characters separate consecutive tokens ("不太好", "没那么好", "很不好"). Two negators cancel.
        """
        opinions: list[OpinionHit] = []
        negators: list[Token] = []
        degrees: list[Token] = []
        contrasts: list[Token] = []
        pending_neg: list[Token] = []
        pending_deg: list[Token] = []
        last_end = -1
        for token in self.tokens(text, start, end):
            if last_end >= 0 and token.start - last_end > SCOPE_GAP:
                pending_neg, pending_deg = [], []
            last_end = token.end
            kind = token.kind
            if kind == NEGATION:
                negators.append(token)
                pending_neg.append(token)
            elif kind == DEGREE:
                degrees.append(token)
                pending_deg.append(token)
            elif kind == CONTRAST:
                contrasts.append(token)
                pending_neg, pending_deg = [], []
            elif kind == SHADOW:
                pending_neg, pending_deg = [], []
            else:
                base = 1 if kind == POSITIVE else -1 if kind == NEGATIVE else 0
                flip = -1 if len(pending_neg) % 2 else 1
                degree = pending_deg[-1] if pending_deg else None
                if base == 0 and degree is not None and degree.word in EXCESS_DEGREES and flip == 1:
                    base = -1
                opinions.append(
                    OpinionHit(
                        word=token.word,
                        start=token.start,
                        end=token.end,
                        base=base,
                        polarity=base * flip,
                        negator="".join(t.word for t in pending_neg) or None,
                        degree=degree.word if degree else None,
                        degree_weight=degree.weight if degree else 1.0,
                    )
                )
                pending_neg, pending_deg = [], []
        return ScanResult(tuple(opinions), tuple(negators), tuple(degrees), tuple(contrasts))


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """The packaged lexicon, read once per process."""
    return Lexicon()
