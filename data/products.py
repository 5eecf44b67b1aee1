"""Brand lexicon and product-name shortening for phone titles and spec tables.

A JD product title such as "Apple iPhone 11 (A2223) 128GB 黑色 移动联通电信4G手机 双卡双待" names
the brand and the model; the store wants ``brand = "Apple"`` and ``product = "iPhone 11"`` so that
reviews, spec tables and filters agree. Brands are canonicalised (HUAWEI → 华为, Redmi/Xiaomi → 小米,
Samsung → 三星 …); the product name never repeats the company name but keeps a sub-brand that is
part of the model name (Redmi, iPhone, Galaxy, iQOO).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BrandAlias:
    alias: str
    brand: str
    part_of_model: bool = False  # a sub-brand that stays in the product name ("Redmi Note8")


_ALIASES: tuple[BrandAlias, ...] = (
    BrandAlias("华为", "华为"),
    BrandAlias("HUAWEI", "华为"),
    BrandAlias("荣耀", "荣耀"),
    BrandAlias("HONOR", "荣耀"),
    BrandAlias("小米", "小米"),
    BrandAlias("Xiaomi", "小米"),
    BrandAlias("Redmi", "小米", part_of_model=True),
    BrandAlias("红米", "小米", part_of_model=True),
    BrandAlias("POCO", "小米", part_of_model=True),
    BrandAlias("Apple", "Apple"),
    BrandAlias("苹果", "Apple"),
    BrandAlias("iPhone", "Apple", part_of_model=True),
    BrandAlias("iQOO", "iQOO", part_of_model=True),
    BrandAlias("OPPO", "OPPO"),
    BrandAlias("vivo", "vivo"),
    BrandAlias("三星", "三星"),
    BrandAlias("Samsung", "三星"),
    BrandAlias("Galaxy", "三星", part_of_model=True),
    BrandAlias("realme", "realme"),
    BrandAlias("真我", "realme"),
    BrandAlias("一加", "一加"),
    BrandAlias("OnePlus", "一加"),
    BrandAlias("魅族", "魅族"),
    BrandAlias("Meizu", "魅族"),
    BrandAlias("中兴", "中兴"),
    BrandAlias("ZTE", "中兴"),
    BrandAlias("努比亚", "努比亚"),
    BrandAlias("nubia", "努比亚"),
    BrandAlias("红魔", "努比亚", part_of_model=True),
    BrandAlias("联想", "联想"),
    BrandAlias("Lenovo", "联想"),
    BrandAlias("摩托罗拉", "摩托罗拉"),
    BrandAlias("Motorola", "摩托罗拉"),
    BrandAlias("moto", "摩托罗拉", part_of_model=True),
    BrandAlias("谷歌", "Google"),
    BrandAlias("Google", "Google"),
    BrandAlias("Pixel", "Google", part_of_model=True),
    BrandAlias("索尼", "索尼"),
    BrandAlias("Sony", "索尼"),
    BrandAlias("诺基亚", "诺基亚"),
    BrandAlias("Nokia", "诺基亚"),
    BrandAlias("传音", "传音"),
    BrandAlias("Tecno", "传音"),
    BrandAlias("Infinix", "传音"),
    BrandAlias("itel", "传音"),
    BrandAlias("华硕", "华硕"),
    BrandAlias("Asus", "华硕"),
    BrandAlias("酷派", "酷派"),
    BrandAlias("Coolpad", "酷派"),
    BrandAlias("TCL", "TCL"),
    BrandAlias("alcatel", "TCL"),
)

# Alias (lower-case) -> BrandAlias; longest aliases are tried first.
ALIASES: Mapping[str, BrandAlias] = {a.alias.lower(): a for a in _ALIASES}
_ALIAS_PATTERN = re.compile(
    "|".join(re.escape(a) for a in sorted(ALIASES, key=len, reverse=True)), re.IGNORECASE
)
_LEADING_TAG_RE = re.compile(r"^\s*(【[^】]*】|\[[^\]]*\]|\s)+")
_DEVICE_SUFFIX_RE = re.compile(
    r"\s+(?:(?:Android|iOS|iPadOS|Windows(?: Phone)?|Symbian|KaiOS|Tizen|Wear OS|BlackBerry OS"
    r"|webOS|Firefox OS)\s+)?"
    r"(?:smartphone|tablet|phone|watch)$",
    re.IGNORECASE,
)
_SPEC_TOKEN_RE = re.compile(
    r"^[(（\[【]|\d+\s*(GB|TB|MB|mAh|W|万|英寸|Hz)\b|\d+GB\+|[\u4e00-\u9fff]", re.IGNORECASE
)


def canonical_brand(raw: str | None) -> str | None:
    """Canonical brand for a raw brand value ("HUAWEI" → "华为"); unknown brands are returned trimmed."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    alias = ALIASES.get(text.lower())
    if alias:
        return alias.brand
    if text.islower() and text.isascii():
        # "lg", "htc" -> "LG", "HTC"; "alcatel" -> "Alcatel", so one brand is not split by spelling.
        return text.upper() if len(text) <= 3 else text[:1].upper() + text[1:]
    return text


def _alias_at_start(title: str) -> tuple[BrandAlias | None, str]:
    """The brand alias that starts ``title`` (after 【tags】) and the rest of the title."""
    text = _LEADING_TAG_RE.sub("", title)
    match = _ALIAS_PATTERN.match(text)
    if not match:
        return None, text
    end = match.end()
    # A Latin alias must end at a word boundary ("Honor 9X" yes, "Honorable" no).
    if match.group(0).isascii() and end < len(text) and text[end].isascii() and text[end].isalnum():
        return None, text
    return ALIASES[match.group(0).lower()], text


def brand_from_title(title: str | None) -> str | None:
    """Find the brand a product title names: at its start first, else anywhere ("… 小米 红米")."""
    if not title:
        return None
    alias, _rest = _alias_at_start(str(title))
    if alias:
        return alias.brand
    for match in _ALIAS_PATTERN.finditer(str(title)):
        start, end = match.span()
        text = str(title)
        if match.group(0).isascii():
            before_ok = start == 0 or not (text[start - 1].isascii() and text[start - 1].isalnum())
            after_ok = end == len(text) or not (text[end].isascii() and text[end].isalnum())
            if not (before_ok and after_ok):
                continue
        return ALIASES[match.group(0).lower()].brand
    return None


def _strip_company(text: str) -> str:
    """Drop leading company aliases (not sub-brands): "华为 HUAWEI Mate 30" → "Mate 30"."""
    while True:
        alias, rest = _alias_at_start(text)
        if alias is None or alias.part_of_model:
            return rest.strip()
        stripped = rest[len(alias.alias) :].strip()
        if not stripped:
            return rest.strip()
        text = stripped


def short_product_name(title: str | None, *, cut_specs: bool = True) -> str | None:
    """A short model name from a product title.

    ``cut_specs`` (for shop titles) keeps the model tokens and stops at the first spec or marketing token:
    "荣耀9X 麒麟810 4000mAh续航 …" → "9X", "Apple iPhone XS Max (A2104) 256GB …" → "iPhone XS Max".
    Without it (for spec tables) only the company name and a trailing device type are removed:
    "Honor 90 Pro Android smartphone" → "90 Pro".
    """
    if title is None:
        return None
    text = " ".join(str(title).split())
    if not text:
        return None
    text = text.split(". ")[0]
    text = _DEVICE_SUFFIX_RE.sub("", text).strip()
    rest = _strip_company(text) or text
    if not cut_specs:
        return rest
    tokens = rest.split(" ")
    kept = [tokens[0]]
    for token in tokens[1:]:
        if _SPEC_TOKEN_RE.search(token):
            break
        kept.append(token)
    return " ".join(kept)


def first_word_brand(title: str | None) -> str | None:
    """Brand of a spec-table model name whose first word is the brand ("vivo iQOO Z6 Lite" → "vivo")."""
    if title is None:
        return None
    words = str(title).split()
    if not words:
        return None
    found = brand_from_title(words[0])
    return found or words[0]
