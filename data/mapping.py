"""Which source column feeds which field: suggested from common Chinese and English headers.

A mapping is ``{field: column}``. :func:`suggest_mapping` scores every (field, column) pair by how well the
normalised header matches a field's synonyms (an exact match beats a containment match, an earlier synonym
beats a later one) and assigns greedily, each column to at most one field. The UI shows the suggestion for
confirmation; the CLI takes it as is unless ``--map field=column`` overrides it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pandas as pd

KINDS: tuple[str, ...] = ("reviews", "survey", "products")

FEEDBACK_FIELDS: tuple[str, ...] = (
    "text",
    "rating",
    "nps_score",
    "created_at",
    "brand",
    "product",
    "channel",
    "region",
    "store",
    "customer_id",
)
PRODUCT_FIELDS: tuple[str, ...] = (
    "brand",
    "product",
    "release_date",
    "launch_price_cny",
    "weight_g",
    "thickness_mm",
    "battery_mah",
    "screen_in",
    "is_ours",
)
FIELDS: Mapping[str, tuple[str, ...]] = {
    "reviews": FEEDBACK_FIELDS,
    "survey": FEEDBACK_FIELDS,
    "products": PRODUCT_FIELDS,
}
SPEC_FIELDS: tuple[str, ...] = (
    "release_date",
    "launch_price_cny",
    "weight_g",
    "thickness_mm",
    "battery_mah",
    "screen_in",
)

# Field -> header synonyms, best first. Compared after :func:`normalise_header`.
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "text": (
        "评论内容",
        "评价内容",
        "评论",
        "评价",
        "内容",
        "评论文本",
        "文本",
        "反馈内容",
        "反馈",
        "意见",
        "留言",
        "推荐原因",
        "原因",
        "回答",
        "review",
        "reviewtext",
        "reviewbody",
        "reviews",
        "text",
        "comment",
        "comments",
        "content",
        "feedback",
        "verbatim",
        "explication",
        "commentaire",
        "remarks",
        "reason",
        "body",
        "message",
    ),
    "rating": (
        "得分",
        "评分",
        "星级",
        "打分",
        "分数",
        "星数",
        "评星",
        "满意度评分",
        "rating",
        "score",
        "stars",
        "star",
        "reviewrating",
        "overall",
        "overallrating",
    ),
    "nps_score": (
        "nps",
        "npsscore",
        "推荐",
        "推荐度",
        "推荐意愿",
        "推荐分",
        "推荐得分",
        "净推荐值",
        "推荐可能性",
        "likelihoodtorecommend",
        "recommend",
        "recommendation",
        "ltr",
    ),
    "created_at": (
        "时间",
        "日期",
        "购买时间",
        "评论时间",
        "评价时间",
        "创建时间",
        "下单时间",
        "提交时间",
        "发布时间",
        "时间戳",
        "date",
        "time",
        "datetime",
        "timestamp",
        "createdat",
        "created",
        "reviewdate",
        "submittedat",
        "submitted",
        "purchasedate",
    ),
    "brand": (
        "品牌",
        "品牌名称",
        "厂商",
        "brand",
        "brandname",
        "manufacturer",
        "companyname",
        "company",
        "maker",
    ),
    "product": (
        "型号",
        "手机型号",
        "产品",
        "产品名称",
        "商品",
        "商品名称",
        "机型",
        "产品型号",
        "product",
        "productname",
        "model",
        "modelname",
        "name",
        "item",
        "itemname",
        "device",
    ),
    "channel": ("渠道", "平台", "来源", "电商平台", "销售渠道", "channel", "platform", "source", "site"),
    "region": (
        "地区",
        "区域",
        "省份",
        "城市",
        "地域",
        "region",
        "province",
        "city",
        "area",
        "location",
        "country",
    ),
    "store": ("门店", "店铺", "商店", "店名", "门店名称", "store", "shop", "outlet", "storename"),
    "customer_id": (
        "用户id",
        "客户id",
        "会员id",
        "客户编号",
        "用户编号",
        "用户名",
        "用户",
        "customerid",
        "userid",
        "memberid",
        "respondentid",
        "customer",
        "user",
        "id",
    ),
    "release_date": (
        "发布日期",
        "上市日期",
        "发布时间",
        "上市时间",
        "发布年份",
        "上市年份",
        "releasedate",
        "released",
        "announced",
        "launchdate",
        "launchedyear",
        "releaseyear",
        "year",
        "date",
    ),
    "launch_price_cny": (
        "首发价",
        "首发价格",
        "发布价",
        "发布价格",
        "官方价",
        "起售价",
        "售价",
        "价格",
        "launchpricecny",
        "pricecny",
        "launchedprice(china)",
        "price(china)",
        "launchedpricechina",
        "pricechina",
        "launchprice(cny)",
        "price(cny)",
        "价格(元)",
    ),
    "weight_g": ("重量", "机身重量", "weight", "weightg", "mobileweight", "mass"),
    "thickness_mm": ("厚度", "机身厚度", "thickness", "thicknessmm", "depth", "diameter"),
    "battery_mah": ("电池容量", "电池", "batterycapacity", "battery", "batterymah", "battery_capacity"),
    "screen_in": (
        "屏幕尺寸",
        "屏幕大小",
        "屏幕",
        "英寸",
        "screensize",
        "displaysize",
        "screen",
        "display",
        "inches",
    ),
    "is_ours": ("本品", "是否本品", "自有产品", "isours", "ours", "ownproduct", "own"),
}

_NORMALISE_RE = re.compile(r"[\s_\-–—:：/\\.·,，、\"'`]+")
_SCI_NOTATION_RE = r"^\s*\d+(\.\d+)?[eE][+-]?\d+\s*$"


def normalise_header(header: str) -> str:
    """Lower-case, full-width brackets to ASCII, no separators or spaces: "Model Name" -> "modelname"."""
    text = str(header).strip().lower().replace("（", "(").replace("）", ")").replace("\ufeff", "")
    return _NORMALISE_RE.sub("", text)


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _score(field: str, header: str) -> int:
    """How well ``header`` (normalised) names ``field``: 0 none, higher is better."""
    if not header:
        return 0
    best = 0
    for rank, synonym in enumerate(SYNONYMS[field]):
        syn = normalise_header(synonym)
        if header == syn:
            best = max(best, 1000 - rank)
        elif header.startswith(syn + "(") or header.endswith("(" + syn + ")"):
            best = max(best, 700 - rank)
        elif _has_cjk(syn) and syn in header:
            # Containment, Chinese only ("评论内容（必填）"); Latin words inside longer headers are too
            # ambiguous ("dish_recommendation" is not an NPS column).
            best = max(best, 300 + 10 * len(syn) - rank)
    return best


def suggest_mapping(columns: Iterable[str], kind: str, sample: pd.DataFrame | None = None) -> dict[str, str]:
    """Suggest ``{field: column}`` for ``kind`` from the headers alone (``sample`` refines it when given).

    With ``sample`` (a few rows of the file), a field is dropped when its column is entirely empty, and
    ``customer_id`` is dropped when its values are numbers in scientific notation (an id mangled by Excel).
    """
    if kind not in FIELDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    cols = list(columns)
    normalised = {col: normalise_header(col) for col in cols}
    candidates: list[tuple[int, int, str, str]] = []
    for f_rank, field in enumerate(FIELDS[kind]):
        for c_rank, col in enumerate(cols):
            score = _score(field, normalised[col])
            if score:
                candidates.append((score, -(f_rank * 1000 + c_rank), field, col))
    candidates.sort(reverse=True)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for _score_value, _tie, field, col in candidates:
        if field in mapping or col in used:
            continue
        mapping[field] = col
        used.add(col)
    if sample is not None and len(sample):
        mapping = _refine_with_sample(mapping, sample)
    return {field: mapping[field] for field in FIELDS[kind] if field in mapping}


def _refine_with_sample(mapping: dict[str, str], sample: pd.DataFrame) -> dict[str, str]:
    refined: dict[str, str] = {}
    for field, col in mapping.items():
        if col not in sample.columns:
            continue
        values = sample[col].astype("str").str.strip()
        present = values[(values != "") & sample[col].notna()]
        if present.empty:
            continue
        if field == "customer_id" and present.str.match(_SCI_NOTATION_RE).mean() > 0.5:
            continue
        refined[field] = col
    return refined


def guess_kind(columns: Iterable[str]) -> str:
    """Guess what a table holds: "products" (a spec table), "survey" (NPS scores) or "reviews"."""
    cols = list(columns)
    feedback = suggest_mapping(cols, "reviews")
    specs = [f for f in suggest_mapping(cols, "products") if f in SPEC_FIELDS]
    if "text" not in feedback and "rating" not in feedback and len(specs) >= 2:
        return "products"
    if "nps_score" in feedback and "rating" not in feedback:
        return "survey"
    if len(specs) >= 3 and "text" not in feedback:
        return "products"
    return "reviews"


def parse_map_options(options: Iterable[str], kind: str) -> dict[str, str]:
    """Parse CLI ``--map field=column`` options; raise ``ValueError`` naming the bad one."""
    result: dict[str, str] = {}
    for option in options:
        field, sep, column = option.partition("=")
        field = field.strip()
        if not sep or not field or not column.strip():
            raise ValueError(f"--map {option!r} is not field=column (e.g. --map text=评论内容)")
        if field not in FIELDS[kind]:
            raise ValueError(
                f"--map {option!r}: unknown field {field!r} for kind {kind}; "
                f"fields: {', '.join(FIELDS[kind])}"
            )
        result[field] = column.strip()
    return result
