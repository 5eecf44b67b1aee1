"""The latent truth behind the demo market: aspect quality per product and month, and the planted stories.

Everything here is deterministic (no seed): the seed in :mod:`data.demo` only decides which reviews are
sampled from this truth. Later tests check that the dashboards recover it.

Quality ``q`` is on −1…1. A review mentioning an aspect is positive about it with probability
``0.5 + 0.45·q`` (see :func:`positive_probability`), so the expected sentiment of a mention is ``0.9·q``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from data.demo_catalog import DEMO_PRODUCTS, OUR_BRAND, DemoProduct, product

# The aspect taxonomy shared with the NLP aspect tagger (same paths).
ASPECT_PATHS: tuple[str, ...] = (
    "电池/续航",
    "电池/充电",
    "电池/发热",
    "屏幕",
    "拍照",
    "性能/流畅度",
    "外观/手感",
    "外观/重量",
    "外观/厚度",
    "信号",
    "系统",
    "音效",
    "价格/性价比",
    "物流",
    "客服/售后",
    "包装",
)

# How often a review mentions each aspect (relative; before the boosts in data.demo).
MENTION_WEIGHTS: dict[str, float] = {
    "电池/续航": 0.22,
    "电池/充电": 0.08,
    "电池/发热": 0.07,
    "屏幕": 0.11,
    "拍照": 0.15,
    "性能/流畅度": 0.13,
    "外观/手感": 0.10,
    "外观/重量": 0.06,
    "外观/厚度": 0.05,
    "信号": 0.06,
    "系统": 0.07,
    "音效": 0.04,
    "价格/性价比": 0.13,
    "物流": 0.11,
    "客服/售后": 0.06,
    "包装": 0.04,
}

DEMO_START = dt.date(2023, 7, 1)
DEMO_END = dt.date(2025, 6, 30)  # inclusive: 24 months of feedback


def month_key(value: str | dt.date | dt.datetime) -> str:
    """``"YYYY-MM"`` for a date, a datetime or a ``"YYYY-MM[-DD]"`` string."""
    if isinstance(value, (dt.date, dt.datetime)):
        return f"{value.year:04d}-{value.month:02d}"
    text = str(value).strip()
    if len(text) >= 7 and text[4] == "-" and text[:4].isdigit() and text[5:7].isdigit():
        return text[:7]
    raise ValueError(f"month must look like 'YYYY-MM', got {value!r}")


def demo_months() -> tuple[str, ...]:
    """Every month of the demo window, oldest first."""
    out: list[str] = []
    year, month = DEMO_START.year, DEMO_START.month
    while (year, month) <= (DEMO_END.year, DEMO_END.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(out)


@dataclass(frozen=True)
class DemoStory:
    """A planted finding a PM should discover in the demo market.

    ``effects`` are ``(aspect_path, delta)`` pairs added to the latent quality of the matching product(s)
    (``product`` None: every product of ``brand``) in months ``start_month``…``end_month`` (None: open),
    on ``channel`` only when it is set. ``nps_effect`` is added to the satisfaction behind NPS answers.
    """

    id: str
    description_zh: str
    description_en: str
    brand: str
    product: str | None
    effects: tuple[tuple[str, float], ...]
    start_month: str | None = None
    end_month: str | None = None
    channel: str | None = None
    mention_boost: float = 1.0  # how much more often the story's aspects are mentioned while it holds
    nps_effect: float = 0.0

    @property
    def aspect_path(self) -> str:
        """The story's main aspect."""
        return self.effects[0][0]

    def applies(self, p: DemoProduct, month: str, channel: str | None = None) -> bool:
        if p.brand != self.brand or (self.product is not None and p.product != self.product):
            return False
        if self.start_month is not None and month < self.start_month:
            return False
        if self.end_month is not None and month > self.end_month:
            return False
        return self.channel is None or channel == self.channel

    def effect_on(self, aspect_path: str) -> float:
        return sum(delta for path, delta in self.effects if path == aspect_path)


OVERHEATING_PRODUCT = "X100 Pro"
SERVICE_BRAND = OUR_BRAND
SERVICE_DECLINE_MONTH = "2025-01"
LIGHT_BUT_THICK_PRODUCT = "14"
LOGISTICS_CHANNEL = "天猫"
LOGISTICS_MONTH = "2024-11"

DEMO_STORIES: tuple[DemoStory, ...] = (
    DemoStory(
        id="overheating",
        description_zh=f"vivo {OVERHEATING_PRODUCT} 自 2024-03 起发热严重（电池/发热 评价全场最差）",
        description_en=f"vivo {OVERHEATING_PRODUCT} overheats from 2024-03 on (worst 电池/发热 score of all)",
        brand="vivo",
        product=OVERHEATING_PRODUCT,
        effects=(("电池/发热", -1.45), ("电池/续航", -0.25)),
        start_month="2024-03",
        mention_boost=4.0,
        nps_effect=-0.35,
    ),
    DemoStory(
        id="service_decline",
        description_zh=f"{SERVICE_BRAND}售后服务自 {SERVICE_DECLINE_MONTH} 起明显变差，NPS 随之下降",
        description_en=f"{SERVICE_BRAND} after-sales degrades from {SERVICE_DECLINE_MONTH}; NPS falls",
        brand=SERVICE_BRAND,
        product=None,
        effects=(("客服/售后", -1.35),),
        start_month=SERVICE_DECLINE_MONTH,
        mention_boost=2.0,
    ),
    DemoStory(
        id="light_but_thick",
        description_zh=f"小米{LIGHT_BUT_THICK_PRODUCT} 很轻但偏厚：重量好评、厚度差评",
        description_en=f"Xiaomi {LIGHT_BUT_THICK_PRODUCT} is light but thick: weight praised, thickness not",
        brand="小米",
        product=LIGHT_BUT_THICK_PRODUCT,
        effects=(("外观/厚度", -0.7), ("外观/重量", 0.45)),
        mention_boost=3.0,
    ),
    DemoStory(
        id="double11_logistics",
        description_zh=f"{LOGISTICS_MONTH} 双11 期间{LOGISTICS_CHANNEL}渠道物流大面积延误",
        description_en=f"Logistics delays on {LOGISTICS_CHANNEL} during Double 11 ({LOGISTICS_MONTH})",
        brand="*",
        product=None,
        effects=(("物流", -1.5),),
        start_month=LOGISTICS_MONTH,
        end_month=LOGISTICS_MONTH,
        channel=LOGISTICS_CHANNEL,
        mention_boost=2.5,
    ),
)

STORIES_BY_ID: dict[str, DemoStory] = {s.id: s for s in DEMO_STORIES}


def story_applies(story: DemoStory, p: DemoProduct, month: str, channel: str | None = None) -> bool:
    """Whether ``story`` holds for product ``p`` in ``month`` ("YYYY-MM") on ``channel``."""
    if story.brand == "*":
        if story.start_month is not None and month < story.start_month:
            return False
        if story.end_month is not None and month > story.end_month:
            return False
        return story.channel is None or channel == story.channel
    return story.applies(p, month, channel)


def active_stories(
    product_name: str, month: str | dt.date, channel: str | None = None
) -> tuple[DemoStory, ...]:
    """The stories in force for a product in a month (and channel)."""
    p = product(product_name)
    key = month_key(month)
    return tuple(s for s in DEMO_STORIES if story_applies(s, p, key, channel))


# ---------------------------------------------------------------- spec-driven regions (parameter maps)
_PRICES = [p.launch_price_cny for p in DEMO_PRODUCTS]
_LOG_PRICE_LOW, _LOG_PRICE_HIGH = math.log(min(_PRICES)), math.log(max(_PRICES))


def _scale(value: float, low: float, high: float) -> float:
    """``value`` mapped to 0…1 between ``low`` and ``high`` (clipped)."""
    return min(1.0, max(0.0, (value - low) / (high - low)))


def spec_quality(p: DemoProduct, aspect_path: str) -> float | None:
    """Quality that follows from the specs alone (None for aspects the specs do not drive).

    By construction: big battery → good 续航; low price → good 性价比; light → good 重量; thin → good 厚度.
    So the price × battery map is good at low price/big battery and bad at high price/small battery, and the
    weight × thickness map is good where light and thin and bad where heavy and thick.
    """
    if aspect_path == "电池/续航":
        return -0.5 + 1.4 * _scale(p.battery_mah, 3800, 5600)
    if aspect_path == "价格/性价比":
        t = (math.log(p.launch_price_cny) - _LOG_PRICE_LOW) / (_LOG_PRICE_HIGH - _LOG_PRICE_LOW)
        return 0.9 - 1.4 * t
    weight = 0.9 - 1.6 * _scale(p.weight_g, 168, 229)
    thickness = 0.9 - 1.6 * _scale(p.thickness_mm, 6.9, 9.1)
    if aspect_path == "外观/重量":
        return weight
    if aspect_path == "外观/厚度":
        return thickness
    if aspect_path == "外观/手感":
        return 0.25 + 0.6 * (weight + thickness) / 2
    return None


def _tier(p: DemoProduct) -> int:
    """0 budget (< ¥2,000), 1 mid (< ¥4,500), 2 flagship."""
    if p.launch_price_cny < 2000:
        return 0
    return 1 if p.launch_price_cny < 4500 else 2


# Most buyers are content: the quality of aspects that the specs do not drive is raised by this much.
BASE_OFFSET = 0.2


def base_quality(p: DemoProduct, aspect_path: str) -> float:
    """Quality before any story: specs, price tier and brand traits."""
    if aspect_path not in MENTION_WEIGHTS:
        raise KeyError(f"unknown aspect path {aspect_path!r}; known: {', '.join(ASPECT_PATHS)}")
    from_specs = spec_quality(p, aspect_path)
    if from_specs is not None:
        return from_specs
    return min(0.95, _trait_quality(p, aspect_path, _tier(p)) + BASE_OFFSET)


def _trait_quality(p: DemoProduct, aspect_path: str, tier: int) -> float:
    if aspect_path == "电池/充电":
        return -0.25 if p.brand == "Apple" else 0.55
    if aspect_path == "电池/发热":
        return 0.35
    if aspect_path == "屏幕":
        return (0.3, 0.45, 0.6)[tier]
    if aspect_path == "拍照":
        return (0.05, 0.35, 0.65)[tier]
    if aspect_path == "性能/流畅度":
        return (0.15, 0.4, 0.6)[tier]
    if aspect_path == "信号":
        return {"华为": 0.65, "Apple": -0.15}.get(p.brand, 0.35)
    if aspect_path == "系统":
        return {"Apple": 0.55, "华为": 0.5}.get(p.brand, 0.3)
    if aspect_path == "音效":
        return 0.3 + 0.1 * tier
    if aspect_path == "物流":
        return 0.55
    if aspect_path == "客服/售后":
        return 0.55 if p.brand == OUR_BRAND else 0.35
    return 0.6  # 包装


def latent_quality(
    product_name: str, aspect_path: str, month: str | dt.date, channel: str | None = None
) -> float:
    """The true quality (−1…1) of ``aspect_path`` for ``product_name`` in ``month`` (and ``channel``)."""
    p = product(product_name)
    q = base_quality(p, aspect_path)
    for story in active_stories(product_name, month, channel):
        q += story.effect_on(aspect_path)
    return max(-0.95, min(0.95, q))


POSITIVE_AT_ZERO, POSITIVE_SLOPE = 0.5, 0.45


def positive_probability(quality: float) -> float:
    """Probability that a mention of an aspect with this quality is positive."""
    return POSITIVE_AT_ZERO + POSITIVE_SLOPE * max(-1.0, min(1.0, quality))


def expected_satisfaction(product_name: str, month: str | dt.date) -> float:
    """Mention-weighted mean quality of a product in a month (−1…1).

    Roughly what its reviews average to (the generator also mentions disappointing aspects more often).
    """
    total = sum(MENTION_WEIGHTS.values())
    return sum(w * latent_quality(product_name, a, month) for a, w in MENTION_WEIGHTS.items()) / total


def nps_satisfaction(product_name: str, month: str | dt.date, *, service_weight: float) -> float:
    """Satisfaction behind an NPS answer: product satisfaction blended with after-sales quality."""
    base = expected_satisfaction(product_name, month)
    service = latent_quality(product_name, "客服/售后", month)
    value = (1 - service_weight) * base + service_weight * service
    value += sum(s.nps_effect for s in active_stories(product_name, month))
    return max(-1.0, min(1.0, value))


@dataclass(frozen=True)
class SpecRegion:
    """A planted good and bad region of a parameter map (x and y are ``products`` columns).

    ``metric`` says what is high in the good region and low in the bad one: ``"rating"`` (mean star rating,
    i.e. overall satisfaction) or ``"aspect:外观"`` (mean sentiment of the 外观/… aspects). The two maps need
    different metrics because the real figures cross: iPhone 15 is light and thin (good for 外观) but
    expensive with a small battery (bad overall).
    """

    x: str
    y: str
    metric: str
    good_products: tuple[str, ...]
    bad_products: tuple[str, ...]
    description_zh: str
    description_en: str


DEMO_SPEC_REGIONS: tuple[SpecRegion, ...] = (
    SpecRegion(
        x="launch_price_cny",
        y="battery_mah",
        metric="rating",
        good_products=tuple(
            p.product for p in DEMO_PRODUCTS if p.launch_price_cny <= 2500 and p.battery_mah >= 4500
        ),
        bad_products=tuple(
            p.product for p in DEMO_PRODUCTS if p.launch_price_cny >= 5900 and p.battery_mah <= 4500
        ),
        description_zh="低价大电池满意度高，高价小电池满意度低",
        description_en="Cheap phones with big batteries satisfy; expensive ones with small batteries do not",
    ),
    SpecRegion(
        x="weight_g",
        y="thickness_mm",
        metric="aspect:外观",
        good_products=tuple(p.product for p in DEMO_PRODUCTS if p.weight_g <= 190 and p.thickness_mm <= 8.0),
        bad_products=tuple(p.product for p in DEMO_PRODUCTS if p.weight_g >= 215 and p.thickness_mm >= 8.5),
        description_zh="轻薄机型满意度高，又重又厚的机型满意度低",
        description_en="Light, thin phones satisfy; heavy, thick ones do not",
    ),
)
