"""data.mapping and data.products: header suggestions, kind guessing, brand and product names."""

from __future__ import annotations

import pandas as pd
import pytest

from data.mapping import FIELDS, guess_kind, parse_map_options, suggest_mapping
from data.products import brand_from_title, canonical_brand, first_word_brand, short_product_name


@pytest.mark.parametrize(
    ("columns", "kind", "expected"),
    [
        (
            ["用户ID", "评论内容", "会员级别", "点赞数", "得分", "价格", "购买时间", "手机型号"],
            "reviews",
            {
                "text": "评论内容",
                "rating": "得分",
                "created_at": "购买时间",
                "product": "手机型号",
                "customer_id": "用户ID",
            },
        ),
        (["cat", "label", "review"], "reviews", {"text": "review"}),
        (
            ["column_1", "id", "nps", "satisfaction", "intention", "explication", "t"],
            "survey",
            {"text": "explication", "nps_score": "nps", "customer_id": "id"},
        ),
        (
            ["内容", "星级", "日期", "品牌", "型号", "渠道", "地区", "门店"],
            "reviews",
            {
                "text": "内容",
                "rating": "星级",
                "created_at": "日期",
                "brand": "品牌",
                "product": "型号",
                "channel": "渠道",
                "region": "地区",
                "store": "门店",
            },
        ),
        (
            ["评价", "评分", "推荐", "平台"],
            "survey",
            {"text": "评价", "rating": "评分", "nps_score": "推荐", "channel": "平台"},
        ),
        (
            ["Review Text", "Rating", "Date", "Brand", "Product Name", "Platform"],
            "reviews",
            {
                "text": "Review Text",
                "rating": "Rating",
                "created_at": "Date",
                "brand": "Brand",
                "product": "Product Name",
                "channel": "Platform",
            },
        ),
        (["评论内容（必填）", "得分"], "reviews", {"text": "评论内容（必填）", "rating": "得分"}),
        (
            ["name", "brand", "Announced", "Weight", "Diameter", "Display Size", "battery_capacity", "Price"],
            "products",
            {
                "brand": "brand",
                "product": "name",
                "release_date": "Announced",
                "weight_g": "Weight",
                "thickness_mm": "Diameter",
                "battery_mah": "battery_capacity",
                "screen_in": "Display Size",
            },
        ),
        (
            ["Company Name", "Model Name", "Launched Price (China)", "Launched Price (USA)", "Launched Year"],
            "products",
            {
                "brand": "Company Name",
                "product": "Model Name",
                "launch_price_cny": "Launched Price (China)",
                "release_date": "Launched Year",
            },
        ),
    ],
)
def test_suggest_mapping(columns: list[str], kind: str, expected: dict[str, str]) -> None:
    assert suggest_mapping(columns, kind) == expected


def test_eur_price_is_never_a_cny_price() -> None:
    assert "launch_price_cny" not in suggest_mapping(["name", "brand", "Price"], "products")


def test_latin_words_inside_other_headers_do_not_match() -> None:
    mapping = suggest_mapping(["reviewbody", "star", "dish_recommendation", "location_traffic"], "reviews")
    assert mapping == {"text": "reviewbody", "rating": "star"}


def test_sample_drops_empty_and_excel_mangled_columns() -> None:
    sample = pd.DataFrame(
        {"用户ID": ["1.00008E+11", "1.0001E+11"], "评论内容": ["好", "差"], "渠道": ["", ""]}
    )
    assert suggest_mapping(sample.columns, "reviews", sample) == {"text": "评论内容"}


@pytest.mark.parametrize(
    ("columns", "kind"),
    [
        (["评论内容", "得分"], "reviews"),
        (["cat", "label", "review"], "reviews"),
        (["column_1", "id", "nps", "explication"], "survey"),
        (["RAW", "Model", "Year", "Inches", "Battery"], "products"),
        (["name", "brand", "Weight", "Diameter", "battery_capacity"], "products"),
    ],
)
def test_guess_kind(columns: list[str], kind: str) -> None:
    assert guess_kind(columns) == kind


def test_every_kind_has_its_fields() -> None:
    assert FIELDS["reviews"] == FIELDS["survey"]
    assert "text" in FIELDS["reviews"] and "is_ours" in FIELDS["products"]


def test_parse_map_options() -> None:
    assert parse_map_options(["text=评论内容", "rating = 得分"], "reviews") == {
        "text": "评论内容",
        "rating": "得分",
    }
    with pytest.raises(ValueError, match="field=column"):
        parse_map_options(["text"], "reviews")
    with pytest.raises(ValueError, match="unknown field"):
        parse_map_options(["colour=x"], "reviews")


@pytest.mark.parametrize(
    ("title", "brand", "product"),
    [
        ("Apple iPhone 11 (A2223) 128GB 黑色 移动联通电信4G手机 双卡双待", "Apple", "iPhone 11"),
        ("Apple iPhone XS Max (A2104) 256GB 金色 移动联通电信4G手机 双卡双待", "Apple", "iPhone XS Max"),
        ("荣耀V30 PRO 李现同款 DXO122分 5G双模 麒麟990 5GSOC芯片", "荣耀", "V30 PRO"),
        ("荣耀20青春版 AMOLED屏幕指纹 4000mAh大电池 20W快充", "荣耀", "20青春版"),
        ("【超级爆款】华为 HUAWEI P30 超感光徕卡三摄麒麟980AI智能芯片", "华为", "P30"),
        ("华为 HUAWEI Mate 30 5G 麒麟990 4000万超感光徕卡影像", "华为", "Mate 30 5G"),
        (
            "Redmi Note8 4800万全场景四摄 4000mAh长续航 高通骁龙665 小金刚品质保证 小米 红米",
            "小米",
            "Redmi Note8",
        ),
    ],
)
def test_shop_titles(title: str, brand: str, product: str) -> None:
    assert brand_from_title(title) == brand
    assert short_product_name(title) == product


@pytest.mark.parametrize(
    ("model", "brand", "product"),
    [
        ("Honor 90 Pro Android smartphone", "荣耀", "90 Pro"),
        ("vivo iQOO Z6 Lite Android smartphone", "vivo", "iQOO Z6 Lite"),
        ("Samsung Galaxy Tab E 8.0 Android tablet", "三星", "Galaxy Tab E 8.0"),
        (
            "Oppo K10 Energy Android smartphone. Not announced yet. Features 6.59″ display",
            "OPPO",
            "K10 Energy",
        ),
        ("Samsung Galaxy Watch4 Android watch", "三星", "Galaxy Watch4"),
    ],
)
def test_spec_table_models(model: str, brand: str, product: str) -> None:
    assert first_word_brand(model) == brand
    assert short_product_name(model, cut_specs=False) == product


def test_canonical_brand() -> None:
    assert [
        canonical_brand(b) for b in ["HUAWEI", "xiaomi", "Redmi", "samsung", "lg", "alcatel", "Emporia", " "]
    ] == [
        "华为",
        "小米",
        "小米",
        "三星",
        "LG",
        "TCL",
        "Emporia",
        None,
    ]
    assert brand_from_title("Honorable mention") is None
