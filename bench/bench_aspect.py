"""Aspect polarity throughput on real reviews.

    python bench/bench_aspect.py [--reviews 5000] [--repeat 3]

Reviews: a fixed random sample (seed 0) of ``online_shopping_10_cats``. Mentions: every occurrence of a
small list of common aspect terms (屏幕, 电池, 价格, 物流, 包装, 服务, 味道, 房间 …), so a review has zero to
several mentions, as in the annotation pipeline. Reports mentions/s and reviews/s of
``AspectPolarityModel.predict`` end to end (clause splitting, lexicon scan, features, scoring), best of
``--repeat`` runs, after one warm-up call. Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.config import shared_data_dir
from models.aspect_polarity import load_aspect_model, load_weights

TERMS = [
    "屏幕",
    "电池",
    "价格",
    "质量",
    "物流",
    "快递",
    "包装",
    "服务",
    "外观",
    "系统",
    "声音",
    "拍照",
    "味道",
    "客服",
    "速度",
    "效果",
    "做工",
    "手感",
    "性价比",
    "发货",
    "衣服",
    "酒店",
    "房间",
    "早餐",
    "位置",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--weights", type=Path, default=None, help="Weights file to measure (default: the shipped model)."
    )
    args = parser.parse_args()
    path = shared_data_dir() / "online_shopping_10_cats" / "online_shopping_10_cats.csv"
    if not path.is_file():
        sys.exit(f"{path} not found: ../shared/data is not beside the checkout")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    reviews = frame["review"].sample(min(args.reviews, len(frame)), random_state=0).tolist()
    pattern = re.compile("|".join(TERMS))
    texts: list[str] = []
    spans: list[tuple[int, int]] = []
    for review in reviews:
        for match in pattern.finditer(review):
            texts.append(review)
            spans.append((match.start(), match.end()))
    model = load_weights(args.weights) if args.weights else load_aspect_model()
    model.predict(texts[:100], spans[:100])
    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        predictions = model.predict(texts, spans)
        best = min(best, time.perf_counter() - started)
    result = {
        "reviews": len(reviews),
        "reviews_with_mentions": len(set(texts)),
        "mentions": len(texts),
        "mean_review_chars": round(sum(map(len, reviews)) / len(reviews), 1),
        "seconds": round(best, 3),
        "mentions_per_second": round(len(texts) / best),
        "reviews_per_second": round(len(reviews) / best),
        "labels": dict(Counter(label for label, _ in predictions)),
        "cpus": os.cpu_count(),
        "model_version": model.version,
        "window_member": model.member is not None,
        "load_average": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
