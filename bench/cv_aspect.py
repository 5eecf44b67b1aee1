"""5-fold cross-validation of the aspect polarity model on the training side of the aspect corpora.

    python bench/cv_aspect.py [--weights 0,0.2,0.35] [--json out.json]

Folds are grouped by sentence (``models.train_aspect.cv_fold``); each fold is fitted exactly as
``python cli.py train aspect`` fits the shipped model (augmentation from the training folds, clause model,
window member), and the held-out split of ``train`` is never touched. Prints per-domain accuracy for each
window-member weight (0 = the clause model alone). Takes 5–15 minutes on the shared 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.train_aspect import DEFAULT_MEMBER_WEIGHT, TARGET_DOMAINS, AspectDataError, cross_validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=f"0,{DEFAULT_MEMBER_WEIGHT}", help="Member weights to compare.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results as JSON.")
    args = parser.parse_args()
    try:
        weights = [float(value) for value in args.weights.split(",")]
    except ValueError:
        raise SystemExit(f"--weights {args.weights!r}: give comma-separated numbers in [0, 1]") from None
    try:
        results = cross_validate(member_weights=weights, log=lambda line: print(line, flush=True))
    except AspectDataError as exc:
        raise SystemExit(str(exc)) from None
    domains = [*TARGET_DOMAINS, "shampoo", "restaurant"]
    print("| member weight | " + " | ".join(domains) + " | mean of the four |")
    print("| --- |" + " ---: |" * (len(domains) + 1))
    for name, scores in results.items():
        values = [scores[d]["accuracy"] for d in domains]
        mean4 = sum(scores[d]["accuracy"] for d in TARGET_DOMAINS) / len(TARGET_DOMAINS)
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in values) + f" | {mean4:.4f} |")
    print("n: " + ", ".join(f"{d} {results[next(iter(results))][d]['n']}" for d in domains))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
