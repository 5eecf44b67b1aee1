"""Classification metrics for binary sentiment: accuracy and macro-F1 (no scikit-learn needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Share of predictions equal to the labels."""
    truth, pred = _as_arrays(y_true, y_pred)
    return float(np.mean(truth == pred)) if truth.size else float("nan")


def macro_f1(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Unweighted mean of the F1 of every class present in the labels or the predictions."""
    truth, pred = _as_arrays(y_true, y_pred)
    if not truth.size:
        return float("nan")
    scores = []
    for cls in np.union1d(truth, pred):
        tp = float(np.sum((pred == cls) & (truth == cls)))
        fp = float(np.sum((pred == cls) & (truth != cls)))
        fn = float(np.sum((pred != cls) & (truth == cls)))
        denominator = 2 * tp + fp + fn
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def _as_arrays(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(y_true).astype(np.int64).ravel()
    pred = np.asarray(y_pred).astype(np.int64).ravel()
    if truth.shape != pred.shape:
        raise ValueError(f"labels and predictions differ in length: {truth.size} vs {pred.size}")
    return truth, pred
