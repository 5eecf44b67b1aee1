"""A small, fixed-seed store for analytics and app tests, filled through the real import engine.

Two datasets: 240 reviews (3 brands, 4 models, channels 京东/天猫/none, 2025-01…2025-06, a few undated)
and 200 survey answers with NPS scores. The source frames are returned so tests can compute pandas
references independently of the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from data.ingest import ImportResult, ingest_frame
from data.store import connect

MODELS: tuple[tuple[str, str], ...] = (
    ("华为", "Mate 60"),
    ("华为", "P70"),
    ("小米", "14 Pro"),
    ("Apple", "iPhone 15"),
)
REVIEW_CHANNELS: tuple[str | None, ...] = ("京东", "天猫", None)
START = pd.Timestamp("2025-01-01")
DAYS = 181  # 2025-01-01 … 2025-06-30


@dataclass(frozen=True)
class Fixture:
    reviews: pd.DataFrame
    survey: pd.DataFrame
    reviews_result: ImportResult
    survey_result: ImportResult

    def combined(self) -> pd.DataFrame:
        """Both source frames with their dataset id and kind, as the store should hold them."""
        reviews = self.reviews.assign(dataset_id=self.reviews_result.dataset_id, kind="reviews")
        survey = self.survey.assign(dataset_id=self.survey_result.dataset_id, kind="survey")
        return pd.concat([reviews, survey], ignore_index=True)


def _dates(rng: np.random.Generator, n: int, undated_every: int) -> list[pd.Timestamp | None]:
    days = rng.integers(0, DAYS, size=n)
    hours = rng.integers(0, 24, size=n)
    out: list[pd.Timestamp | None] = [
        START + pd.Timedelta(days=int(d), hours=int(h)) for d, h in zip(days, hours, strict=True)
    ]
    for i in range(0, n, undated_every):
        out[i] = None
    return out


def review_frame(seed: int = 7, n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    models = [MODELS[i] for i in rng.integers(0, len(MODELS), size=n)]
    return pd.DataFrame(
        {
            "text": [f"第{i}条评论：{model}的续航和屏幕" for i, (_, model) in enumerate(models)],
            "rating": rng.integers(1, 6, size=n).astype("int64"),
            "created_at": _dates(rng, n, undated_every=40),
            "brand": [brand for brand, _ in models],
            "product": [model for _, model in models],
            "channel": [REVIEW_CHANNELS[i] for i in rng.integers(0, len(REVIEW_CHANNELS), size=n)],
        }
    )


def survey_frame(seed: int = 11, n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    models = [MODELS[i] for i in rng.integers(0, len(MODELS), size=n)]
    # Skewed towards high scores so the NPS is clearly positive overall.
    scores = rng.choice(np.arange(11), size=n, p=[0.03] * 7 + [0.1, 0.15, 0.27, 0.27])
    return pd.DataFrame(
        {
            "text": [f"问卷{i}：推荐{model}" for i, (_, model) in enumerate(models)],
            "nps_score": scores.astype("int64"),
            "created_at": _dates(rng, n, undated_every=50),
            "brand": [brand for brand, _ in models],
            "product": [model for _, model in models],
            "channel": ["问卷"] * n,
        }
    )


def fill(con: duckdb.DuckDBPyConnection) -> Fixture:
    """Import the two fixture datasets into ``con`` through ``data.ingest.ingest_frame``."""
    reviews = review_frame()
    survey = survey_frame()
    identity = {c: c for c in reviews.columns}
    reviews_result = ingest_frame(
        con, reviews, name="测试评论", kind="reviews", mapping=identity, source_file="fixture_reviews.csv"
    )
    survey_result = ingest_frame(
        con, survey, name="测试问卷", kind="survey", mapping={c: c for c in survey.columns},
        source_file="fixture_survey.csv",
    )
    return Fixture(reviews, survey, reviews_result, survey_result)


def build_store(path: Path) -> Fixture:
    """Create a store file at ``path`` holding the fixture, and close it."""
    con = connect(path)
    try:
        return fill(con)
    finally:
        con.close()
