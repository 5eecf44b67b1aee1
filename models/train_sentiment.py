"""Train Tingjian's sentiment model on the labelled corpora in ``../shared/data`` and write it as a local
Hugging Face directory (config.json, model.safetensors, tokenizer files, metrics.json, MODEL_CARD.md).

Steps: (0) each training text, plus its ``models.text.normalize`` form where different; (1) character
vocabulary from the training side; (2) character n-grams (1..4) of the token ids, with the exact key
function the model uses at inference (``sentiment_arch.ngram_keys``); (3) sublinear TF-IDF + L2 + logistic
regression (scikit-learn, lbfgs) whose coefficients become the model's weights;
(4) optionally a small char-CNN trained on the residual of out-of-fold linear logits (stacking);
(5) evaluation of the saved directory, through ``models.sentiment``, on each corpus's held-out 10%, next to
the baseline (char 1–3-gram TF-IDF + logistic regression trained on the same training side).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.corpora import EVALUATION_CORPORA, held_out_frames, load_all, training_frame
from models.metrics import accuracy, macro_f1
from models.text import normalize

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of one training run (all written to the model card)."""

    ngram_max: int = 4
    min_df: int = 3
    min_char_count: int = 2
    c: float = 20.0
    max_length: int = 512
    cnn_epochs: int = 0
    cnn_embed_dim: int = 64
    cnn_channels: int = 96
    cnn_widths: tuple[int, ...] = (2, 3, 4)
    cnn_lr: float = 2e-3
    cnn_batch_size: int = 64
    cnn_max_length: int = 200
    oof_folds: int = 4
    seed: int = 13


@dataclass
class TrainReport:
    """What a run produced: paths, sizes, timings and held-out metrics per corpus."""

    out_dir: str
    settings: dict[str, Any]
    train_texts: int
    vocab_size: int
    num_features: int
    normalised_variants: int = 0
    version: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    held_out: dict[str, dict[str, float]] = field(default_factory=dict)


def build_vocab(texts: Sequence[str], min_count: int) -> list[str]:
    """Special tokens, every character seen ``min_count`` times (lower-cased), and ``##`` forms of non-CJK
    characters so that BERT's WordPiece splits Latin words and numbers into characters instead of [UNK]."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text.lower())
    chars = sorted(ch for ch, n in counts.items() if n >= min_count and not ch.isspace())
    continuation = [f"##{ch}" for ch in chars if not _is_cjk(ch)]
    return [*SPECIAL_TOKENS, *chars, *continuation]


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def make_tokenizer(vocab: Sequence[str], max_length: int) -> Any:
    """A standard ``BertTokenizer`` over the character vocabulary (``vocab=`` dict: see FACTS pitfall)."""
    from transformers import BertTokenizer

    return BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, model_max_length=max_length)


def encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def ngram_rows_keys(ids: list[list[int]], ngram_max: int, key_base: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, key) of every n-gram, computed in length-sorted padded chunks with the model's own function."""
    import torch

    from models.sentiment_arch import ngram_keys

    order = np.argsort([len(x) for x in ids], kind="stable")
    rows_out: list[np.ndarray] = []
    keys_out: list[np.ndarray] = []
    for start in range(0, len(ids), 2048):
        index = order[start : start + 2048]
        width = max(len(ids[i]) for i in index)
        batch = torch.zeros((len(index), width), dtype=torch.long)
        mask = torch.zeros((len(index), width), dtype=torch.long)
        for j, i in enumerate(index):
            batch[j, : len(ids[i])] = torch.tensor(ids[i])
            mask[j, : len(ids[i])] = 1
        rows, keys = ngram_keys(batch, mask, ngram_max, key_base)
        rows_out.append(index[rows.numpy()])
        keys_out.append(keys.numpy())
    return np.concatenate(rows_out), np.concatenate(keys_out)


def tfidf_matrix(rows: np.ndarray, keys: np.ndarray, n_rows: int, table: np.ndarray, idf: np.ndarray) -> Any:
    """Sublinear TF-IDF, L2-normalised, over the key table (the same formula as the model's forward)."""
    import scipy.sparse as sp

    position = np.searchsorted(table, keys).clip(max=len(table) - 1)
    found = table[position] == keys
    matrix = sp.csr_matrix(
        (np.ones(int(found.sum())), (rows[found], position[found])), shape=(n_rows, len(table))
    )
    matrix.sum_duplicates()
    matrix.data = 1.0 + np.log(matrix.data)
    matrix = matrix.multiply(idf).tocsr()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
    norms[norms == 0] = 1.0
    return sp.diags(1.0 / norms) @ matrix


def fit_linear(matrix: Any, labels: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000).fit(matrix, labels)


def baseline_accuracy(train: pd.DataFrame, held_out: dict[str, pd.DataFrame]) -> dict[str, dict[str, float]]:
    """The issue's baseline: char 1–3-gram TF-IDF + logistic regression on the same training side."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    classifier = LogisticRegression(C=10.0, max_iter=3000).fit(
        vectorizer.fit_transform(train["text"]), train["label"]
    )
    result = {}
    for name, frame in held_out.items():
        pred = classifier.predict(vectorizer.transform(frame["text"]))
        result[name] = {
            "accuracy": accuracy(frame["label"], pred),
            "macro_f1": macro_f1(frame["label"], pred),
        }
    return result


def train_cnn_member(
    model: Any,
    ids: list[list[int]],
    labels: np.ndarray,
    offsets: np.ndarray,
    settings: TrainSettings,
    log: Log,
) -> None:
    """Train the char-CNN on the residual of out-of-fold linear logits; the linear member stays frozen."""
    import torch

    torch.manual_seed(settings.seed)
    params = [p for n, p in model.named_parameters() if n.startswith(("char_embed", "convs", "cnn_out"))]
    optimizer = torch.optim.Adam(params, lr=settings.cnn_lr)
    rng = np.random.default_rng(settings.seed)
    lengths = np.array([min(len(x), settings.cnn_max_length) for x in ids])
    target = torch.tensor(labels, dtype=torch.float32)
    offset = torch.tensor(offsets, dtype=torch.float32)
    model.train()
    for epoch in range(settings.cnn_epochs):
        started = time.time()
        # bucket by length for speed, shuffle the buckets
        order = np.argsort(lengths + rng.random(len(lengths)) * 8)
        batches = [
            order[i : i + settings.cnn_batch_size] for i in range(0, len(order), settings.cnn_batch_size)
        ]
        rng.shuffle(batches)
        total = 0.0
        for step, index in enumerate(batches, start=1):
            if step % 200 == 0:
                log(f"cnn epoch {epoch + 1}: step {step}/{len(batches)}, {time.time() - started:.0f} s")
            width = int(lengths[index].max())
            batch = torch.zeros((len(index), width), dtype=torch.long)
            mask = torch.zeros((len(index), width), dtype=torch.long)
            for j, i in enumerate(index):
                row = ids[i][: settings.cnn_max_length]
                batch[j, : len(row)] = torch.tensor(row)
                mask[j, : len(row)] = 1
            z = offset[index] + model.cnn_logit(batch, mask)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, target[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
        for group in optimizer.param_groups:
            group["lr"] *= 0.5
        log(
            f"cnn epoch {epoch + 1}/{settings.cnn_epochs}: "
            f"loss {total / len(ids):.4f}, {time.time() - started:.0f} s"
        )
    model.eval()


def train(out_dir: Path, settings: TrainSettings, log: Log = print, command: str = "") -> TrainReport:
    """Train, save to ``out_dir``, evaluate on the held-out slices, write metrics.json and MODEL_CARD.md."""
    import torch

    from models.sentiment_arch import TingjianSentimentConfig, TingjianSentimentForSequenceClassification

    clock = time.time()
    seconds: dict[str, float] = {}
    corpora = load_all()
    train_df = training_frame(corpora)
    held_out = held_out_frames(corpora)
    texts, labels = with_normalised_variants(train_df["text"].tolist(), train_df["label"].tolist())
    log(
        f"training texts: {len(train_df)} (deduplicated, label conflicts dropped)"
        f" + {len(texts) - len(train_df)} normalised variants"
    )

    vocab = build_vocab(texts, settings.min_char_count)
    key_base = 1 << max(13, math.ceil(math.log2(len(vocab) + 2)))
    tokenizer = make_tokenizer(vocab, settings.max_length)
    ids = encode(tokenizer, texts, settings.max_length)
    rows, keys = ngram_rows_keys(ids, settings.ngram_max, key_base)
    pairs = np.unique(np.stack([rows, keys], axis=1), axis=0)
    unique_keys, df = np.unique(pairs[:, 1], return_counts=True)
    keep = df >= settings.min_df
    table = unique_keys[keep]
    idf = (np.log((1 + len(texts)) / (1 + df[keep])) + 1.0).astype(np.float32)
    matrix = tfidf_matrix(rows, keys, len(texts), table, idf)
    seconds["features"] = time.time() - clock
    log(f"vocabulary {len(vocab)} characters, {len(table)} n-gram features (df >= {settings.min_df})")

    started = time.time()
    classifier = fit_linear(matrix, labels, settings.c)
    seconds["linear_fit"] = time.time() - started
    log(f"linear member fitted in {seconds['linear_fit']:.0f} s")

    config = TingjianSentimentConfig(
        vocab_size=len(vocab),
        ngram_max=settings.ngram_max,
        key_base=key_base,
        num_features=len(table),
        cnn_embed_dim=settings.cnn_embed_dim if settings.cnn_epochs > 0 else 0,
        cnn_channels=settings.cnn_channels if settings.cnn_epochs > 0 else 0,
        cnn_widths=settings.cnn_widths,
    )
    model = TingjianSentimentForSequenceClassification(config)
    with torch.no_grad():
        model.feature_keys.copy_(torch.from_numpy(table))
        model.feature_idf.copy_(torch.from_numpy(idf))
        model.feature_weight.copy_(torch.from_numpy(classifier.coef_[0].astype(np.float32)))
        model.linear_bias.fill_(float(classifier.intercept_[0]))

    if settings.cnn_epochs > 0:
        started = time.time()
        offsets = out_of_fold_logits(matrix, labels, settings)
        seconds["out_of_fold"] = time.time() - started
        started = time.time()
        train_cnn_member(model, ids, labels, offsets, settings, log)
        seconds["cnn_fit"] = time.time() - started

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    seconds["train_total"] = time.time() - clock

    report = TrainReport(
        out_dir=str(out_dir),
        settings=asdict(settings),
        train_texts=len(train_df),
        normalised_variants=len(texts) - len(train_df),
        vocab_size=len(vocab),
        num_features=len(table),
        seconds=seconds,
    )
    evaluate_held_out(out_dir, train_df, held_out, report, log)
    (out_dir / "metrics.json").write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
    write_model_card(out_dir, report, corpora, command)
    return report


def with_normalised_variants(texts: list[str], labels: list[int]) -> tuple[list[str], np.ndarray]:
    """Every text, plus its ``models.text.normalize`` form where that differs (same label).

    The annotation pipeline scores normalised text while files and the evaluation CLI give raw text; trained
    on both forms, the model scores either. (Trained on the normalised form only and fed raw text, or the
    reverse, it lost up to 1.1 points on our held-out sets.)
    """
    out_texts = list(texts)
    out_labels = list(labels)
    for text, label in zip(texts, labels, strict=True):
        variant = normalize(text)
        if variant and variant != text:
            out_texts.append(variant)
            out_labels.append(label)
    return out_texts, np.asarray(out_labels, dtype=np.int64)


def out_of_fold_logits(matrix: Any, labels: np.ndarray, settings: TrainSettings) -> np.ndarray:
    """Linear logits of every training text from a model that did not see it (k-fold by position)."""
    folds = np.arange(len(labels)) % settings.oof_folds
    result = np.zeros(len(labels), dtype=np.float32)
    for fold in range(settings.oof_folds):
        inside = folds != fold
        classifier = fit_linear(matrix[inside], labels[inside], settings.c)
        result[~inside] = classifier.decision_function(matrix[~inside])
    return result


def evaluate_held_out(
    out_dir: Path, train_df: pd.DataFrame, held_out: dict[str, pd.DataFrame], report: TrainReport, log: Log
) -> None:
    from models.sentiment import SentimentModel, _load

    model: SentimentModel = _load(out_dir.resolve())  # fresh load, not the per-process cache
    report.version = model.version
    baseline = baseline_accuracy(train_df, held_out)
    for name, frame in held_out.items():
        started = time.time()
        proba = model.predict_proba(frame["text"].tolist())
        elapsed = time.time() - started
        pred = (proba >= 0.5).astype(np.int64)
        report.held_out[name] = {
            "n": len(frame),
            "accuracy": accuracy(frame["label"], pred),
            "macro_f1": macro_f1(frame["label"], pred),
            "baseline_accuracy": baseline[name]["accuracy"],
            "baseline_macro_f1": baseline[name]["macro_f1"],
            "texts_per_second": len(frame) / elapsed if elapsed > 0 else float("inf"),
        }
        row = report.held_out[name]
        log(
            f"{name}: n={len(frame)} accuracy {row['accuracy']:.4f} (baseline {row['baseline_accuracy']:.4f})"
        )


def write_model_card(
    out_dir: Path, report: TrainReport, corpora: dict[str, pd.DataFrame], command: str
) -> None:
    """MODEL_CARD.md beside the weights: data, hyperparameters, metrics, version, how it was made."""
    size_mb = sum(p.stat().st_size for p in out_dir.glob("*.safetensors")) / 1e6
    lines = [
        "# Tingjian sentiment model (review level, Chinese)",
        "",
        f"- **Version** (first 16 hex of SHA-256 over config.json + weights): `{report.version}`",
        "- **Architecture**: `tingjian_ngram` — a transformers `PreTrainedModel` registered with"
        " `AutoConfig` / `AutoModelForSequenceClassification`. Input: a standard `BertTokenizer` over a"
        f" character vocabulary. Inside the model: character n-grams 1–{report.settings['ngram_max']} of the"
        " token ids, looked up in a sorted key table, sublinear TF-IDF, L2 norm, logistic regression"
        + (
            f"; plus a residual char-CNN (embedding {report.settings['cnn_embed_dim']},"
            f" {report.settings['cnn_channels']} filters × widths {list(report.settings['cnn_widths'])})"
            " trained on out-of-fold linear logits."
            if report.settings["cnn_epochs"] > 0
            else "."
        ),
        f"- **Size**: {size_mb:.1f} MB safetensors; vocabulary {report.vocab_size} tokens;"
        f" {report.num_features} n-gram features.",
        "- **Output**: two logits, softmax = [P(negative), P(positive)].",
        "- **Input form**: raw text (U+FEFF removed, whitespace stripped). Training used every text in its"
        " raw form and, where different, its `models.text.normalize` form (width folding, control characters"
        " removed, whitespace collapsed), so text normalised by the annotation pipeline scores as well.",
        "",
        "## Training data",
        "",
        "The four labelled corpora in `../shared/data` (see each folder's SOURCE.md; licences of the first"
        " three are not stated upstream):",
        "",
        "| corpus | texts after dedup | held out (10%) |",
        "| --- | --- | --- |",
    ]
    for name, frame in corpora.items():
        lines.append(f"| {name} | {len(frame)} | {int(frame['held_out'].sum())} |")
    lines += [
        "",
        "Texts are normalised (U+FEFF removed, whitespace stripped), deduplicated, and texts seen with both"
        " labels are dropped. A text is held out when `sha256(text) mod 10 == 0`, so a text shared by two"
        f" corpora is on the same side in both. Training side: {report.train_texts} distinct texts from all"
        f" four corpora, plus {report.normalised_variants} normalised variants (see Input form).",
        "",
        "## Hyperparameters",
        "",
        "```json",
        json.dumps(report.settings, indent=2),
        "```",
        "",
        "## Held-out results (our own 10% split; the maintainers' held-back slices are separate)",
        "",
        "| set | n | baseline accuracy (char 1–3 TF-IDF + LR) | model accuracy | model macro-F1 | texts/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in report.held_out.items():
        lines.append(
            f"| {name} | {row['n']} | {row['baseline_accuracy']:.4f} | {row['accuracy']:.4f} |"
            f" {row['macro_f1']:.4f} | {row['texts_per_second']:.0f} |"
        )
    lines += [
        "",
        "Decision threshold 0.5 for every set (no per-domain thresholds). The texts/s column is measured"
        " inside the training run (2 CPU cores shared with other jobs, one pass, batch 256) and is only"
        " indicative; `bench/bench_sentiment.py` measures throughput properly (see docs/BENCHMARKS.md).",
        f"Training time: {report.seconds.get('train_total', 0):.0f} s on 2 CPU cores.",
        "",
        "## How it was made",
        "",
        "```",
        command or "python cli.py train sentiment",
        "```",
        "",
        "## Limits",
        "",
        "- Review-level polarity only; no neutral class. Domains: e-commerce, hotels, food delivery.",
        "- A character n-gram model: it does not understand long-range negation or sarcasm as a pretrained"
        " transformer would. Point `$TINGJIAN_SENTIMENT_MODEL` at a stronger local Hugging Face model"
        " to replace it.",
        "",
    ]
    (out_dir / "MODEL_CARD.md").write_text("\n".join(lines))


__all__ = ["EVALUATION_CORPORA", "TrainReport", "TrainSettings", "build_vocab", "train"]
