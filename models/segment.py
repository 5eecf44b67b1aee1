"""Chinese word segmentation: jieba with Tingjian's domain dictionaries, initialised once per process.

The user dictionaries in ``models/resources/userdict_*.txt`` (one word per line, jieba's format: ``word
[freq] [tag]``) cover phones and electronics, food delivery, customer service and hotels. Taxonomy terms are
added with :meth:`Segmenter.add_words` when an aspect matcher is built, so aspect terms come out as tokens.

Segmentation runs with jieba's HMM off: on review text it is ~1.4x faster, and unknown-word discovery by the
HMM mostly glues opinion words onto nouns ("屏幕清晰"), which hurts aspect matching. Paddle mode is never
used (it tries to install paddlepaddle at run time).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jieba

RESOURCES_DIR = Path(__file__).resolve().parent / "resources"
USER_DICTIONARIES: tuple[Path, ...] = tuple(sorted(RESOURCES_DIR.glob("userdict_*.txt")))

Token = tuple[str, int, int]  # (word, start, end) with end exclusive, offsets into the given text


class SegmenterError(RuntimeError):
    """jieba is missing or a dictionary cannot be read; the message says what to do."""


def _import_jieba() -> object:
    try:
        import jieba
    except ImportError as exc:  # pragma: no cover - jieba is pinned in requirements.txt
        raise SegmenterError("jieba is not installed: run `pip install -r requirements.txt`") from exc
    jieba.setLogLevel(logging.WARNING)
    return jieba


class Segmenter:
    """A private jieba tokenizer (not jieba's global one) with the domain dictionaries loaded."""

    def __init__(self, user_dictionaries: Sequence[Path] = USER_DICTIONARIES) -> None:
        jieba_module = _import_jieba()
        self._tokenizer: jieba.Tokenizer = jieba_module.Tokenizer()  # type: ignore[attr-defined]
        self._tokenizer.initialize()
        self._lock = threading.Lock()
        self._added: set[str] = set()
        for path in user_dictionaries:
            self.load_dictionary(path)

    def load_dictionary(self, path: Path) -> None:
        """Add every word of a jieba user dictionary file."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SegmenterError(
                f"{path}: cannot read the user dictionary ({exc}); it must be UTF-8 text"
            ) from None
        words: list[tuple[str, int | None, str | None]] = []
        for number, line in enumerate(lines, start=1):
            parts = line.strip().split()
            if not parts or parts[0].startswith("#"):
                continue
            freq: int | None = None
            tag: str | None = None
            if len(parts) >= 2:
                if not parts[1].isdigit():
                    raise SegmenterError(
                        f"{path}, line {number}: expected 'word [frequency] [tag]', got {line.strip()!r}"
                    )
                freq = int(parts[1])
            if len(parts) >= 3:
                tag = parts[2]
            words.append((parts[0], freq, tag))
        with self._lock:
            for word, freq, tag in words:
                self._tokenizer.add_word(word, freq, tag)
                self._added.add(word)

    def add_words(self, words: Iterable[str]) -> None:
        """Make sure each word (e.g. a taxonomy term) is kept whole. Idempotent and thread-safe."""
        with self._lock:
            for word in words:
                if len(word) >= 2 and word not in self._added:
                    self._tokenizer.add_word(word)
                    self._added.add(word)

    def tokens(self, text: str) -> list[Token]:
        """Return ``(word, start, end)`` for every token of ``text`` (HMM off)."""
        return list(self._tokenizer.tokenize(text, HMM=False))

    def cut(self, text: str) -> list[str]:
        """Return the words of ``text`` (HMM off)."""
        return self._tokenizer.lcut(text, HMM=False)


_BUILD_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _shared_segmenter() -> Segmenter:
    return Segmenter()


def get_segmenter() -> Segmenter:
    """The process-wide segmenter (built once: ~1 s for jieba's dictionary plus the user dictionaries)."""
    with _BUILD_LOCK:
        return _shared_segmenter()
