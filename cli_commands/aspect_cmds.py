"""``train aspect`` and ``evaluate aspect``: the aspect-level polarity model."""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from cli_commands.common import fail
from models.aspect_polarity import LABELS, WEIGHTS_FILE, AspectModelError, load_aspect_model, load_weights
from models.metrics import accuracy, macro_f1
from models.train_aspect import DEFAULT_AUGMENT_WEIGHT, DEFAULT_C, DEFAULT_MIN_DF, DEFAULT_RESTAURANT_WEIGHT

REQUIRED_COLUMNS: tuple[str, ...] = ("text", "aspect", "polarity")
LABEL_ALIASES = {
    "positive": "positive",
    "pos": "positive",
    "negative": "negative",
    "neg": "negative",
    "neutral": "neutral",
    "neu": "neutral",
}


def register(train_app: typer.Typer, evaluate_app: typer.Typer) -> None:
    """Add ``aspect`` to the ``train`` and ``evaluate`` groups."""
    train_app.command("aspect")(train_aspect_cmd)
    evaluate_app.command("aspect")(evaluate_aspect_cmd)


def train_aspect_cmd(
    out: Annotated[Path, typer.Option("--out", help="Weights file to write.")] = WEIGHTS_FILE,
    c: Annotated[
        float, typer.Option("--c", min=1e-6, help="Inverse L2 strength of the logistic regression.")
    ] = DEFAULT_C,
    min_df: Annotated[
        int, typer.Option("--min-df", min=1, help="Keep features seen in at least this many mentions.")
    ] = DEFAULT_MIN_DF,
    restaurant_weight: Annotated[
        float,
        typer.Option(
            "--restaurant-weight", min=0.0, help="Sample weight of restaurant mentions (0: leave out)."
        ),
    ] = DEFAULT_RESTAURANT_WEIGHT,
    augment_weight: Annotated[
        float,
        typer.Option(
            "--augment-weight", min=0.0, help="Sample weight of opinion-word-as-term mentions (0: none)."
        ),
    ] = DEFAULT_AUGMENT_WEIGHT,
    refit_all: Annotated[
        bool,
        typer.Option(
            "--refit-all", help="Refit on train + held-out before saving (figures then optimistic)."
        ),
    ] = False,
    baseline: Annotated[
        bool, typer.Option("--baseline/--no-baseline", help="Also score the TF-IDF baseline.")
    ] = True,
) -> None:
    """Train on the aspect corpora in ../shared/data, report held-out accuracy, write the weights."""
    from models.train_aspect import AspectDataError, train, write_model_card

    command = "python cli.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        report = train(
            output=out,
            c=c,
            min_df=min_df,
            restaurant_weight=restaurant_weight,
            with_baseline=baseline,
            refit_all=refit_all,
            augment_weight=augment_weight,
            log=lambda line: print(line, flush=True),
        )
    except AspectDataError as exc:
        fail(str(exc))
    if out.resolve() == WEIGHTS_FILE.resolve():
        write_model_card(report, out.parent / "MODEL_CARD.md", command)
    print(json.dumps(report, ensure_ascii=False))


def _read(path: Path) -> pd.DataFrame:
    try:
        from data.readers import FileRefused, read_table
    except ImportError:  # pragma: no cover - readers land with the import engine
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            fail(f"{path}: cannot read the file ({exc}); give a CSV with columns text,aspect,polarity")
    try:
        table = read_table(path, path.name)
    except FileRefused as exc:
        fail(str(exc))
    if len(table.bad_lines):
        first = table.bad_lines.iloc[0]
        fail(
            f"{path}: {len(table.bad_lines)} line(s) do not fit the header's columns, first at data "
            f"row {first['source_row']} ({first['reason']}); fix or remove them"
        )
    frame = table.frame.copy()
    rows = table.source_rows or list(range(1, len(frame) + 1))
    frame.index = pd.Index(rows, name="row")
    return frame


def _parse_labels(value: str | None) -> tuple[str, ...]:
    if not value:
        return LABELS
    names = {
        LABEL_ALIASES.get(part.strip().lower(), part.strip()) for part in value.split(",") if part.strip()
    }
    unknown = sorted(names - set(LABELS))
    if unknown or not names:
        fail(f"--labels {value!r}: use a comma-separated subset of positive, negative, neutral")
    return tuple(name for name in LABELS if name in names)


def evaluate_aspect_cmd(
    data: Annotated[
        Path, typer.Option("--data", help="File with columns text,aspect,polarity (CSV, XLSX, JSON…).")
    ],
    model: Annotated[
        Path | None, typer.Option("--model", help="Weights file (default: the committed aspect model).")
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Restrict predictions to these classes, e.g. 'positive,negative' (default: all three).",
        ),
    ] = None,
) -> None:
    """Predict the polarity of each row's aspect in its text; the last line printed is JSON.

    ``macro_f1`` averages the F1 of the classes present in the file's labels (a prediction of another
    class counts as an error of the true class); ``macro_f1_union`` also averages over predicted-only
    classes.
    """
    allowed = _parse_labels(labels)
    frame = _read(data)
    if frame.index.name != "row":
        frame.index = pd.Index(range(1, len(frame) + 1), name="row")
    columns = {str(c).strip().lower(): c for c in frame.columns}
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        fail(
            f"{data}: column(s) {missing} not found; the file needs columns text,aspect,polarity "
            f"(found: {list(frame.columns)})"
        )
    texts: list[str] = []
    spans: list[tuple[int, int]] = []
    truth: list[str] = []
    for row, text, aspect, polarity in zip(
        frame.index,
        frame[columns["text"]].astype(str),
        frame[columns["aspect"]].astype(str),
        frame[columns["polarity"]].astype(str),
        strict=True,
    ):
        term = aspect.strip()
        label = LABEL_ALIASES.get(polarity.strip().lower())
        if label is None:
            fail(f"{data}, data row {row}: polarity {polarity!r} is not Positive, Negative or Neutral")
        if not term:
            fail(
                f"{data}, data row {row}: the aspect is empty; give the aspect term as it occurs in the text"
            )
        start = text.find(term)
        if start < 0:
            fail(
                f"{data}, data row {row}: aspect {term!r} does not occur in the text {text[:40]!r}; "
                "the aspect must be a substring of the text"
            )
        texts.append(text)
        spans.append((start, start + len(term)))
        truth.append(label)
    if not texts:
        fail(f"{data}: no rows to evaluate")
    try:
        predictor = load_weights(model) if model else load_aspect_model()
    except AspectModelError as exc:
        fail(str(exc))
    started = time.perf_counter()
    if allowed == LABELS:
        predictions = predictor.predict(texts, spans)
    else:
        probs = predictor.probabilities(texts, spans)
        mask = np.asarray([name in allowed for name in LABELS])
        restricted = np.where(mask, probs, -1.0)
        best = restricted.argmax(axis=1)
        predictions = [(LABELS[b], float(probs[i, b])) for i, b in enumerate(best)]
    seconds = time.perf_counter() - started
    predicted = [label for label, _ in predictions]
    y_true = np.asarray([LABELS.index(t) for t in truth])
    y_pred = np.asarray([LABELS.index(p) for p in predicted])
    truth_counts, predicted_counts = Counter(truth), Counter(predicted)
    per_class: dict[str, dict[str, float | int]] = {}
    for index, name in enumerate(LABELS):
        tp = int(np.sum((y_true == index) & (y_pred == index)))
        fp = int(np.sum((y_true != index) & (y_pred == index)))
        fn = int(np.sum((y_true == index) & (y_pred != index)))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        per_class[name] = {
            "true": truth_counts[name],
            "predicted": predicted_counts[name],
            "f1": round(f1, 4),
        }
        print(f"{name:9s} true={truth_counts[name]:6d} predicted={predicted_counts[name]:6d} f1={f1:.4f}")
    gold_classes = [name for name in LABELS if truth_counts[name]]
    result = {
        "accuracy": round(accuracy(y_true, y_pred), 4),
        "macro_f1": round(float(np.mean([per_class[name]["f1"] for name in gold_classes])), 4),
        "macro_f1_classes": gold_classes,
        "macro_f1_union": round(macro_f1(y_true, y_pred), 4),
        "n": len(texts),
        "predicted_labels": list(allowed),
        "per_class": per_class,
        "mean_confidence": round(float(np.mean([conf for _, conf in predictions])), 4),
        "mentions_per_second": round(len(texts) / seconds, 1) if seconds > 0 else None,
        "model_version": predictor.version,
    }
    print(json.dumps(result, ensure_ascii=False))
