"""The annotation step as a pure batch function: texts in, review sentiment + aspect mentions out.

No database, no Streamlit, no global state besides the models loaded once per process: the local store
(:mod:`models.annotation_store`) and a distributed job (one :class:`Annotator` per worker) run exactly this
code and get the same results under the same :attr:`Annotator.version` key.

For each text:

1. :func:`models.text.normalize`; the cache key is ``text_hash`` = SHA-256 of the normalised text (first 32
   hex digits), so texts differing only in width or whitespace share one annotation;
2. review sentiment: ``score`` = P(positive) from the sentiment model; ``sentiment`` is ``positive`` when
   score ≥ :data:`POSITIVE_THRESHOLD` (0.6), ``negative`` when score ≤ :data:`NEGATIVE_THRESHOLD` (0.4),
   else ``neutral`` — the middle band holds mixed and uninformative reviews ("还行", "一般吧");
3. aspects: :class:`models.aspects.AspectMatcher` finds taxonomy terms and their clauses; the aspect
   polarity model gives each mention a polarity and confidence from its clause.

Duplicate texts in a batch are scored once; the models are called once per batch (two calls in all).
Empty texts (after normalisation) get ``neutral``, no score and no mentions, without a model call.

``pipeline_version`` = hash of (sentiment model version, aspect model version, matcher version + taxonomy
content hash, this module's :data:`PIPELINE_CODE_VERSION`): any change gives a new key, so cached results
are never served for a different pipeline.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from models.aspects import AspectMatch, AspectMatcher
from models.taxonomy import DEFAULT_TAXONOMY, Taxonomy, load_taxonomy, taxonomy_file
from models.text import normalize, split_clauses

POSITIVE_THRESHOLD = 0.6
NEGATIVE_THRESHOLD = 0.4
#: Bump when this module's logic changes in a way that changes results.
PIPELINE_CODE_VERSION = "1"
POLARITIES = ("positive", "negative", "neutral")


class SentimentScorer(Protocol):
    """What the annotator needs from a review-level model (``models.sentiment.SentimentModel``)."""

    version: str

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray: ...


class AspectScorer(Protocol):
    """What the annotator needs from an aspect polarity model (``models.aspect_polarity``)."""

    version: str

    def predict(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> list[tuple[str, float]]: ...


@dataclass(frozen=True, slots=True)
class Mention:
    """One aspect mention; spans are offsets into the normalised text."""

    aspect_path: str
    aspect_top: str
    term: str
    clause: str
    span_start: int
    span_end: int
    polarity: str
    confidence: float


@dataclass(frozen=True)
class TextAnnotation:
    """The annotation of one text: what the cache stores and the store expands per feedback."""

    text_hash: str
    sentiment: str
    score: float | None
    mentions: tuple[Mention, ...]

    def mentions_json(self) -> str:
        # explicit dicts: dataclasses.asdict deep-copies and costs ~10% of a first annotation pass
        items = [
            {
                "aspect_path": m.aspect_path,
                "aspect_top": m.aspect_top,
                "term": m.term,
                "clause": m.clause,
                "span_start": m.span_start,
                "span_end": m.span_end,
                "polarity": m.polarity,
                "confidence": m.confidence,
            }
            for m in self.mentions
        ]
        return json.dumps(items, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_cache(
        cls, text_hash: str, sentiment: str, score: float | None, mentions_json: str
    ) -> TextAnnotation:
        mentions = tuple(Mention(**item) for item in json.loads(mentions_json))
        return cls(text_hash=text_hash, sentiment=sentiment, score=score, mentions=mentions)

    def to_record(self, pipeline_version: str) -> dict[str, Any]:
        """The row shape of ``annotation_cache`` (also what a distributed job returns)."""
        return {
            "text_hash": self.text_hash,
            "pipeline_version": pipeline_version,
            "sentiment": self.sentiment,
            "score": self.score,
            "mentions": self.mentions_json(),
        }


def text_hash(normalized_text: str) -> str:
    """Cache key of a normalised text: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(normalized_text.encode("utf-8")).hexdigest()[:32]


def sentiment_label(score: float) -> str:
    """``positive`` / ``negative`` / ``neutral`` from P(positive) (thresholds in the module docstring)."""
    if score >= POSITIVE_THRESHOLD:
        return "positive"
    if score <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def pipeline_version(sentiment_version: str, aspect_version: str, matcher_version: str) -> str:
    """The key that identifies every result of one pipeline configuration (16 hex digits)."""
    parts = [f"code{PIPELINE_CODE_VERSION}", sentiment_version, aspect_version, matcher_version]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:16]


class Annotator:
    """Sentiment model + aspect matcher + aspect polarity model; call :meth:`annotate` on batches.

    Counters (``texts_scored``, ``model_calls``) say how much model work was done, for tests and benchmarks.
    """

    def __init__(
        self, sentiment_model: SentimentScorer, aspect_model: AspectScorer, matcher: AspectMatcher
    ) -> None:
        self.sentiment_model = sentiment_model
        self.aspect_model = aspect_model
        self.matcher = matcher
        self.version = pipeline_version(sentiment_model.version, aspect_model.version, matcher.version)
        self.components = {
            "sentiment_model": sentiment_model.version,
            "aspect_model": aspect_model.version,
            "matcher": matcher.version,
            "code": PIPELINE_CODE_VERSION,
        }
        self._lock = threading.Lock()
        self.texts_scored = 0
        self.model_calls = 0

    @property
    def taxonomy(self) -> Taxonomy:
        return self.matcher.taxonomy

    def annotate(self, texts: Sequence[str]) -> list[TextAnnotation]:
        """Annotate raw texts (normalised here); one result per input, in order."""
        normalized = [normalize(text) if isinstance(text, str) else "" for text in texts]
        unique: dict[str, int] = {}
        for text in normalized:
            if text and text not in unique:
                unique[text] = len(unique)
        results_by_text = self.annotate_normalized(list(unique))
        empty = TextAnnotation(text_hash=text_hash(""), sentiment="neutral", score=None, mentions=())
        return [results_by_text[unique[text]] if text else empty for text in normalized]

    def annotate_normalized(self, texts: Sequence[str]) -> list[TextAnnotation]:
        """Annotate texts that are already normalised and non-empty (no deduplication)."""
        if not texts:
            return []
        scores = np.asarray(self.sentiment_model.predict_proba(list(texts)), dtype=np.float64)
        if scores.shape != (len(texts),):
            raise ValueError(f"sentiment model returned shape {scores.shape} for {len(texts)} texts")
        matches: list[list[AspectMatch]] = []
        flat_texts: list[str] = []
        flat_spans: list[tuple[int, int]] = []
        for text in texts:
            found = self.matcher.find(text, split_clauses(text))
            matches.append(found)
            for match in found:
                flat_texts.append(text)
                flat_spans.append((match.start, match.end))
        polarities = self.aspect_model.predict(flat_texts, flat_spans) if flat_spans else []
        if len(polarities) != len(flat_spans):
            raise ValueError(
                f"aspect model returned {len(polarities)} results for {len(flat_spans)} mentions"
            )
        with self._lock:
            self.texts_scored += len(texts)
            self.model_calls += 1 + (1 if flat_spans else 0)

        results: list[TextAnnotation] = []
        cursor = 0
        for text, score, found in zip(texts, scores, matches, strict=True):
            mentions = []
            for match in found:
                polarity, confidence = polarities[cursor]
                cursor += 1
                if polarity not in POLARITIES:
                    raise ValueError(f"aspect model returned unknown polarity {polarity!r}")
                mentions.append(
                    Mention(
                        aspect_path=match.path,
                        aspect_top=match.top,
                        term=match.term,
                        clause=text[match.clause_start : match.clause_end],
                        span_start=match.start,
                        span_end=match.end,
                        polarity=polarity,
                        confidence=round(float(confidence), 4),
                    )
                )
            value = round(float(score), 4)
            results.append(
                TextAnnotation(
                    text_hash=text_hash(text),
                    sentiment=sentiment_label(value),
                    score=value,
                    mentions=tuple(mentions),
                )
            )
        return results


_ANNOTATORS: dict[tuple[str, str, str | None], Annotator] = {}
_TAXONOMIES: dict[tuple[str, str, int, int], Taxonomy] = {}
_ANNOTATORS_LOCK = threading.Lock()


def _current_taxonomy(name: str) -> Taxonomy:
    """Load a taxonomy, re-reading its file only when it changed (path, size, mtime)."""
    path = taxonomy_file(name)
    try:
        stat = path.stat()
    except OSError:
        return load_taxonomy(name)  # raises a TaxonomyError naming the problem
    key = (name, str(path), stat.st_size, stat.st_mtime_ns)
    cached = _TAXONOMIES.get(key)
    if cached is None:
        cached = _TAXONOMIES[key] = load_taxonomy(name)
    return cached


def load_annotator(
    taxonomy: str | Taxonomy = DEFAULT_TAXONOMY, *, sentiment_model_path: str | None = None
) -> Annotator:
    """The annotator for a taxonomy, built once per process (per taxonomy content) with the shipped models.

    The models are loaded once per process; an edited taxonomy file gives a new annotator (and version).
    """
    from models.aspect_polarity import load_aspect_model
    from models.sentiment import load_sentiment_model

    with _ANNOTATORS_LOCK:
        resolved = taxonomy if isinstance(taxonomy, Taxonomy) else _current_taxonomy(taxonomy)
        key = (resolved.name, resolved.content_hash(), sentiment_model_path)
        annotator = _ANNOTATORS.get(key)
        if annotator is None:
            annotator = Annotator(
                load_sentiment_model(sentiment_model_path), load_aspect_model(), AspectMatcher(resolved)
            )
            _ANNOTATORS[key] = annotator
        return annotator


def annotate_texts(texts: Sequence[str], taxonomy: str = DEFAULT_TAXONOMY) -> list[dict[str, Any]]:
    """Batch in, batch out, for distributed jobs: ``annotation_cache`` rows (text_hash, pipeline_version,
    sentiment, score, mentions JSON), one per input text, with the same key as the local pipeline."""
    annotator = load_annotator(taxonomy)
    return [result.to_record(annotator.version) for result in annotator.annotate(texts)]
