"""Sentiment model throughput and held-out accuracy on the real corpora.

    python bench/bench_sentiment.py [--model DIR] [--batch-sizes 64,256,1024] [--repeat 3] [--json out.json]

Texts: the held-out 10% of each labelled corpus (``models.corpora``), plus a "~60 chars" set (every held-out
review of 40–80 characters). For each set: accuracy and macro-F1 at threshold 0.5, and texts/s of
``SentimentModel.predict_proba`` end to end (cleaning, length sort, tokenisation, model), best of ``--repeat``
runs, at each batch size. The model is loaded (and warmed up) before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.corpora import CorpusMissingError, held_out_frames, load_all
from models.metrics import accuracy, macro_f1
from models.sentiment import load_sentiment_model


def best_rate(score: object, texts: list[str], batch_size: int, repeat: int) -> float:
    """Highest texts/s over ``repeat`` runs."""
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        score(texts, batch_size=batch_size)  # type: ignore[operator]
        best = max(best, len(texts) / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory (default: committed weights)")
    parser.add_argument("--batch-sizes", default="64,256,1024")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    batch_sizes = [int(x) for x in args.batch_sizes.split(",")]

    try:
        frames = held_out_frames(load_all())
    except CorpusMissingError as exc:
        raise SystemExit(str(exc)) from exc
    pooled = list(frames.values())
    texts_all = [t for f in pooled for t in f["text"]]
    labels_all = [int(y) for f in pooled for y in f["label"]]
    sixty = [(t, y) for t, y in zip(texts_all, labels_all, strict=True) if 40 <= len(t) <= 80]
    sets = {name: (f["text"].tolist(), f["label"].tolist()) for name, f in frames.items()}
    sets["~60 chars (40-80)"] = ([t for t, _ in sixty], [y for _, y in sixty])

    started = time.perf_counter()
    model = load_sentiment_model(args.model)
    load_seconds = time.perf_counter() - started
    model.predict_proba(texts_all[:512])  # warm-up

    results: dict[str, object] = {
        "model_dir": str(model.model_dir),
        "version": model.version,
        "device": model.device,
        "torch_threads_in_predict": model.cpu_threads if model.device == "cpu" else None,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_seconds": round(load_seconds, 2),
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "sets": {},
    }
    header = "| set | n | mean chars | accuracy | macro-F1 | " + " | ".join(
        f"texts/s @{b}" for b in batch_sizes
    )
    print(header + " |")
    print("|" + " --- |" * (5 + len(batch_sizes)))
    for name, (texts, labels) in sets.items():
        pred = (model.predict_proba(texts) >= 0.5).astype(np.int64)
        rates = {b: best_rate(model.predict_proba, texts, b, args.repeat) for b in batch_sizes}
        row = {
            "n": len(texts),
            "mean_chars": float(np.mean([len(t) for t in texts])),
            "accuracy": accuracy(labels, pred),
            "macro_f1": macro_f1(labels, pred),
            "texts_per_second": {str(b): round(r, 1) for b, r in rates.items()},
        }
        results["sets"][name] = row  # type: ignore[index]
        print(
            f"| {name} | {row['n']} | {row['mean_chars']:.0f} | {row['accuracy']:.4f} | "
            f"{row['macro_f1']:.4f} | " + " | ".join(f"{rates[b]:,.0f}" for b in batch_sizes) + " |"
        )
    print(
        f"model {model.version} on {model.device}, "
        f"{results['torch_threads_in_predict']} torch thread(s) in predict, "
        f"load {load_seconds:.1f} s, system load average {results['load_average_at_start']}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
