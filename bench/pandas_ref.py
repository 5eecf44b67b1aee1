"""The same page aggregates done the way a user would otherwise do them: pandas on the data in memory.

:func:`load` reads the store's tables into DataFrames once (timed separately; not counted per query).
Each entry of :data:`PAGES` computes the main aggregates of that page for one :class:`Filters` value; they
cover less than the page's SQL does (no intervals, no z-tests, no MMR), so the pandas/ours ratio is a lower
bound of the speed-up. :func:`agreement` checks that pandas and the analytics functions count the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from analytics.filters import FILTER_COLUMNS, Filters


@dataclass(frozen=True)
class Frames:
    feedback: pd.DataFrame  # feedback + datasets.kind + has_sentiment
    mentions: pd.DataFrame
    products: pd.DataFrame


def load(con: duckdb.DuckDBPyConnection) -> Frames:
    feedback = con.execute(
        "SELECT f.feedback_id, f.dataset_id, f.channel, f.brand, f.product, f.created_at, f.rating, "
        "f.nps_score, f.text, f.region, d.kind, s.feedback_id IS NOT NULL AS annotated "
        "FROM feedback f JOIN datasets d USING (dataset_id) "
        "LEFT JOIN feedback_sentiment s USING (dataset_id, feedback_id)"
    ).df()
    mentions = con.execute(
        "SELECT feedback_id, dataset_id, brand, product, channel, created_at, aspect_path, aspect_top, "
        "term, polarity FROM aspect_mentions"
    ).df()
    products = con.execute("SELECT brand, product, weight_g, thickness_mm, is_ours FROM products").df()
    return Frames(feedback, mentions, products)


def _mask(frame: pd.DataFrame, f: Filters, skip: tuple[str, ...] = ()) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    if f.date_from is not None:
        mask &= (frame["created_at"] >= pd.Timestamp(f.date_from)).to_numpy()
    if f.date_to is not None:
        mask &= (frame["created_at"] < pd.Timestamp(f.date_to) + pd.Timedelta(days=1)).to_numpy()
    for name, column in FILTER_COLUMNS.items():
        values = getattr(f, name)
        if values and name not in skip:
            mask &= frame[column].isin(values).to_numpy()
    return mask


def feedback_rows(fr: Frames, f: Filters) -> pd.DataFrame:
    return fr.feedback[_mask(fr.feedback, f)]


def mention_rows(fr: Frames, f: Filters) -> pd.DataFrame:
    m = fr.mentions[_mask(fr.mentions, f, skip=("regions",))]
    if f.regions:
        ids = fr.feedback.loc[fr.feedback["region"].isin(f.regions), "feedback_id"]
        m = m[m["feedback_id"].isin(ids)]
    return m


def _nps_groups(frame: pd.DataFrame, keys: list) -> pd.DataFrame:
    score = frame["nps_score"]
    group = np.select([score >= 9, score >= 7], ["promoters", "passives"], "detractors")
    grouped = frame.assign(group=group)
    if not keys:
        return grouped["group"].value_counts()
    return grouped.groupby([*keys, "group"]).size().unstack(fill_value=0)


def _polarity_counts(m: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return m.groupby([*keys, "polarity"]).size().unstack(fill_value=0)


def _month(frame: pd.DataFrame) -> pd.Series:
    return frame["created_at"].dt.to_period("M")


def overview(fr: Frames, f: Filters) -> object:
    rows = feedback_rows(fr, f)
    kpis = (len(rows), rows["kind"].value_counts(), rows["dataset_id"].nunique(), rows["brand"].nunique(),
            rows["product"].nunique(), rows["created_at"].min(), rows["created_at"].max(),
            rows["rating"].mean(), _nps_groups(rows.dropna(subset=["nps_score"]), []).sum())
    answers = rows.dropna(subset=["nps_score", "created_at"])
    trend = _nps_groups(answers.assign(month=_month(answers)), ["month"])
    reviews = rows[(rows["kind"] == "reviews") & rows["created_at"].notna()]
    volume = reviews.groupby([_month(reviews), "channel"]).size()
    market = mention_rows(fr, f.with_(brands=(), products=()))
    brands = _polarity_counts(market, ["brand", "aspect_top"])
    m = mention_rows(fr, f)
    end = m["created_at"].max()
    window = m["created_at"] > end - pd.Timedelta(days=90)
    changes = (_polarity_counts(m[window], ["aspect_top"]), _polarity_counts(m[~window], ["aspect_top"]))
    return kpis, trend, volume, brands, changes


def nps_page(fr: Frames, f: Filters) -> object:
    rows = feedback_rows(fr, f).dropna(subset=["nps_score", "created_at"])
    month = _month(rows)
    trend = _nps_groups(rows.assign(month=month), ["month"])
    last = rows[(month == month.max()) & (rows["nps_score"] <= 6) & rows["text"].notna()]
    verbatims = last.sort_values("created_at", ascending=False).head(200)
    return trend, verbatims


def aspects_page(fr: Frames, f: Filters) -> object:
    m = mention_rows(fr, f)
    summary = _polarity_counts(m, ["aspect_top"])
    heatmap = _polarity_counts(m, ["brand", "product", "aspect_top"])
    volume = m.groupby([_month(m), "aspect_top"]).size()
    if heatmap.empty:
        return summary, heatmap, volume
    brand, product, aspect = heatmap.sum(axis=1).idxmax()
    cell = m[(m["brand"] == brand) & (m["product"] == product) & (m["aspect_top"] == aspect)]
    trend = _polarity_counts(cell.assign(month=_month(cell)), ["month"])
    texts = cell[["feedback_id", "term"]].merge(fr.feedback[["feedback_id", "text", "created_at"]],
                                                on="feedback_id")
    return summary, heatmap, volume, trend, texts


def competitors_page(fr: Frames, f: Filters) -> object:
    rows = feedback_rows(fr, f)
    per_product = rows.groupby(["brand", "product"]).agg(n=("feedback_id", "size"), rating=("rating", "mean"))
    points = per_product.reset_index().merge(fr.products, on=["brand", "product"])
    m = mention_rows(fr, f)
    aspect_scores = _polarity_counts(m, ["brand", "product", "aspect_top"])
    return _polarity_counts(m, ["aspect_top"]), points, aspect_scores


def quotes_page(fr: Frames, f: Filters) -> object:
    m = mention_rows(fr, f)
    summary = _polarity_counts(m, ["aspect_top"])
    rows = feedback_rows(fr, f)
    texts = rows["text"].fillna("")
    found = rows[texts.str.contains("电池", regex=False) & texts.str.contains("发热", regex=False)]
    search = found.sort_values("created_at", ascending=False).head(200)
    candidates = m[["feedback_id"]].drop_duplicates().merge(rows[["feedback_id", "text"]], on="feedback_id")
    return summary, search, candidates


def drivers_page(fr: Frames, f: Filters) -> object:
    rows = feedback_rows(fr, f)
    rows = rows[rows["annotated"]]
    outcome = "nps_score" if rows["nps_score"].notna().sum() >= 30 else "rating"
    y = rows.dropna(subset=[outcome]).set_index("feedback_id")[outcome]
    m = mention_rows(fr, f)
    x = np.sign(m["polarity"].map({"positive": 1, "negative": -1, "neutral": 0}))
    codes = np.sign(x.groupby([m["feedback_id"], m["aspect_top"]]).sum()).unstack(fill_value=0)
    joined = codes.join(y, how="inner")
    return joined.corr()[outcome]


def frame_options(fr: Frames, f: Filters) -> object:
    fb = fr.feedback
    lists = [fb[c].dropna().unique() for c in ("brand", "channel", "region")]
    return lists, fb[["brand", "product"]].drop_duplicates()


PAGES: dict[str, Callable[[Frames, Filters], object]] = {
    "frame": frame_options,
    "overview": overview,
    "nps": nps_page,
    "aspects": aspects_page,
    "competitors": competitors_page,
    "quotes": quotes_page,
    "drivers": drivers_page,
}


def agreement(con: duckdb.DuckDBPyConnection, fr: Frames, f: Filters) -> list[str]:
    """Differences between pandas and the analytics functions on row counts (empty when they agree)."""
    from analytics import aspects, overview as overview_queries  # noqa: I001 (kept local: only used here)

    problems: list[str] = []
    kpis = overview_queries.overview_kpis(con, f)
    if kpis.feedback != len(feedback_rows(fr, f)):
        problems.append(f"{f.describe('en')}: overview_kpis.feedback {kpis.feedback} != pandas "
                        f"{len(feedback_rows(fr, f))}")
    ours = aspects.aspect_summary(con, f).set_index("aspect")["n"].to_dict()
    theirs = mention_rows(fr, f).groupby("aspect_top").size().to_dict()
    if {k: int(v) for k, v in ours.items()} != {k: int(v) for k, v in theirs.items()}:
        problems.append(f"{f.describe('en')}: aspect_summary counts differ from pandas")
    return problems
