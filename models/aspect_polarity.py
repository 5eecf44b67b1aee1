"""Aspect-level polarity: positive / negative / neutral for one aspect mention, with a confidence and reasons.

The decision is made from the clause that mentions the aspect (clauses from :func:`models.text.split_clauses`,
so a contrast marker 但是/不过/就是 starts the clause it introduces). Each mention becomes a sparse bag
of named features, scored by a multinomial logistic regression trained by :mod:`models.train_aspect`:

- character 1–3-grams of the aspect's clause with the aspect masked (``Ⓐ``), and of a short window around it;
- opinion words from :mod:`models.opinion_lexicon` in the clause, with their polarity after negation
  (不/没/不太/不是 …) and degree (很/太/有点 …), the nearest one to the aspect and its side;
- contrast: whether the clause starts with a marker, or the next clause does (then this clause is the
  concession: "外观好看，但是续航太差");
- when the clause holds no opinion word, the lexicon evidence of the neighbouring clauses;
- position and length buckets, and the aspect term itself.

Confidence is the temperature-calibrated probability of the predicted class. Neutral comes out where the
evidence is weak (no opinion word, or only ambiguous ones), as learned from the shampoo and restaurant data.

Ensemble: when the weights hold a *window member* (:class:`WindowMember`: character 1–3-gram sublinear TF-IDF
+ logistic regression over :data:`MEMBER_WINDOW` characters each side of the masked aspect, across clause
boundaries), the probabilities are ``(1 - w) · p_clause_model + w · p_member`` with the member's weight ``w``
stored beside it (chosen by 5-fold cross-validation, see the model card). The member never sees the term, so
it is not used for a term that is itself a polar opinion word (complaint terms such as 发热, 掉电, 卡顿:
"没有Ⓐ" reads negative to it, "Ⓐ很快" positive): :func:`member_applies`.

The weights are a small ``.npz`` in ``models/weights/aspect/`` (see its MODEL_CARD.md); importing this
module is cheap (numpy only), and :func:`load_aspect_model` reads the weights once per process.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from models.opinion_lexicon import Lexicon, OpinionHit, ScanResult, load_lexicon
from models.text import clause_at, split_clauses

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights" / "aspect"
WEIGHTS_FILE = WEIGHTS_DIR / "aspect_polarity.npz"
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
MASK = "Ⓐ"
WINDOW_LEFT = 4
WINDOW_RIGHT = 8
#: Opinion words that say "more" / "less" of something; with a problem term they give its polarity.
MORE_WORDS = frozenset({"快", "多", "大", "高", "严重", "厉害", "明显", "频繁", "太快", "偏高", "偏大"})
LESS_WORDS = frozenset({"少", "小", "低", "慢", "偏低", "偏小", "偏少", "轻微"})
#: Characters left of the term read with it for negation and degree ("一点也不烫", "玩游戏也不怎么发热").
TERM_LEFT = 6

# Width folding that keeps every offset: full-width ASCII → ASCII, ideographic space → space.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


class AspectModelError(RuntimeError):
    """The aspect model cannot be loaded or was called with bad input; the message says what to do."""


@dataclass(frozen=True)
class MentionContext:
    """Where a mention sits: its clause, the neighbouring clauses, and what the lexicon found there."""

    text: str
    start: int
    end: int
    clause: tuple[int, int]
    previous: tuple[int, int] | None
    following: tuple[int, int] | None
    scan: ScanResult
    neighbour_scans: dict[tuple[int, int], ScanResult]  # shared by the mentions of one text

    def neighbour_scan(self, span: tuple[int, int] | None, lexicon: Lexicon) -> ScanResult | None:
        """Lexicon scan of a neighbouring clause, computed once per text."""
        if span is None:
            return None
        found = self.neighbour_scans.get(span)
        if found is None:
            found = self.neighbour_scans[span] = lexicon.scan(self.text, *span)
        return found


def _fold(text: str) -> str:
    return text.translate(_FOLD)


def _bucket(value: int, edges: Sequence[int]) -> int:
    for index, edge in enumerate(edges):
        if value <= edge:
            return index
    return len(edges)


def _ngrams(prefix: str, text: str, sizes: Iterable[int], out: dict[str, float]) -> None:
    """Add the L2-normalised counts of the character n-grams of ``text`` to ``out`` under ``prefix``."""
    counts: dict[str, float] = {}
    for n in sizes:
        for i in range(len(text) - n + 1):
            key = prefix + text[i : i + n]
            counts[key] = counts.get(key, 0.0) + 1.0
    if counts:
        norm = math.sqrt(sum(v * v for v in counts.values()))
        for key, value in counts.items():
            out[key] = value / norm


def locate(
    text: str,
    start: int,
    end: int,
    lexicon: Lexicon,
    clauses: list[tuple[int, int]],
    neighbour_scans: dict[tuple[int, int], ScanResult] | None = None,
) -> MentionContext:
    """Find the aspect's clause and its neighbours and scan them (aspect characters excluded)."""
    clause = clause_at(clauses, start)
    index = -1
    if clause is None:
        # The span starts on a delimiter or a trimmed space: take the clause that overlaps it, else the span.
        for i, (a, b) in enumerate(clauses):
            if a < end and b > start:
                clause, index = (a, b), i
                break
        if clause is None:
            clause = (start, end)
    else:
        index = clauses.index(clause)
    c_start, c_end = min(clause[0], start), max(clause[1], end)
    previous = clauses[index - 1] if index > 0 else None
    following = clauses[index + 1] if 0 <= index < len(clauses) - 1 else None
    left = lexicon.scan(text, c_start, start)
    right = lexicon.scan(text, end, c_end)
    scan = ScanResult(
        left.opinions + right.opinions,
        left.negators + right.negators,
        left.degrees + right.degrees,
        left.contrasts + right.contrasts,
    )
    return MentionContext(
        text=text,
        start=start,
        end=end,
        clause=(c_start, c_end),
        previous=previous,
        following=following,
        scan=scan,
        neighbour_scans={} if neighbour_scans is None else neighbour_scans,
    )


def _lexicon_sign(scan: ScanResult | None) -> str:
    if scan is None or not scan.opinions:
        return "none"
    total = sum(hit.polarity * hit.degree_weight for hit in scan.opinions)
    return "pos" if total > 0 else "neg" if total < 0 else "zero"


def _nearest(ctx: MentionContext) -> OpinionHit | None:
    best: OpinionHit | None = None
    best_distance = 1 << 30
    for hit in ctx.scan.opinions:
        distance = hit.start - ctx.end if hit.start >= ctx.end else ctx.start - hit.end
        if distance < best_distance:
            best, best_distance = hit, distance
    return best


def _starts_with_contrast(lexicon: Lexicon, text: str, span: tuple[int, int] | None) -> bool:
    if span is None:
        return False
    head = lexicon.tokens(text, span[0], min(span[1], span[0] + 4))
    return bool(head) and head[0].start == span[0] and head[0].kind == "contrast"


def _term_features(
    text: str, start: int, end: int, c_start: int, lexicon: Lexicon, f: dict[str, float]
) -> tuple[bool, int]:
    """Features of the opinion words inside the term itself.

    Returns whether one of them is negated, and the sign (+1/-1, 0 for none or a tie) of their own
    polarity before negation.

    The term may carry the opinion: taxonomy terms such as 好吃, 太慢, 不新鲜, complaint terms such as 发热,
    烫手, 卡顿 (negative by themselves, positive when negated: "没有发热", "一点也不烫"), or a whole clause
    given as the aspect ("机子挺沉的"). The lexicon is read over the term with up to :data:`TERM_LEFT`
    characters of left context inside the clause, so a negator or degree word just before it counts.
    """
    negated = False
    base = 0
    for hit in lexicon.scan(text, max(c_start, start - TERM_LEFT), end).opinions:
        if hit.end <= start:
            continue
        base += hit.base
        sign = {1: "+", -1: "-", 0: "0"}[hit.polarity]
        f["in:" + sign] = 1.0
        f[f"inw:{hit.word}:{'n' if hit.negator else ''}"] = 1.0
        if hit.negator:
            negated = True
            f["in:neg:" + sign] = 1.0
        if hit.degree:
            f["in:deg:" + sign] = 1.0
        if hit.word in lexicon.complaints:
            # One shared feature per reading, so every complaint term learns from all of them.
            f["in:complaint:" + ("negated" if hit.negator else "plain")] = 1.0
            if hit.start <= start and hit.end >= end:
                f["in:complaint:whole:" + sign] = 1.0
    return negated, (base > 0) - (base < 0)


def mention_features(ctx: MentionContext, lexicon: Lexicon) -> dict[str, float]:
    """The named sparse features of one mention (see the module docstring)."""
    text, start, end = ctx.text, ctx.start, ctx.end
    c_start, c_end = ctx.clause
    f: dict[str, float] = {"bias": 1.0}

    aspect = text[start:end]
    f["a:" + aspect] = 1.0
    _ngrams("ai:", aspect, (1, 2), f)
    term_negated, term_base = _term_features(text, start, end, c_start, lexicon, f)

    # The masked context reads differently when the term is itself an opinion word: "没有Ⓐ" is bad for a
    # product part (没有赠品) but good for a complaint term (没有发热). Its n-grams get their own names then,
    # one more set for positive and one for negative terms, beside the shared one.
    masked = "^" + text[c_start:start] + MASK + text[end:c_end] + "$"
    window = (
        text[max(c_start, start - WINDOW_LEFT) : start] + MASK + text[end : min(c_end, end + WINDOW_RIGHT)]
    )
    _ngrams("c:", masked, (1, 2, 3), f)
    _ngrams("w:", window, (2, 3, 4), f)
    if term_base:
        suffix = "+" if term_base > 0 else "-"
        _ngrams(f"c{suffix}:", masked, (1, 2, 3), f)
        _ngrams(f"w{suffix}:", window, (2, 3, 4), f)
    f[f"clen:{_bucket(c_end - c_start, (4, 6, 8, 12, 20, 40))}"] = 1.0
    f["pos:{}{}".format("S" if start == c_start else "s", "E" if end == c_end else "e")] = 1.0

    hits = ctx.scan.opinions
    if not hits:
        f["lx:none"] = 1.0
    total = 0.0
    for hit in hits:
        sign = {1: "+", -1: "-", 0: "0"}[hit.polarity]
        negated = "n" if hit.negator else ""
        f["lx:" + sign] = f.get("lx:" + sign, 0.0) + 1.0
        f["lxd:" + sign] = f.get("lxd:" + sign, 0.0) + hit.degree_weight
        f[f"ow:{hit.word}:{negated}"] = 1.0
        if hit.polarity == 0 and hit.negator:
            f["lx:amb_negated"] = 1.0
        total += hit.polarity * hit.degree_weight
    f["lx:sum"] = math.tanh(total / 2.0)
    near = _nearest(ctx)
    if near is not None:
        side = "R" if near.start >= end else "L"
        distance = near.start - end if side == "R" else start - near.end
        sign = {1: "+", -1: "-", 0: "0"}[near.polarity]
        f[f"nr:{sign}"] = 1.0
        f[f"nr:{sign}:{side}"] = 1.0
        f[f"nrd:{sign}:{_bucket(distance, (0, 2, 5, 10))}"] = 1.0
        negated = "n" if near.negator else ""
        f[f"nrw:{near.word}:{negated}"] = 1.0
        # Aspect × opinion conjunctions decide ambiguous words: 发热量大 (bad) vs 屏幕大 (good).
        f[f"x1:{aspect[-1]}|{near.word}:{negated}"] = 1.0
        f[f"x2:{aspect[-2:]}|{near.word}:{negated}"] = 1.0
    if term_base < 0:
        # A problem term with a quantity word: "耗电很快", "发热有点大" (more of it: bad) against
        # "耗电很少", "杂音很小" (less of it: good); a negator flips the quantity ("发热不大").
        for hit in hits:
            amount = 1 if hit.word in MORE_WORDS else -1 if hit.word in LESS_WORDS else 0
            if amount:
                amount = -amount if hit.negator else amount
                f["tq:more" if amount > 0 else "tq:less"] = 1.0
    if ctx.scan.negators and not term_negated and not any(h.negator for h in hits):
        f["neg:dangling"] = 1.0

    contrast_self = _starts_with_contrast(lexicon, text, ctx.clause) or bool(ctx.scan.contrasts)
    contrast_next = _starts_with_contrast(lexicon, text, ctx.following)
    own = _lexicon_sign(ctx.scan)
    if contrast_self:
        f["ct:self"] = 1.0
        f["ct:self:" + own] = 1.0
    if contrast_next:
        f["ct:next"] = 1.0
        f["ct:next:" + own + ":" + _lexicon_sign(ctx.neighbour_scan(ctx.following, lexicon))] = 1.0
    if own == "none":
        f["nb:prev:" + _lexicon_sign(ctx.neighbour_scan(ctx.previous, lexicon))] = 1.0
        f["nb:next:" + _lexicon_sign(ctx.neighbour_scan(ctx.following, lexicon))] = 1.0
    return f


def featurize(
    texts: Sequence[str], spans: Sequence[tuple[int, int]], lexicon: Lexicon | None = None
) -> tuple[list[dict[str, float]], list[MentionContext]]:
    """Features and contexts for each (text, span); texts repeated in a batch are split into clauses once."""
    if len(texts) != len(spans):
        raise AspectModelError(f"texts and spans differ in length: {len(texts)} vs {len(spans)}.")
    lex = lexicon or load_lexicon()
    clause_cache: dict[str, tuple[str, list[tuple[int, int]], dict[tuple[int, int], ScanResult]]] = {}
    features: list[dict[str, float]] = []
    contexts: list[MentionContext] = []
    for row, (raw, span) in enumerate(zip(texts, spans, strict=True)):
        start, end = int(span[0]), int(span[1])
        if not isinstance(raw, str) or not (0 <= start < end <= len(raw)):
            length = len(raw) if isinstance(raw, str) else "not a string"
            raise AspectModelError(
                f"Mention {row}: span [{start}, {end}) is not inside its text (length {length})."
            )
        cached = clause_cache.get(raw)
        if cached is None:
            folded = _fold(raw)
            cached = (folded, split_clauses(folded), {})
            if len(clause_cache) < 4096:
                clause_cache[raw] = cached
        ctx = locate(cached[0], start, end, lex, cached[1], cached[2])
        contexts.append(ctx)
        features.append(mention_features(ctx, lex))
    return features, contexts


#: Characters on each side of the masked aspect read by the window member.
MEMBER_WINDOW = 15
MEMBER_NGRAMS: tuple[int, ...] = (1, 2, 3)


def member_window(text: str, start: int, end: int) -> str:
    """The window member's input: up to :data:`MEMBER_WINDOW` characters each side of the masked aspect."""
    return text[max(0, start - MEMBER_WINDOW) : start] + MASK + text[end : end + MEMBER_WINDOW]


def member_windows(texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> list[str]:
    """:func:`member_window` of each mention, on the width-folded text (as :func:`featurize` reads it)."""
    return [
        member_window(_fold(text), int(start), int(end))
        for text, (start, end) in zip(texts, spans, strict=True)
    ]


def window_ngram_counts(window: str) -> dict[str, int]:
    """Counts of the character 1–3-grams of a window."""
    counts: dict[str, int] = {}
    for n in MEMBER_NGRAMS:
        for i in range(len(window) - n + 1):
            gram = window[i : i + n]
            counts[gram] = counts.get(gram, 0) + 1
    return counts


def tfidf_entries(
    windows: Sequence[str], index: dict[str, int], idf: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, values)`` of the L2-normalised sublinear TF-IDF matrix of ``windows`` over ``index``
    (n-grams outside the vocabulary are ignored), as :class:`sklearn.feature_extraction.text.TfidfVectorizer`
    with ``sublinear_tf=True`` computes it."""
    names: list[str] = []
    counts: list[int] = []
    lengths: list[int] = []
    for window in windows:
        grams = window_ngram_counts(window)
        names.extend(grams)
        counts.extend(grams.values())
        lengths.append(len(grams))
    cols = np.fromiter(map(index.get, names, repeat(-1)), dtype=np.int64, count=len(names))
    rows = np.repeat(np.arange(len(windows)), lengths)
    known = cols >= 0
    rows, cols = rows[known], cols[known]
    values = (1.0 + np.log(np.asarray(counts, dtype=np.float64)[known])) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=len(windows)))
    values = values / np.where(norms > 0, norms, 1.0)[rows]
    return rows, cols, values


@dataclass(frozen=True, eq=False)
class WindowMember:
    """The ensemble's second member: char 1–3-gram sublinear TF-IDF + logistic regression on
    :func:`member_window`; ``weight`` is its share of the averaged probabilities."""

    vocabulary: tuple[str, ...]
    idf: np.ndarray
    coef: np.ndarray  # (n_features, len(LABELS))
    intercept: np.ndarray
    weight: float

    def __post_init__(self) -> None:
        size = len(self.vocabulary)
        if self.coef.shape != (size, len(LABELS)) or self.idf.shape != (size,):
            raise AspectModelError(
                f"Aspect window member is inconsistent: coef {self.coef.shape}, idf {self.idf.shape} for "
                f"{len(self.vocabulary)} n-grams."
            )
        if not 0.0 <= self.weight <= 1.0:
            raise AspectModelError(f"Aspect window member weight {self.weight} is not in [0, 1].")

    @property
    def index(self) -> dict[str, int]:
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = {name: i for i, name in enumerate(self.vocabulary)}
            object.__setattr__(self, "_index", cached)
        return cached

    def probabilities(self, windows: Sequence[str]) -> np.ndarray:
        rows, cols, values = tfidf_entries(windows, self.index, self.idf)
        logits = np.tile(self.intercept.astype(np.float64), (len(windows), 1))
        contrib = self.coef[cols].astype(np.float64) * values[:, None]
        for k in range(len(LABELS)):
            logits[:, k] += np.bincount(rows, weights=contrib[:, k], minlength=len(windows))
        return _softmax(logits)


def member_applies(features: Sequence[dict[str, float]]) -> np.ndarray:
    """Per mention: whether the window member takes part (not when the term holds a polar opinion word)."""
    return np.fromiter(
        (not ("in:+" in feats or "in:-" in feats) for feats in features), dtype=bool, count=len(features)
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


class AspectPolarityModel:
    """Multinomial logistic regression over :func:`mention_features`, with temperature calibration, averaged
    with an optional :class:`WindowMember`."""

    def __init__(
        self,
        vocabulary: Sequence[str],
        coef: np.ndarray,
        intercept: np.ndarray,
        temperature: float,
        lexicon: Lexicon,
        weights_digest: str,
        metadata: dict[str, Any] | None = None,
        member: WindowMember | None = None,
    ) -> None:
        self.member = member
        self.index = {name: i for i, name in enumerate(vocabulary)}
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.temperature = float(temperature)
        self.lexicon = lexicon
        self.metadata = metadata or {}
        if self.coef.shape != (len(self.index), len(LABELS)):
            raise AspectModelError(
                f"Aspect weights are inconsistent: coef {self.coef.shape} for {len(self.index)} features."
            )
        digest = hashlib.sha256((weights_digest + lexicon.digest).encode()).hexdigest()[:12]
        self.version = f"aspect-lr-{digest}"

    def _logits(self, features: Sequence[dict[str, float]]) -> np.ndarray:
        """Intercept plus the sum of ``coef[feature] * value``; names are looked up in one C-level pass."""
        names: list[str] = []
        values: list[float] = []
        for feats in features:
            names.extend(feats)
            values.extend(feats.values())
        lengths = np.fromiter((len(feats) for feats in features), dtype=np.int64, count=len(features))
        cols = np.fromiter(map(self.index.get, names, repeat(-1)), dtype=np.int64, count=len(names))
        rows = np.repeat(np.arange(len(features)), lengths)
        known = cols >= 0
        logits = np.tile(self.intercept, (len(features), 1)).astype(np.float64)
        if known.any():
            contrib = self.coef[cols[known]] * np.asarray(values, dtype=np.float32)[known][:, None]
            for k in range(len(LABELS)):
                logits[:, k] += np.bincount(rows[known], weights=contrib[:, k], minlength=len(features))
        return logits

    def probabilities(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> np.ndarray:
        """Calibrated class probabilities, columns in :data:`LABELS` order."""
        features, contexts = featurize(texts, spans, self.lexicon)
        return self.probabilities_from_features(features, contexts)

    def probabilities_from_features(
        self, features: Sequence[dict[str, float]], contexts: Sequence[MentionContext] | None = None
    ) -> np.ndarray:
        """Probabilities from :func:`featurize`'s output; the window member needs the ``contexts`` too."""
        probs = _softmax(self._logits(features) / self.temperature)
        if self.member is None or self.member.weight == 0.0:
            return probs
        if contexts is None or len(contexts) != len(features):
            raise AspectModelError("This aspect model is an ensemble: pass the mention contexts as well.")
        applies = member_applies(features)
        if not applies.any():
            return probs
        windows = [
            member_window(ctx.text, ctx.start, ctx.end) for ctx, a in zip(contexts, applies, strict=True) if a
        ]
        weight = self.member.weight
        probs[applies] = (1.0 - weight) * probs[applies] + weight * self.member.probabilities(windows)
        return probs

    def predict(self, texts: Sequence[str], spans: Sequence[tuple[int, int]]) -> list[tuple[str, float]]:
        """Polarity label and confidence for the aspect at ``spans[i]`` (``[start, end)``) in ``texts[i]``."""
        if not len(texts):
            return []
        probs = self.probabilities(texts, spans)
        best = probs.argmax(axis=1)
        return [(LABELS[b], float(probs[i, b])) for i, b in enumerate(best)]

    def explain(self, text: str, span: tuple[int, int]) -> dict[str, Any]:
        """Why the aspect at ``span`` got its polarity: its clause, the deciding words, top features."""
        features, contexts = featurize([text], [span], self.lexicon)
        ctx = contexts[0]
        probs = self.probabilities_from_features(features, contexts)[0]
        label = int(probs.argmax())
        contributions: list[tuple[str, float]] = []
        for name, value in features[0].items():
            col = self.index.get(name)
            if col is not None and name != "bias":
                row = self.coef[col] * value
                contributions.append((name, float(row[label] - np.delete(row, label).mean())))
        contributions.sort(key=lambda item: -abs(item[1]))
        near = _nearest(ctx)
        return {
            "aspect": text[ctx.start : ctx.end],
            "polarity": LABELS[label],
            "confidence": float(probs[label]),
            "probabilities": {name: float(p) for name, p in zip(LABELS, probs, strict=True)},
            "clause": text[ctx.clause[0] : ctx.clause[1]],
            "clause_span": list(ctx.clause),
            "opinion_words": [
                {
                    "word": hit.word,
                    "span": [hit.start, hit.end],
                    "polarity": {1: "positive", -1: "negative", 0: "ambiguous"}[hit.polarity],
                    "negated_by": hit.negator,
                    "degree": hit.degree,
                }
                for hit in ctx.scan.opinions
            ],
            "nearest_opinion": near.word if near else None,
            "negation_words": [t.word for t in ctx.scan.negators],
            "degree_words": [t.word for t in ctx.scan.degrees],
            "contrast_in_clause": [t.word for t in ctx.scan.contrasts]
            or ([text[ctx.clause[0] : ctx.clause[0] + 2]] if "ct:self" in features[0] else []),
            "next_clause_contrast": "ct:next" in features[0],
            "top_features": [{"feature": n, "weight": round(w, 3)} for n, w in contributions[:8]],
            "model_version": self.version,
        }


def save_weights(
    path: Path,
    vocabulary: Sequence[str],
    coef: np.ndarray,
    intercept: np.ndarray,
    temperature: float,
    metadata: dict[str, Any],
    member: WindowMember | None = None,
) -> None:
    """Write the weights as one compressed ``.npz`` (no pickle) with a JSON metadata string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "vocabulary": np.asarray(list(vocabulary), dtype=str),
        "coef": np.asarray(coef, dtype=np.float32),
        "intercept": np.asarray(intercept, dtype=np.float32),
        "temperature": np.asarray([temperature], dtype=np.float64),
        "metadata": np.asarray(json.dumps(metadata, ensure_ascii=False, sort_keys=True)),
    }
    if member is not None:
        arrays |= {
            "member_vocabulary": np.asarray(list(member.vocabulary), dtype=str),
            "member_idf": np.asarray(member.idf, dtype=np.float16),
            "member_coef": np.asarray(member.coef, dtype=np.float16),
            "member_intercept": np.asarray(member.intercept, dtype=np.float32),
            "member_weight": np.asarray([member.weight], dtype=np.float64),
        }
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)


def load_weights(path: Path = WEIGHTS_FILE, lexicon: Lexicon | None = None) -> AspectPolarityModel:
    """Read a weights file written by :func:`save_weights`."""
    if not path.is_file():
        raise AspectModelError(
            f"Aspect polarity weights not found at {path}; run `python cli.py train aspect` to create them."
        )
    raw = path.read_bytes()
    try:
        with np.load(path, allow_pickle=False) as data:
            vocabulary = [str(v) for v in data["vocabulary"]]
            coef, intercept = data["coef"], data["intercept"]
            temperature = float(data["temperature"][0])
            metadata = json.loads(str(data["metadata"]))
            member = None
            if "member_coef" in data.files:
                member = WindowMember(
                    vocabulary=tuple(str(v) for v in data["member_vocabulary"]),
                    idf=np.asarray(data["member_idf"], dtype=np.float16),
                    coef=np.asarray(data["member_coef"], dtype=np.float16),
                    intercept=np.asarray(data["member_intercept"], dtype=np.float64),
                    weight=float(data["member_weight"][0]),
                )
    except (OSError, KeyError, ValueError) as exc:
        raise AspectModelError(
            f"Aspect polarity weights at {path} are unreadable ({exc}); retrain them."
        ) from exc
    return AspectPolarityModel(
        vocabulary,
        coef,
        intercept,
        temperature,
        lexicon or load_lexicon(),
        hashlib.sha256(raw).hexdigest(),
        metadata,
        member,
    )


@lru_cache(maxsize=1)
def load_aspect_model() -> AspectPolarityModel:
    """The shipped aspect polarity model, loaded once per process."""
    return load_weights(WEIGHTS_FILE)
