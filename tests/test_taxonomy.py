"""Taxonomies (load, validate, save, override), segmentation and aspect term matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.aspects import AspectMatcher, _trie_pattern
from models.segment import Segmenter, SegmenterError, get_segmenter
from models.taxonomy import (
    SHIPPED_DIR,
    TaxonomyError,
    available_taxonomies,
    is_user_copy,
    load_taxonomy,
    parse_taxonomy_text,
    reset_taxonomy,
    save_taxonomy,
)
from models.text import normalize

DEMO_PATHS = [
    "电池/续航", "电池/充电", "电池/发热", "屏幕", "拍照", "性能/流畅度", "外观/手感", "外观/重量",
    "外观/厚度", "信号", "系统", "音效", "价格/性价比", "物流", "客服/售后", "包装",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Shipped taxonomies
# ---------------------------------------------------------------------------------------------------------


def test_shipped_taxonomies_load(tmp_path: Path) -> None:
    assert available_taxonomies(tmp_path) == ["phone", "food_delivery", "hotel"]
    for name in available_taxonomies(tmp_path):
        taxonomy = load_taxonomy(name, tmp_path)
        assert taxonomy.source == SHIPPED_DIR / f"{name}.yaml"
        assert taxonomy.label and taxonomy.label_en
        for node in taxonomy.nodes():
            assert node.name in node.terms
            assert node.name_en, f"{name}: {node.path} has no English name"
            assert node.positive and node.negative, f"{name}: {node.path} lacks opinion words"


def test_phone_paths_used_by_the_demo_market(tmp_path: Path) -> None:
    paths = load_taxonomy("phone", tmp_path).paths()
    missing = [path for path in DEMO_PATHS if path not in paths]
    assert not missing


def test_food_and_hotel_top_levels(tmp_path: Path) -> None:
    food = {node.top for node in load_taxonomy("food_delivery", tmp_path).nodes()}
    assert {"味道", "分量", "配送", "包装", "价格", "服务"} <= food
    assert "配送/速度" in load_taxonomy("food_delivery", tmp_path).paths()
    hotel = {node.top for node in load_taxonomy("hotel", tmp_path).nodes()}
    assert {"位置", "房间", "卫生", "服务", "早餐", "设施", "隔音", "价格"} <= hotel


def test_yaml_round_trip_keeps_content(tmp_path: Path) -> None:
    for name in available_taxonomies(tmp_path):
        taxonomy = load_taxonomy(name, tmp_path)
        again = parse_taxonomy_text(taxonomy.to_yaml(), name=name)
        assert again == taxonomy
        assert again.content_hash() == taxonomy.content_hash()


# ---------------------------------------------------------------------------------------------------------
# Validation: clear errors naming the file, the node and the problem
# ---------------------------------------------------------------------------------------------------------

VALID = """
label: 测试
aspects:
  - name: 电池
    terms: [电量]
    children:
      - name: 续航
        terms: [待机]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("label: x\naspects: []", "'aspects' must be a non-empty list"),
        ("aspects: [{name: 电池}]", "missing 'label'"),
        (
            "label: x\naspects: [{name: 电池, term: [电量]}]",
            r"aspect #1 under the top level: unknown key\(s\) \['term'\]",
        ),
        ("label: x\naspects: [{name: 电池/续航}]", "must not contain '/'"),
        ("label: x\naspects: [{terms: [电量]}]", "missing or empty 'name'"),
        (
            "label: x\naspects: [{name: 电池}, {name: 电池}]",
            "aspect 电池: two sibling aspects have the same name",
        ),
        (
            "label: x\naspects: [{name: 电池, children: [{name: 续航, terms: [电池]}]}]",
            "aspect 电池/续航: term '电池' is already used by aspect 电池",
        ),
        ("label: x\naspects: [{name: 屏幕, terms: [OLED]}, {name: 显示, terms: [oled]}]", "already used"),
        ("label: x\naspects: [{name: 电池, terms: 电量}]", "'terms' must be a list"),
        ("label: x\naspects: [{name: 电池, terms: ['']}]", "non-empty word"),
        (
            "label: x\naspects: [{name: 电池, opinions: {positive: [好], negative: [好]}}]",
            r"\['好'\] are listed as both positive and negative",
        ),
        ("label: x\naspects: [{name: 电池, opinions: {good: [好]}}]", "unknown opinion key"),
        (
            "label: x\naspects: [{name: a, children: [{name: b,"
            " children: [{name: c, children: [{name: d}]}]}]}]",
            "aspect a/b/c/d: too deep",
        ),
        ("label: x\naspects:\n  - name: 电池\n   bad indent: [\n", "line 4, column 4: not valid YAML"),
        ("just text", "must be a mapping"),
        ("label: x\naspects: [{name: a}]\nextra: 1", r"unknown top-level key\(s\) \['extra'\]"),
    ],
)
def test_invalid_taxonomies_give_specific_errors(text: str, message: str) -> None:
    with pytest.raises(TaxonomyError, match=message) as info:
        parse_taxonomy_text(text, name="demo", source="custom/demo.yaml")
    assert str(info.value).startswith("custom/demo.yaml: ")


def test_valid_taxonomy_parses() -> None:
    taxonomy = parse_taxonomy_text(VALID, name="demo")
    assert taxonomy.paths() == ["电池", "电池/续航"]
    assert taxonomy.node("电池/续航").top == "电池"
    assert taxonomy.term_index() == {"电池": "电池", "电量": "电池", "续航": "电池/续航", "待机": "电池/续航"}
    with pytest.raises(KeyError):
        taxonomy.node("屏幕")


def test_bad_taxonomy_names_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="must be lower-case"):
        parse_taxonomy_text(VALID, name="Bad Name")
    with pytest.raises(TaxonomyError, match=r"no taxonomy named 'cars'.*known: phone"):
        load_taxonomy("cars", tmp_path)


# ---------------------------------------------------------------------------------------------------------
# User copies: save, override, reset
# ---------------------------------------------------------------------------------------------------------


def test_user_copy_overrides_shipped_and_reset_restores(tmp_path: Path) -> None:
    shipped = load_taxonomy("hotel", tmp_path)
    edited_text = "# my edits\n" + shipped.to_yaml().replace("label: 酒店", "label: 酒店（自定义）")
    path = save_taxonomy(edited_text, "hotel", tmp_path)
    assert path == tmp_path / "hotel.yaml" and is_user_copy("hotel", tmp_path)
    edited = load_taxonomy("hotel", tmp_path)
    assert edited.label == "酒店（自定义）" and edited.source == path
    assert edited.content_hash() != shipped.content_hash()
    assert reset_taxonomy("hotel", tmp_path) is True
    assert load_taxonomy("hotel", tmp_path) == shipped
    assert reset_taxonomy("hotel", tmp_path) is False


def test_invalid_save_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError):
        save_taxonomy("label: x\naspects: []", "hotel", tmp_path)
    assert not (tmp_path / "hotel.yaml").exists()


def test_new_user_taxonomy_is_listed(tmp_path: Path) -> None:
    save_taxonomy(VALID, "cars", tmp_path)
    assert "cars" in available_taxonomies(tmp_path)
    assert load_taxonomy("cars", tmp_path).paths() == ["电池", "电池/续航"]
    taxonomy = load_taxonomy("cars", tmp_path)
    assert save_taxonomy(taxonomy, user_dir=tmp_path) == tmp_path / "cars.yaml"


# ---------------------------------------------------------------------------------------------------------
# Segmentation
# ---------------------------------------------------------------------------------------------------------


def test_segmenter_is_shared_and_uses_domain_words() -> None:
    segmenter = get_segmenter()
    assert get_segmenter() is segmenter
    assert "卡顿" in segmenter.cut("手机有点卡顿")
    assert "外卖小哥" in segmenter.cut("外卖小哥很准时")
    tokens = segmenter.tokens("屏幕很清晰")
    assert "".join(word for word, _, _ in tokens) == "屏幕很清晰"
    assert all("屏幕很清晰"[start:end] == word for word, start, end in tokens)


def test_bad_user_dictionary_line_is_reported(tmp_path: Path) -> None:
    dictionary = tmp_path / "userdict_bad.txt"
    dictionary.write_text("好词 12 n\n坏词 many\n", encoding="utf-8")
    with pytest.raises(
        SegmenterError, match=r"userdict_bad.txt, line 2: expected 'word \[frequency\] \[tag\]'"
    ):
        Segmenter([dictionary])


# ---------------------------------------------------------------------------------------------------------
# Aspect matching
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matcher() -> AspectMatcher:
    return AspectMatcher(load_taxonomy("phone", Path("/nonexistent-user-dir")))


def found(matcher: AspectMatcher, raw: str) -> list[tuple[str, str]]:
    text = normalize(raw)
    return [(m.path, m.term) for m in matcher.find(text)]


def test_trie_pattern_prefers_the_longest_term() -> None:
    import re

    pattern = re.compile(_trie_pattern(["电池", "电池耐用", "电量", "卡"]))
    assert [m.group() for m in pattern.finditer("电池耐用电池很好电量卡")] == [
        "电池耐用",
        "电池",
        "电量",
        "卡",
    ]


def test_matches_carry_clause_and_span(matcher: AspectMatcher) -> None:
    text = normalize("屏幕很清晰，但是电池续航太差了")
    mentions = matcher.find(text)
    assert [(m.path, m.term) for m in mentions] == [("屏幕", "屏幕"), ("电池/续航", "续航")]
    for mention in mentions:
        assert text[mention.start : mention.end] == mention.term
        assert mention.clause_start <= mention.start < mention.end <= mention.clause_end
    assert text[mentions[1].clause_start : mentions[1].clause_end] == "但是电池续航太差了"


def test_parent_dropped_when_child_in_same_clause(matcher: AspectMatcher) -> None:
    assert found(matcher, "电池续航很好") == [("电池/续航", "续航")]
    assert found(matcher, "电池很好，续航一般") == [("电池", "电池"), ("电池/续航", "续航")]
    assert found(matcher, "价格便宜，性价比高") == [("价格", "价格"), ("价格/性价比", "性价比")]


def test_one_mention_per_aspect_per_clause(matcher: AspectMatcher) -> None:
    assert found(matcher, "客服态度好") == [("客服", "客服")]
    assert found(matcher, "5G信号满格") == [("信号", "5G")]


def test_single_character_terms_need_a_whole_token(matcher: AspectMatcher) -> None:
    assert found(matcher, "手机太卡了") == [("性能/流畅度", "卡")]
    assert found(matcher, "有点重，但是很薄") == [("外观/重量", "重"), ("外观/厚度", "薄")]
    assert found(matcher, "用信用卡付款，重要的是便宜") == [("价格", "便宜")]
    assert found(matcher, "卡顿严重") == [("性能/流畅度", "卡顿")]


def test_latin_terms_respect_word_boundaries_and_case(matcher: AspectMatcher) -> None:
    assert found(matcher, "nfc好用，oled屏") == [("系统", "nfc"), ("屏幕", "oled")]
    assert found(matcher, "内存15G够用") == [("性能", "内存")]
    assert found(matcher, "NFCX芯片") == [("性能", "芯片")]


def test_no_terms_no_mentions(matcher: AspectMatcher) -> None:
    assert matcher.find("") == []
    assert found(matcher, "好评，下次还来") == []


def test_matcher_version_follows_taxonomy_content(tmp_path: Path) -> None:
    save_taxonomy(VALID, "cars", tmp_path)
    first = AspectMatcher(load_taxonomy("cars", tmp_path))
    save_taxonomy(VALID.replace("[待机]", "[待机, 掉电]"), "cars", tmp_path)
    second = AspectMatcher(load_taxonomy("cars", tmp_path))
    assert first.version != second.version
    assert [(m.path, m.term) for m in second.find("掉电很快")] == [("电池/续航", "掉电")]
    assert first.find("掉电很快") == []


def test_every_demo_phrase_is_tagged_with_its_aspect_or_parent(matcher: AspectMatcher) -> None:
    """The demo market writes clauses per aspect path; the tagger must find that path (or its parent)."""
    from data import demo_phrases

    missed = []
    for pool in (demo_phrases.POSITIVE, demo_phrases.NEGATIVE):
        for path, phrases in pool.items():
            for phrase in phrases:
                got = {m.path for m in matcher.find(normalize(phrase))}
                if path not in got and not any(path.startswith(g + "/") for g in got):
                    missed.append((path, phrase, got))
    assert not missed
