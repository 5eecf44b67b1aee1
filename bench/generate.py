"""Seeded synthetic feedback in the real store schema, for the performance benchmark (``bench/run.py``).

:func:`build_store` writes ``n`` feedback rows into a fresh store the way the product would hold them after
import + annotation, but without running the NLP: the annotation rows (``feedback_sentiment``,
``aspect_mentions``) are written directly with DuckDB. The mix copies the demo market measured on a demo
store (46,800 feedback rows, 41,897 texts, 107,340 aspect mentions):

- 76.9% reviews (京东/天猫/抖音/微博; 微博 posts carry no rating), 12.8% "our" NPS survey (华为 only, with
  store and customer id), 10.3% market NPS survey; 54.6% of survey answers have a text;
- every text has 1–11 aspect mentions with the demo's distribution (mean 2.56 per text), over the demo's
  22 aspect paths with their measured shares; polarity 69.6% positive, 28.4% negative, 2.0% neutral;
- 18 real phone models of 6 brands (``data.demo.products_frame``, imported through ``ingest_frame``),
  31 provinces, 24 months (2023-07 to 2025-06).

Texts are an aspect part (from a seeded pool of composed clauses, whose mention spans are exact) plus a
filler from a second pool and a number, so almost every text is distinct (as with real reviews; a small
pool of identical texts would let DuckDB's dictionary compression flatter the text scans).

Rows are stored in ``created_at`` order (feedback, sentiment and mentions alike), as the import (which sorts
each file by date) and the annotation (pending feedback by date) leave data fed in over time; ``feedback_id``
is the generation order, as the import allocates ids in file order.

:func:`export_review_files` writes the review rows as CSV and Parquet in the demo's source format (Chinese
headers), in a seeded shuffled order, the input of the import benchmark (which then measures the sort).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from data import rollups
from data.demo import PRODUCT_MAPPING, products_frame
from data.ingest import ingest_frame
from data.store import connect, transaction

PIPELINE_VERSION = "bench-synthetic"
CHUNK_ROWS = 500_000

# Measured on a demo store (see the module docstring).
KIND_SHARES = (("reviews", 0.769), ("survey_ours", 0.128), ("survey_market", 0.103))
REVIEW_CHANNELS = (("京东", 0.377), ("天猫", 0.303), ("抖音", 0.179), ("微博", 0.141))
UNRATED_CHANNEL = "微博"
OUR_SURVEY_CHANNEL = "售后回访问卷"
MARKET_SURVEY_CHANNEL = "行业NPS对标调研"
SURVEY_TEXT_SHARE = 0.546
MENTIONS_PER_TEXT = (11157, 12074, 8925, 5417, 2827, 1104, 326, 55, 10, 1, 1)  # texts with 1, 2, … mentions
POLARITY_SHARES = (("positive", 0.696), ("negative", 0.284), ("neutral", 0.020))
# aspect path -> (mentions in the demo, its most frequent terms)
ASPECTS: dict[str, tuple[int, tuple[str, ...]]] = {
    "电池/续航": (12042, ("续航", "电量", "一天一充")),
    "拍照": (8373, ("拍照", "像素", "夜景")),
    "电池/充电": (7018, ("充电", "快充", "充满")),
    "物流": (6875, ("物流", "发货", "配送")),
    "性能/流畅度": (6797, ("流畅", "卡顿", "运行")),
    "系统": (5908, ("系统", "应用", "广告")),
    "屏幕": (5735, ("屏幕", "屏幕显示", "护眼")),
    "信号": (5166, ("信号", "断网", "5G")),
    "电池/发热": (5109, ("发热", "烫手", "发烫")),
    "价格/性价比": (4542, ("性价比", "划算", "实惠")),
    "外观/厚度": (4420, ("厚度", "机身")),
    "性能": (4359, ("性能", "王者荣耀", "配置")),
    "外观/手感": (4301, ("手感", "单手", "握持")),
    "外观/重量": (4164, ("重量", "分量")),
    "客服/售后": (3697, ("售后", "售后服务", "维修")),
    "价格": (3656, ("价格", "价位", "降价")),
    "电池": (3463, ("电池",)),
    "外观": (3351, ("外观", "颜值", "颜色")),
    "客服": (3294, ("客服", "服务态度", "回复")),
    "包装": (2389, ("包装", "封膜", "盒子")),
    "音效": (2103, ("外放", "音质", "音效")),
    "外观/做工": (578, ("边框", "后盖")),
}
OPINIONS = {
    "positive": ("很好", "非常满意", "没得说", "超出预期", "很给力", "真不错", "挺好的"),
    "negative": ("太差了", "很失望", "不太行", "有问题", "让人头疼", "一般般还不如上一部"),
    "neutral": ("还行", "中规中矩", "和预期差不多"),
}
FILLERS = (
    "给爸妈买的", "换机一周了", "给老婆买的", "活动价入手", "第二次买这个牌子", "618下单的", "用来打游戏",
    "朋友推荐的", "双十一买的", "工作机", "送给孩子的", "旧机以旧换新", "到手三天", "等了好久才到货",
)
FILLER_ENDINGS = ("，总体满意。", "，值得入手！", "，再观察看看。", "，推荐购买。", "。", "，中规中矩。",
                  "，不会再买了。", "，好评！")
PROVINCES = (
    ("广东", 5606), ("江苏", 3793), ("浙江", 3399), ("山东", 3146), ("河南", 2842), ("四川", 2580),
    ("湖南", 1936), ("河北", 1927), ("湖北", 1859), ("安徽", 1804), ("上海", 1778), ("北京", 1720),
    ("福建", 1685), ("广西", 1313), ("辽宁", 1280), ("陕西", 1234), ("江西", 1103), ("重庆", 1051),
    ("云南", 1047), ("山西", 833), ("黑龙江", 771), ("贵州", 738), ("天津", 650), ("吉林", 575),
    ("内蒙古", 504), ("甘肃", 463), ("新疆", 423), ("海南", 323), ("宁夏", 193), ("青海", 128), ("西藏", 96),
)
FIRST_DAY = dt.datetime(2023, 7, 1)
DAYS = 731  # 2023-07-01 .. 2025-06-30
TEXT_POOL = 8192
FILLER_POOL = 2048
DATASET_NAMES = {"reviews": "基准 · 用户评论", "survey_ours": "基准 · 售后回访问卷",
                 "survey_market": "基准 · 行业NPS对标调研"}
KIND_OF = {"reviews": "reviews", "survey_ours": "survey", "survey_market": "survey"}


@dataclass(frozen=True)
class BuildSummary:
    """What :func:`build_store` wrote."""

    feedback: int
    texts: int
    mentions: int
    seconds: float  # base tables
    rollup_seconds: float = 0.0  # data.rollups.rebuild afterwards, timed apart


def _shares(
    pairs: tuple[tuple[str, float], ...] | tuple[tuple[str, int], ...],
) -> tuple[list[str], np.ndarray]:
    names = [name for name, _ in pairs]
    weights = np.asarray([w for _, w in pairs], dtype="float64")
    return names, weights / weights.sum()


def text_pool(rng: np.random.Generator, size: int = TEXT_POOL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``size`` aspect texts (``pool_id``, ``text``, ``sentiment``, ``score``, ``positivity``) and their
    mentions (``pool_id``, aspect path/top, term, clause, exact span, polarity, confidence)."""
    paths = list(ASPECTS)
    path_p = np.asarray([ASPECTS[p][0] for p in paths], dtype="float64")
    path_p /= path_p.sum()
    count_p = np.asarray(MENTIONS_PER_TEXT, dtype="float64")
    count_p /= count_p.sum()
    polarities, polarity_p = _shares(POLARITY_SHARES)
    texts: list[dict[str, object]] = []
    mentions: list[dict[str, object]] = []
    for pool_id in range(size):
        k = int(rng.choice(len(count_p), p=count_p)) + 1
        chosen = rng.choice(len(paths), size=min(k, len(paths)), replace=False, p=path_p)
        clauses: list[str] = []
        offset = 0
        score = 0
        for index in chosen:
            path = paths[int(index)]
            terms = ASPECTS[path][1]
            term = terms[int(rng.integers(len(terms)))]
            polarity = polarities[int(rng.choice(len(polarities), p=polarity_p))]
            opinion = OPINIONS[polarity][int(rng.integers(len(OPINIONS[polarity])))]
            clause = f"{term}{opinion}"
            mentions.append({
                "pool_id": pool_id, "aspect_path": path, "aspect_top": path.split("/")[0], "term": term,
                "clause": clause, "span_start": offset, "span_end": offset + len(term), "polarity": polarity,
                "confidence": round(float(rng.uniform(0.55, 0.99)), 4),
            })
            clauses.append(clause)
            offset += len(clause) + 1  # the "，" after the clause
            score += {"positive": 1, "negative": -1, "neutral": 0}[polarity]
        positivity = score / len(chosen)
        sentiment = "positive" if positivity > 0.2 else "negative" if positivity < -0.2 else "neutral"
        texts.append({"pool_id": pool_id, "text": "，".join(clauses) + "，", "sentiment": sentiment,
                      "score": round(0.5 + positivity / 2, 4), "positivity": positivity})
    return pd.DataFrame(texts), pd.DataFrame(mentions)


def filler_pool(rng: np.random.Generator, size: int = FILLER_POOL) -> pd.DataFrame:
    """``size`` text endings (``filler_id``, ``filler``) with no aspect term in them."""
    heads = rng.integers(len(FILLERS), size=size)
    ends = rng.integers(len(FILLER_ENDINGS), size=size)
    fillers = [FILLERS[h] + FILLER_ENDINGS[e] for h, e in zip(heads, ends, strict=True)]
    return pd.DataFrame({"filler_id": np.arange(size), "filler": fillers})


def _chunk_frame(rng: np.random.Generator, start: int, size: int, positivity: np.ndarray,
                 n_products: int, huawei: np.ndarray) -> pd.DataFrame:
    """Typed columns of ``size`` feedback rows (ids from ``start + 1``); strings are looked up in SQL."""
    kinds, kind_p = _shares(KIND_SHARES)
    channels, channel_p = _shares(REVIEW_CHANNELS)
    _, province_p = _shares(PROVINCES)
    kind = rng.choice(len(kinds), size=size, p=kind_p)
    is_review = kind == 0
    channel = np.where(is_review, rng.choice(len(channels), size=size, p=channel_p),
                       np.where(kind == 1, len(channels), len(channels) + 1))
    product = rng.integers(n_products, size=size)
    product = np.where(kind == 1, rng.choice(huawei, size=size), product)  # our survey: our brand only
    has_text = is_review | (rng.random(size) < SURVEY_TEXT_SHARE)
    pool_id = rng.integers(TEXT_POOL, size=size)
    tone = positivity[pool_id]
    noise = rng.normal(0.0, 0.8, size=size)
    rated = is_review & (channel != channels.index(UNRATED_CHANNEL))
    rating = np.clip(np.rint(3.7 + 1.3 * tone + noise), 1, 5)
    nps = np.clip(np.rint(7.2 + 2.5 * np.where(has_text, tone, 0.0) + 1.8 * noise), 0, 10)
    seconds = rng.integers(DAYS * 86_400, size=size)
    return pd.DataFrame({
        "feedback_id": np.arange(start + 1, start + size + 1, dtype="int64"),
        "kind_idx": kind.astype("int16"),
        "channel_idx": channel.astype("int16"),
        "product_idx": product.astype("int16"),
        "created_at": np.datetime64(FIRST_DAY, "us") + seconds.astype("timedelta64[s]"),
        "rating": pd.array(np.where(rated, rating, np.nan), dtype="Int8"),
        "nps_score": pd.array(np.where(is_review, np.nan, nps), dtype="Int8"),
        "region_idx": rng.choice(len(PROVINCES), size=size, p=province_p).astype("int16"),
        "store_no": pd.array(np.where(kind == 1, rng.integers(1, 400, size=size), np.nan), dtype="Int32"),
        "has_text": has_text,
        "pool_id": pool_id.astype("int32"),
        "filler_id": rng.integers(FILLER_POOL, size=size).astype("int32"),
        "days_used": rng.integers(1, 400, size=size).astype("int32"),
    })


def _source_rows(kind: np.ndarray, rows_so_far: np.ndarray) -> np.ndarray:
    """1-based row number of each row within its dataset's file, continuing ``rows_so_far`` (updated)."""
    out = np.empty(len(kind), dtype="int32")
    for k in range(len(rows_so_far)):
        where = np.flatnonzero(kind == k)
        out[where] = rows_so_far[k] + np.arange(1, len(where) + 1)
        rows_so_far[k] += len(where)
    return out


def _lookup_tables(con: duckdb.DuckDBPyConnection, rng: np.random.Generator,
                   dataset_ids: dict[str, int]) -> tuple[np.ndarray, int, np.ndarray]:
    """Create the temporary lookup tables; return (text positivity by pool id, products, our products)."""
    texts, mentions = text_pool(rng)
    fillers = filler_pool(rng)
    products = products_frame()[["brand", "product", "is_ours"]].reset_index(drop=True)
    products["product_idx"] = np.arange(len(products), dtype="int16")
    channels = [name for name, _ in REVIEW_CHANNELS] + [OUR_SURVEY_CHANNEL, MARKET_SURVEY_CHANNEL]
    kinds = [name for name, _ in KIND_SHARES]
    lookups = {
        "_b_texts": texts.drop(columns="positivity"),
        "_b_mentions": mentions,
        "_b_fillers": fillers,
        "_b_products": products,
        "_b_channels": pd.DataFrame({"channel_idx": np.arange(len(channels), dtype="int16"),
                                     "channel": channels}),
        "_b_regions": pd.DataFrame({"region_idx": np.arange(len(PROVINCES), dtype="int16"),
                                    "region": [name for name, _ in PROVINCES]}),
        "_b_kinds": pd.DataFrame({"kind_idx": np.arange(len(kinds), dtype="int16"),
                                  "dataset_id": [dataset_ids[k] for k in kinds]}),
    }
    for name, frame in lookups.items():
        con.register("_b_frame", frame)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _b_frame")
        con.unregister("_b_frame")
    huawei = np.flatnonzero(products["is_ours"].to_numpy())
    return texts["positivity"].to_numpy(), len(products), huawei


_FEEDBACK_SQL = """
INSERT INTO _b_all
SELECT g.feedback_id, k.dataset_id,
       g.source_row,
       c.channel, p.brand, p.product, g.created_at, g.rating, g.nps_score,
       CASE WHEN g.has_text THEN t.text || '用了' || g.days_used || '天，' || fl.filler END AS text,
       r.region,
       CASE WHEN g.store_no IS NOT NULL THEN p.brand || '体验店' || g.store_no END AS store,
       CASE WHEN g.store_no IS NOT NULL THEN 'C' || lpad(CAST(g.feedback_id AS VARCHAR), 9, '0') END
           AS customer_id,
       g.pool_id, t.sentiment, t.score
FROM _b_gen g
JOIN _b_kinds k USING (kind_idx)
JOIN _b_channels c USING (channel_idx)
JOIN _b_products p USING (product_idx)
JOIN _b_regions r USING (region_idx)
JOIN _b_texts t USING (pool_id)
JOIN _b_fillers fl USING (filler_id)
"""

_ALL_COLUMNS = (
    "feedback_id BIGINT, dataset_id INTEGER, source_row INTEGER, channel VARCHAR, brand VARCHAR, "
    "product VARCHAR, created_at TIMESTAMP, rating TINYINT, nps_score TINYINT, text VARCHAR, "
    "region VARCHAR, store VARCHAR, customer_id VARCHAR, pool_id INTEGER, sentiment VARCHAR, score DOUBLE"
)

_INSERT_SQL = (
    """
    INSERT INTO feedback (feedback_id, dataset_id, source_row, content_hash, channel, brand, product,
                          created_at, rating, nps_score, text, region, store, customer_id, extra)
    SELECT feedback_id, dataset_id, source_row,
           sha256(concat_ws('|', dataset_id, source_row, channel, brand, product, created_at, rating,
                            nps_score, text, region, store, customer_id)),
           channel, brand, product, created_at, rating, nps_score, text, region, store, customer_id,
           json_object('品牌', brand, '机型', product)
    FROM _b_all ORDER BY created_at NULLS LAST, feedback_id
    """,
    f"""
    INSERT INTO feedback_sentiment (feedback_id, dataset_id, text_hash, sentiment, score, pipeline_version)
    SELECT feedback_id, dataset_id, md5(text), sentiment, score, '{PIPELINE_VERSION}'
    FROM _b_all WHERE text IS NOT NULL ORDER BY created_at NULLS LAST, feedback_id
    """,
    f"""
    INSERT INTO aspect_mentions (feedback_id, dataset_id, brand, product, channel, created_at, aspect_path,
                                 aspect_top, term, clause, span_start, span_end, polarity, confidence,
                                 pipeline_version)
    SELECT c.feedback_id, c.dataset_id, c.brand, c.product, c.channel, c.created_at, m.aspect_path,
           m.aspect_top, m.term, m.clause, m.span_start, m.span_end, m.polarity, m.confidence,
           '{PIPELINE_VERSION}'
    FROM _b_all c JOIN _b_mentions m USING (pool_id)
    WHERE c.text IS NOT NULL ORDER BY c.created_at NULLS LAST, c.feedback_id, m.span_start
    """,
)


def _create_datasets(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    ingest_frame(con, products_frame(), name="基准 · 机型参数", kind="products", mapping=PRODUCT_MAPPING,
                 source_file="bench/generate.py")
    ids: dict[str, int] = {}
    for key, name in DATASET_NAMES.items():
        ids[key] = int(con.execute(
            "INSERT INTO datasets (name, kind, source_file, encoding, taxonomy) VALUES (?, ?, ?, 'utf-8', "
            "'phone') RETURNING dataset_id",
            [name, KIND_OF[key], "bench/generate.py"],
        ).fetchall()[0][0])
    return ids


def build_store(path: str | Path, n: int, seed: int = 0) -> BuildSummary:
    """Write ``n`` feedback rows with their annotations into a new store at ``path`` (must not exist)."""
    if n < 1:
        raise ValueError(f"the benchmark needs at least one feedback row, got {n}")
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target} exists; the benchmark builds its store in a new file")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    con = connect(target)
    try:
        dataset_ids = _create_datasets(con)
        positivity, n_products, huawei = _lookup_tables(con, rng, dataset_ids)
        rows_so_far = np.zeros(len(KIND_SHARES), dtype="int64")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _b_all ({_ALL_COLUMNS})")
        for start in range(0, n, CHUNK_ROWS):
            size = min(CHUNK_ROWS, n - start)
            frame = _chunk_frame(rng, start, size, positivity, n_products, huawei)
            frame["source_row"] = _source_rows(frame["kind_idx"].to_numpy(), rows_so_far)
            con.register("_b_gen", frame)
            con.execute(_FEEDBACK_SQL)
            con.unregister("_b_gen")
        # Stored in created_at order (NULLs last), as the import (data/ingest_sql.insert_feedback_from) and
        # the annotation (models/annotation_store: pending feedback by date) leave rows fed in over time;
        # feedback_id stays the generation (file) order, as the import allocates it.
        with transaction(con):
            for sql in _INSERT_SQL:
                con.execute(sql)
        con.execute("DROP TABLE _b_all")
        con.execute(
            "UPDATE datasets SET rows_read = s.n, rows_imported = s.n FROM (SELECT dataset_id, count(*) AS n"
            " FROM feedback GROUP BY ALL) s WHERE datasets.dataset_id = s.dataset_id"
        )
        feedback, texts, mentions = con.execute(
            "SELECT (SELECT count(*) FROM feedback), (SELECT count(*) FROM feedback_sentiment),"
            " (SELECT count(*) FROM aspect_mentions)"
        ).fetchall()[0]
        seconds = time.perf_counter() - started
        # The rows above were written directly, so the dashboards' rollups are filled by the product's own
        # full rebuild, timed apart (what `python cli.py rollups rebuild` does for such a store).
        rollups_started = time.perf_counter()
        with transaction(con):
            rollups.rebuild(con)
        rollup_seconds = time.perf_counter() - rollups_started
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return BuildSummary(int(feedback), int(texts), int(mentions), seconds, rollup_seconds)


REVIEW_FILE_COLUMNS = {"text": "评论内容", "rating": "评分", "created_at": "评论时间", "brand": "品牌",
                       "product": "机型", "channel": "渠道", "region": "省份"}


def export_review_files(
    store: str | Path, folder: str | Path, limit: int | None = None, seed: int = 0
) -> dict[str, object]:
    """Write the store's review rows (at most ``limit``) as ``reviews.csv`` and ``reviews.parquet`` in the
    demo's source format, in a shuffled order (the same for the same ``seed``), so importing them measures
    the import's sort by date; return their paths and row count."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(
        f"strftime(f.{field}, '%Y-%m-%d %H:%M:%S') AS {header}" if field == "created_at"
        else f"f.{field} AS {header}"
        for field, header in REVIEW_FILE_COLUMNS.items()
    )
    limit_sql = f"LIMIT {int(limit)}" if limit is not None else ""
    shuffled = f"hash(f.feedback_id, {int(seed)}), f.feedback_id"
    select = (f"SELECT {columns} FROM feedback f JOIN datasets d USING (dataset_id) "
              f"WHERE d.kind = 'reviews' ORDER BY {shuffled} {limit_sql}")
    csv_path, parquet_path = out / "reviews.csv", out / "reviews.parquet"
    con = duckdb.connect(str(store), read_only=True)
    try:
        con.execute(f"COPY ({select}) TO '{csv_path}' (HEADER, DELIMITER ',')")
        con.execute(f"COPY ({select}) TO '{parquet_path}' (FORMAT parquet)")
        rows = con.execute(f"SELECT count(*) FROM ({select})").fetchall()[0][0]
    finally:
        con.close()
    return {"csv": str(csv_path), "parquet": str(parquet_path), "rows": int(rows)}
