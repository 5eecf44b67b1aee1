"""A small seeded store with annotations, written straight into DuckDB (no import engine, no NLP).

Reviews (dataset 1, ratings) and survey answers (dataset 2, NPS scores) for 3 brands × 2 products, six months
of 2025, with ``feedback_sentiment`` and ``aspect_mentions`` rows whose spans point at the aspect term in the
text. The frames are returned so tests compute pandas references on the very same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from data.store import connect

PRODUCTS: tuple[tuple[str, str, float, float, float, float, bool], ...] = (
    # brand, product, price, weight_g, thickness_mm, battery_mah, is_ours
    ("华为", "Mate 60", 5999.0, 225.0, 8.9, 4750.0, True),
    ("华为", "nova 12", 2499.0, 175.0, 7.2, 4600.0, True),
    ("小米", "14", 3999.0, 188.0, 8.2, 4610.0, False),
    ("小米", "Redmi K70", 2299.0, 209.0, 8.7, 5000.0, False),
    ("vivo", "X100 Pro", 4999.0, 221.0, 8.9, 5400.0, False),
    ("vivo", "Y100", 1499.0, 190.0, 7.8, 5000.0, False),
)
ASPECTS: tuple[tuple[str, str], ...] = (
    ("电池/续航", "续航"),
    ("电池/发热", "发热"),
    ("屏幕", "屏幕"),
    ("拍照", "拍照"),
    ("客服/售后", "客服"),
)
CHANNELS = ("京东", "天猫", "抖音")
REGIONS = ("广东", "北京", "四川")
# Latent quality per (product index, aspect index): drives mention polarity and the outcome.
QUALITY = np.array(
    [
        [0.5, 0.4, 0.7, 0.8, 0.6],
        [0.6, 0.5, 0.3, 0.2, 0.6],
        [0.3, 0.3, 0.5, 0.6, 0.0],
        [0.8, 0.2, 0.2, 0.0, 0.0],
        [0.2, -0.9, 0.6, 0.7, 0.0],
        [0.7, 0.4, 0.0, -0.3, 0.0],
    ]
)


@dataclass(frozen=True)
class AnnotatedFixture:
    feedback: pd.DataFrame
    mentions: pd.DataFrame
    sentiment: pd.DataFrame
    products: pd.DataFrame


def _build(seed: int, n_reviews: int, n_survey: int) -> AnnotatedFixture:
    rng = np.random.default_rng(seed)
    n = n_reviews + n_survey
    prod = rng.integers(0, len(PRODUCTS), size=n)
    days = rng.integers(0, 181, size=n)
    created = [
        pd.Timestamp("2025-01-01") + pd.Timedelta(days=int(d), hours=int(h))
        for d, h in zip(days, rng.integers(0, 24, size=n), strict=True)
    ]
    feedback_rows = []
    mention_rows = []
    sentiment_rows = []
    for i in range(n):
        p = int(prod[i])
        brand, product = PRODUCTS[p][0], PRODUCTS[p][1]
        k = int(rng.integers(0, 4))
        chosen = rng.choice(len(ASPECTS), size=k, replace=False)
        text = f"第{i}条："
        codes = []
        for a in chosen:
            path, term = ASPECTS[int(a)]
            q = QUALITY[p, int(a)]
            u = rng.random()
            polarity = "positive" if u < 0.45 + 0.45 * q else ("negative" if u < 0.9 else "neutral")
            start = len(text)
            clause = term + (
                "很好" if polarity == "positive" else "很差" if polarity == "negative" else "一般"
            )
            text += clause + "，"
            mention_rows.append(
                {
                    "feedback_id": i + 1,
                    "dataset_id": 1 if i < n_reviews else 2,
                    "brand": brand,
                    "product": product,
                    "channel": None,
                    "created_at": created[i],
                    "aspect_path": path,
                    "aspect_top": path.split("/")[0],
                    "term": term,
                    "clause": clause,
                    "span_start": start,
                    "span_end": start + len(term),
                    "polarity": polarity,
                    "confidence": 0.9,
                    "pipeline_version": "test-1",
                }
            )
            codes.append(1 if polarity == "positive" else -1 if polarity == "negative" else 0)
        satisfaction = float(np.mean(codes)) if codes else 0.0
        is_review = i < n_reviews
        channel = CHANNELS[int(rng.integers(0, 3))] if is_review else "问卷"
        for row in mention_rows[len(mention_rows) - len(chosen) :]:
            row["channel"] = channel
        rating = (
            int(np.clip(round(3.4 + 1.5 * satisfaction + rng.normal(0, 0.8)), 1, 5)) if is_review else None
        )
        nps = None if is_review else int(np.clip(round(7.5 + 2.5 * satisfaction + rng.normal(0, 1.5)), 0, 10))
        feedback_rows.append(
            {
                "feedback_id": i + 1,
                "dataset_id": 1 if is_review else 2,
                "source_row": i,
                "content_hash": f"h{i}",
                "channel": channel,
                "brand": brand,
                "product": product,
                "created_at": created[i],
                "rating": rating,
                "nps_score": nps,
                "text": text,
                "region": REGIONS[int(rng.integers(0, 3))],
                "store": f"店{int(rng.integers(0, 4))}" if not is_review else None,
                "customer_id": None,
                "extra": None,
            }
        )
        overall = "positive" if satisfaction > 0 else "negative" if satisfaction < 0 else "neutral"
        sentiment_rows.append(
            {
                "feedback_id": i + 1,
                "dataset_id": 1 if is_review else 2,
                "text_hash": f"t{i}",
                "sentiment": overall,
                "score": 0.5 + satisfaction / 2,
                "pipeline_version": "test-1",
            }
        )
    feedback = pd.DataFrame(feedback_rows).astype({"rating": "Int8", "nps_score": "Int8"})
    products = pd.DataFrame(
        [
            {
                "brand": b,
                "product": p,
                "launch_price_cny": pr,
                "weight_g": w,
                "thickness_mm": t,
                "battery_mah": bat,
                "screen_in": 6.5,
                "is_ours": ours,
            }
            for b, p, pr, w, t, bat, ours in PRODUCTS
        ]
    )
    return AnnotatedFixture(feedback, pd.DataFrame(mention_rows), pd.DataFrame(sentiment_rows), products)


def annotated_store(
    seed: int = 3, n_reviews: int = 900, n_survey: int = 600
) -> tuple[duckdb.DuckDBPyConnection, AnnotatedFixture]:
    """An in-memory store holding the fixture, and the fixture's frames."""
    fx = _build(seed, n_reviews, n_survey)
    con = connect(":memory:")
    con.execute(
        "INSERT INTO datasets (dataset_id, name, kind) VALUES (1, '评论', 'reviews'), (2, '问卷', 'survey')"
    )
    for table, frame in (
        ("feedback", fx.feedback),
        ("aspect_mentions", fx.mentions),
        ("feedback_sentiment", fx.sentiment),
        ("products", fx.products),
    ):
        con.register("_fixture_frame", frame)
        columns = ", ".join(frame.columns)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _fixture_frame")
        con.unregister("_fixture_frame")
    return con, fx
