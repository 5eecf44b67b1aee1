"""``train sentiment`` and ``evaluate sentiment``: Tingjian's own review-level sentiment model."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from cli_commands.common import fail
from models.corpora import CorpusMissingError
from models.metrics import accuracy, macro_f1
from models.sentiment import DEFAULT_MODEL_DIR, SentimentModelError, load_sentiment_model


def register(train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    """Add ``sentiment`` to the ``train`` and ``evaluate`` groups."""
    train_app.command("sentiment")(train_sentiment_cmd)
    evaluate_app.command("sentiment")(evaluate_sentiment_cmd)


def train_sentiment_cmd(
    out: Annotated[Path, typer.Option("--out", help="Output model directory.")] = DEFAULT_MODEL_DIR,
    epochs: Annotated[
        int,
        typer.Option(
            "--epochs", min=0, help="Epochs of the residual char-CNN member (0: linear model only)."
        ),
    ] = 0,
    c: Annotated[
        float, typer.Option("--c", min=1e-6, help="Inverse L2 strength of the logistic regression.")
    ] = 20.0,
    min_df: Annotated[
        int, typer.Option("--min-df", min=1, help="Keep n-grams seen in at least this many texts.")
    ] = 3,
    ngram_max: Annotated[
        int, typer.Option("--ngram-max", min=1, max=4, help="Longest character n-gram.")
    ] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the CNN member.")] = 13,
) -> None:
    """Train the sentiment model on the labelled corpora in ../shared/data; write it with its model card."""
    from models.train_sentiment import TrainSettings, train

    settings = TrainSettings(ngram_max=ngram_max, min_df=min_df, c=c, cnn_epochs=epochs, seed=seed)
    command = "python cli.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        report = train(out, settings, log=lambda line: print(line, flush=True), command=command)
    except CorpusMissingError as exc:
        fail(str(exc))
    summary = {
        "out": report.out_dir,
        "version": report.version,
        "train_texts": report.train_texts,
        "held_out_accuracy": {name: round(row["accuracy"], 4) for name, row in report.held_out.items()},
        "baseline_accuracy": {
            name: round(row["baseline_accuracy"], 4) for name, row in report.held_out.items()
        },
        "seconds": round(report.seconds.get("train_total", 0.0), 1),
    }
    print(json.dumps(summary, ensure_ascii=False))


def evaluate_sentiment_cmd(
    data: Annotated[
        Path, typer.Option("--data", help="Labelled file (CSV, TSV, XLSX, JSON, JSONL, Parquet).")
    ],
    text_col: Annotated[str, typer.Option("--text-col", help="Column holding the review text.")],
    label_col: Annotated[str, typer.Option("--label-col", help="Column holding the label.")],
    positive: Annotated[
        str, typer.Option("--positive", help="Label value meaning positive; others are negative.")
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Model directory (default: $TINGJIAN_SENTIMENT_MODEL, else committed weights)."
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Texts per batch.")] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, max=1.0, help="P(positive) cut-off.")
    ] = 0.5,
) -> None:
    """Score a labelled file; the last line printed is JSON with accuracy, macro_f1, n, texts_per_second."""
    frame = _read_labelled(data)
    missing = [c for c in (text_col, label_col) if c not in frame.columns]
    if missing:
        fail(f"{data}: column(s) {missing} not found; available columns: {list(frame.columns)}")
    labels_raw = frame[label_col].astype(str).str.strip()
    has_label = labels_raw != ""
    skipped = int((~has_label).sum())
    frame = frame[has_label]
    labels_raw = labels_raw[has_label]
    if frame.empty:
        fail(f"{data}: no row has a value in column {label_col!r}; nothing to evaluate")
    y_true = _positive_mask(labels_raw, positive).astype(np.int64)
    if y_true.sum() == 0:
        print(
            f"warning: no label in {label_col!r} equals {positive!r}; every row counts as negative",
            file=sys.stderr,
        )
    try:
        sentiment = load_sentiment_model(model)
    except SentimentModelError as exc:
        fail(str(exc))
    texts = frame[text_col].astype(str).tolist()
    started = time.perf_counter()
    proba = sentiment.predict_proba(texts, batch_size=batch_size)
    elapsed = time.perf_counter() - started
    y_pred = (proba >= threshold).astype(np.int64)
    result = {
        "accuracy": round(accuracy(y_true, y_pred), 6),
        "macro_f1": round(macro_f1(y_true, y_pred), 6),
        "n": len(texts),
        "texts_per_second": round(len(texts) / elapsed, 1) if elapsed > 0 else None,
        "skipped_without_label": skipped,
        "positive_share": round(float(y_true.mean()), 6),
        "threshold": threshold,
        "model_version": sentiment.version,
        "model_dir": str(sentiment.model_dir),
        "device": sentiment.device,
    }
    print(f"scored {len(texts)} texts from {data} in {elapsed:.2f} s on {sentiment.device}", file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False))


def _read_labelled(path: Path) -> pd.DataFrame:
    try:
        from data.readers import FileRefused, read_table
    except ImportError:  # the shared reader is optional for this command
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            fail(f"{path}: cannot read the file ({exc})")
    try:
        return read_table(path, str(path)).frame
    except FileRefused as exc:
        fail(str(exc))


def _positive_mask(labels: pd.Series, positive: str) -> np.ndarray:
    """Label == positive as text, or as a number ("1" matches "1.0")."""
    wanted = positive.strip()
    mask = (labels == wanted).to_numpy()
    try:
        number = float(wanted)
    except ValueError:
        return mask
    numeric = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float)
    return mask | (numeric == number)
