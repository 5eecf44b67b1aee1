"""Normalisation and clause splitting (models/text.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.text import (
    clause_at,
    normalize,
    normalize_with_offsets,
    split_clauses,
    split_sentences,
)


def clauses_of(text: str) -> list[str]:
    return [text[a:b] for a, b in split_clauses(text)]


def test_full_width_folded_and_whitespace_collapsed() -> None:
    assert normalize("ＡＢＣ１２３，　很好！！\n\n  续航\t一般？") == "ABC123, 很好!! 续航 一般?"


def test_emoji_kept_controls_removed() -> None:
    assert normalize("好评😊👍\x00\x07\u200b\ufeff") == "好评😊👍"
    # zero-width joiner and variation selector survive: they are part of emoji sequences
    family = "👨\u200d👩\u200d👧"
    assert normalize(family) == family
    assert normalize("❤\ufe0f") == "❤\ufe0f"


def test_multi_character_compatibility_forms_are_not_expanded() -> None:
    assert normalize("很好…") == "很好…"
    assert normalize("™") == "™"


def test_empty_and_blank() -> None:
    assert normalize("") == ""
    assert normalize(" \n\t ") == ""
    assert split_clauses("") == []
    assert split_clauses(" ,,。 ") == []


def test_offsets_point_back_to_raw_text() -> None:
    raw = "  屏幕\x00很好，\n\n电池不行 "
    text, offsets = normalize_with_offsets(raw)
    assert text == normalize(raw) == "屏幕很好, 电池不行"
    assert len(offsets) == len(text)
    for index, char in enumerate(text):
        if char not in " ,":
            assert raw[offsets[index]] == char


def test_clauses_split_on_punctuation_and_commas_not_enumeration_comma() -> None:
    text = normalize("屏幕、电池都不错，拍照一般。物流很快！")
    assert clauses_of(text) == ["屏幕、电池都不错", "拍照一般", "物流很快"]


def test_contrast_marker_starts_its_clause() -> None:
    assert clauses_of("屏幕很好但是电池不行") == ["屏幕很好", "但是电池不行"]
    assert clauses_of("外观漂亮,不过有点重") == ["外观漂亮", "不过有点重"]
    assert clauses_of("手感好可是发热严重") == ["手感好", "可是发热严重"]
    assert clauses_of("系统流畅但电池一般") == ["系统流畅", "但电池一般"]


def test_ambiguous_markers_do_not_split_mid_clause() -> None:
    assert clauses_of("拍照比不过苹果") == ["拍照比不过苹果"]
    assert clauses_of("这就是我想要的手机") == ["这就是我想要的手机"]
    assert clauses_of("不但好看而且便宜") == ["不但好看而且便宜"]


def test_spaces_split_chinese_but_not_model_names() -> None:
    assert clauses_of("屏幕好 电池差") == ["屏幕好", "电池差"]
    assert clauses_of("华为 Mate 60 很好") == ["华为 Mate 60 很好"]


def test_sentences() -> None:
    text = "屏幕很好,电池不行。物流快!"
    assert [text[a:b] for a, b in split_sentences(text)] == ["屏幕很好,电池不行", "物流快"]


def test_clause_at() -> None:
    text = "屏幕很好,电池不行"
    spans = split_clauses(text)
    assert clause_at(spans, 0) == (0, 4)
    assert clause_at(spans, 6) == (5, 9)
    assert clause_at(spans, 4) is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_normalize_idempotent_and_never_longer(raw: str) -> None:
    once = normalize(raw)
    assert normalize(once) == once
    assert len(once) <= len(raw)
    text, offsets = normalize_with_offsets(raw)
    assert text == once
    assert offsets == sorted(offsets)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("屏幕很好但是不过电池,。! 、AB1😊")), max_size=60))
def test_clauses_are_ordered_disjoint_and_trimmed(raw: str) -> None:
    text = normalize(raw)
    spans = split_clauses(text)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        clause = text[start:end]
        assert clause == clause.strip()
        assert not any(ch in clause for ch in ",。!")
        previous_end = end


@pytest.mark.parametrize("marker", ["但是", "不过", "就是", "可是", "然而", "只是"])
def test_every_marker_after_a_comma_starts_the_clause(marker: str) -> None:
    assert clauses_of(f"外观好看,{marker}电池不耐用") == ["外观好看", f"{marker}电池不耐用"]
