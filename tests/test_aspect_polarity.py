"""Aspect-level polarity: lexicon scope rules, the shipped model on hand-made cases, explanations, the
``evaluate aspect`` CLI on a real train-file sample, and a held-out accuracy regression test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from data.config import shared_data_dir
from models.aspect_polarity import (
    LABELS,
    WEIGHTS_FILE,
    AspectModelError,
    AspectPolarityModel,
    load_aspect_model,
)
from models.opinion_lexicon import Lexicon, load_lexicon

APC_DIR = shared_data_dir() / "pyabsa_chinese_apc"
needs_apc = pytest.mark.skipif(
    not APC_DIR.is_dir(),
    reason=f"{APC_DIR} not found: ../shared/data is not beside the checkout",
)


def span_of(text: str, aspect: str) -> tuple[int, int]:
    start = text.index(aspect)
    return start, start + len(aspect)


@pytest.fixture(scope="module")
def model() -> AspectPolarityModel:
    return load_aspect_model()


# --- lexicon ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "word", "polarity", "negator", "degree"),
    [
        ("屏幕很清晰", "清晰", 1, None, "很"),
        ("屏幕不太清晰", "清晰", -1, "不太", None),
        ("屏幕不是很清晰", "清晰", -1, "不是很", None),
        ("一点都不好", "好", -1, "一点都不", None),
        ("价格有点贵", "贵", -1, None, "有点"),
        ("没有问题", "问题", 1, "没有", None),
        ("运行不卡", "卡", 1, "不", None),  # a negated complaint term reads positive
        ("不是不好", "不好", 1, "不是", None),  # negated negative word
        ("声音太大", "大", -1, None, "太"),  # ambiguous word after an "excess" degree word
    ],
)
def test_negation_and_degree_scope(
    text: str, word: str, polarity: int, negator: str | None, degree: str | None
) -> None:
    hits = [h for h in load_lexicon().scan(text).opinions if h.word == word]
    assert len(hits) == 1
    assert (hits[0].polarity, hits[0].negator, hits[0].degree) == (polarity, negator, degree)


def test_shadow_compounds_and_scope_gap() -> None:
    lexicon = load_lexicon()
    assert [h.word for h in lexicon.scan("软件很多").opinions] == ["多"]  # 软件 is not 软 (soft)
    far = lexicon.scan("不，我觉得这个屏幕清晰").opinions  # 不 is too far from 清晰 to negate it
    assert far[-1].word == "清晰" and far[-1].polarity == 1 and far[-1].negator is None
    assert [t.word for t in lexicon.scan("外观好看但是续航太差").contrasts] == ["但是"]


def test_ambiguous_words_and_bad_files(tmp_path: Path) -> None:
    lexicon = load_lexicon()
    assert "大" not in lexicon.positive and "大" not in lexicon.negative
    assert lexicon.scan("噪音大").opinions[-1].polarity == 0
    for name in (
        "opinion_positive.txt",
        "opinion_negative.txt",
        "opinion_complaint.txt",
        "opinion_negation.txt",
        "opinion_contrast.txt",
        "opinion_neutral_shadow.txt",
    ):
        (tmp_path / name).write_text("好\n", encoding="utf-8")
    (tmp_path / "opinion_degree.txt").write_text("很\tvery\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"opinion_degree.txt, line 1"):
        Lexicon(tmp_path)


# --- model -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "aspect", "expected"),
    [
        ("玩游戏一点都不卡，系统很流畅", "系统", "positive"),
        ("系统运行不卡", "系统运行", "positive"),
        ("外观好看，但是续航太差", "续航", "negative"),
        ("外观好看，但是续航太差", "外观", "positive"),
        ("屏幕很清晰", "屏幕", "positive"),
        ("屏幕不太清晰", "屏幕", "negative"),
        ("屏幕一点都不清晰", "屏幕", "negative"),
        ("价格有点贵", "价格", "negative"),
        ("拍照效果非常好，不过电池不耐用", "电池", "negative"),
        ("拍照效果非常好，不过电池不耐用", "拍照效果", "positive"),
        ("声音不大，但是很清楚", "声音", "positive"),
        ("风扇声音太大", "风扇声音", "negative"),
        ("送餐太慢了，等了一个多小时", "慢", "negative"),  # the term is the opinion word
        ("肉不新鲜", "新鲜", "negative"),
        ("菜很好吃", "好吃", "positive"),
    ],
)
def test_clause_negation_contrast_cases(
    model: AspectPolarityModel, text: str, aspect: str, expected: str
) -> None:
    [(label, confidence)] = model.predict([text], [span_of(text, aspect)])
    assert label == expected, model.explain(text, span_of(text, aspect))
    assert 1 / 3 < confidence <= 1.0


def test_two_aspects_of_one_text_get_their_own_clause(model: AspectPolarityModel) -> None:
    text = "屏幕很漂亮，电池太差了，系统偶尔卡顿"
    spans = [span_of(text, a) for a in ("屏幕", "电池", "系统")]
    assert [label for label, _ in model.predict([text] * 3, spans)] == ["positive", "negative", "negative"]


def test_explain_names_the_clause_and_words(model: AspectPolarityModel) -> None:
    text = "外观好看，但是续航不太行"
    why = model.explain(text, span_of(text, "续航"))
    assert why["polarity"] == "negative"
    assert why["clause"] == "但是续航不太行"
    assert why["opinion_words"][0]["word"] == "行"
    assert why["opinion_words"][0]["negated_by"] == "不太"
    assert why["negation_words"] == ["不太"]
    assert abs(sum(why["probabilities"].values()) - 1) < 1e-5
    assert why["top_features"] and why["model_version"] == model.version


def test_predict_contract(model: AspectPolarityModel) -> None:
    assert model.predict([], []) == []
    out = model.predict(["很好", "质量很好"], [(0, 1), (0, 2)])
    assert all(label in LABELS for label, _ in out)
    assert model.version.startswith("aspect-lr-") and model.version == load_aspect_model().version
    with pytest.raises(AspectModelError, match="Mention 0"):
        model.predict(["短"], [(0, 5)])
    with pytest.raises(AspectModelError, match="differ in length"):
        model.predict(["短"], [])


def test_full_width_punctuation_splits_clauses(model: AspectPolarityModel) -> None:
    text = "外观好看！但是续航太差！"
    assert model.predict([text], [span_of(text, "续航")])[0][0] == "negative"
    assert model.explain(text, span_of(text, "续航"))["clause"] == "但是续航太差"


def test_vectorised_batch_matches_single_calls(model: AspectPolarityModel) -> None:
    texts = ["屏幕很清晰", "外观好看，但是续航太差", "声音一般", "快递很快，包装完好"] * 25
    aspects = ["屏幕", "续航", "声音", "包装"] * 25
    spans = [span_of(t, a) for t, a in zip(texts, aspects, strict=True)]
    batch = model.probabilities(texts, spans)
    single = np.vstack([model.probabilities([t], [s]) for t, s in zip(texts[:4], spans[:4], strict=True)])
    np.testing.assert_allclose(batch[:4], single, rtol=1e-5, atol=1e-6)


# --- the window member of the ensemble --------------------------------------------------------------------


def test_window_tfidf_matches_sklearn() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from models.aspect_polarity import member_window, tfidf_entries

    texts = ["外观好看，但是续航太差，拍照一般", "屏幕很清晰", "ABC屏幕abc很好很好很好", "声音"]
    windows = [
        member_window(t, t.index(a), t.index(a) + len(a))
        for t, a in zip(texts, ["续航", "屏幕", "屏幕", "声音"], strict=True)
    ]
    assert windows[0] == "外观好看，但是Ⓐ太差，拍照一般"
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, lowercase=False)
    expected = vectorizer.fit_transform(windows).toarray()
    index = dict(vectorizer.vocabulary_)
    rows, cols, values = tfidf_entries(windows, index, vectorizer.idf_)
    got = np.zeros_like(expected)
    got[rows, cols] = values
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    # n-grams outside the vocabulary are ignored (the row is normalised over known ones)
    rows, cols, values = tfidf_entries(["Ⓐ太差zz"], index, vectorizer.idf_)
    assert np.isclose(np.sum(values**2), 1.0) and set(rows) == {0}


def _tiny_ensemble(tmp_path: Path, weight: float) -> AspectPolarityModel:
    from models.aspect_polarity import WindowMember, load_weights, save_weights

    vocabulary = ["bias", "lx:+", "lx:-"]
    coef = np.array([[0.0, 0.0, 0.0], [-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]])
    member = WindowMember(
        vocabulary=("差", "好", "Ⓐ"),
        idf=np.array([1.5, 1.2, 1.0]),
        coef=np.array([[2.0, 0.0, -2.0], [-2.0, 0.0, 2.0], [0.0, 0.5, 0.0]], dtype=np.float32),
        intercept=np.array([0.0, -1.0, 0.0]),
        weight=weight,
    )
    path = tmp_path / f"tiny_{weight}.npz"
    save_weights(path, vocabulary, coef, np.zeros(3), 1.0, {"test": True}, member)
    return load_weights(path)


def test_ensemble_averages_member_probabilities(tmp_path: Path) -> None:
    from models.aspect_polarity import featurize, member_window

    texts, spans = ["屏幕很好", "外观好看，但是续航太差"], [(0, 2), (7, 9)]
    alone = _tiny_ensemble(tmp_path, 0.0)
    mixed = _tiny_ensemble(tmp_path, 0.4)
    assert mixed.member is not None and mixed.member.weight == 0.4 and mixed.version != alone.version
    features, _ = featurize(texts, spans)
    clause = alone.probabilities(texts, spans)
    np.testing.assert_allclose(clause, alone.probabilities_from_features(features))  # weight 0: no member
    windows = [member_window(t, s, e) for t, (s, e) in zip(texts, spans, strict=True)]
    member = mixed.member.probabilities(windows)
    np.testing.assert_allclose(mixed.probabilities(texts, spans), 0.6 * clause + 0.4 * member, rtol=1e-6)
    assert mixed.predict(texts, spans)[1][0] == "negative"
    with pytest.raises(AspectModelError, match="ensemble"):
        mixed.probabilities_from_features(features)
    assert mixed.explain(texts[1], spans[1])["polarity"] == "negative"
    # the member never sees the term: a term that is itself a polar word (complaint terms) is left to the
    # clause model ("没有Ⓐ" would read negative to the member, "Ⓐ很快" positive)
    complaints, complaint_spans = ["没有发热", "掉电很快", "屏幕很好"], [(2, 4), (0, 2), (0, 2)]
    alone_probs = alone.probabilities(complaints, complaint_spans)
    mixed_probs = mixed.probabilities(complaints, complaint_spans)
    np.testing.assert_allclose(mixed_probs[:2], alone_probs[:2])
    assert not np.allclose(mixed_probs[2], alone_probs[2])


def test_shipped_model_is_the_cross_validated_ensemble(model: AspectPolarityModel) -> None:
    from models.train_aspect import DEFAULT_MEMBER_WEIGHT

    assert model.member is not None, "the shipped weights have no window member: retrain them"
    assert model.member.weight == pytest.approx(DEFAULT_MEMBER_WEIGHT)
    assert model.metadata["member_weight"] == pytest.approx(DEFAULT_MEMBER_WEIGHT)


# --- CLI -------------------------------------------------------------------------------------------------


def _apc_sample(domain: str, rows: int) -> pd.DataFrame:
    raw = pd.read_csv(APC_DIR / f"{domain}_train.csv", dtype=str, keep_default_na=False).head(rows)
    text = [s.replace("$T$", a).replace(" ", "") for s, a in zip(raw["sentence"], raw["aspect"], strict=True)]
    return pd.DataFrame(
        {"text": text, "aspect": raw["aspect"].str.replace(" ", ""), "polarity": raw["polarity"]}
    )


def _run_cli(*args: str) -> tuple[int, str]:
    from cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@needs_apc
def test_evaluate_cli_prints_json_last(tmp_path: Path) -> None:
    sample = _apc_sample("phone", 80)
    sample["polarity"] = sample["polarity"].str.upper()  # labels are matched case-insensitively
    path = tmp_path / "phone_sample.csv"
    sample.to_csv(path, index=False)
    code, output = _run_cli("evaluate", "aspect", "--data", str(path))
    assert code == 0, output
    lines = output.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["n"] == 80
    assert 0.7 <= result["accuracy"] <= 1.0 and 0.0 < result["macro_f1"] <= 1.0
    assert result["per_class"]["positive"]["true"] == int((sample["polarity"] == "POSITIVE").sum())
    assert any(line.startswith("positive") for line in lines[:-1])

    code, output = _run_cli("evaluate", "aspect", "--data", str(path), "--labels", "Positive,negative")
    restricted = json.loads(output.strip().splitlines()[-1])
    assert code == 0 and restricted["predicted_labels"] == ["negative", "positive"]
    assert restricted["per_class"]["neutral"]["predicted"] == 0
    assert restricted["macro_f1_classes"] == ["negative", "positive"]
    code, output = _run_cli("evaluate", "aspect", "--data", str(path), "--labels", "good")
    assert code == 2 and "--labels" in output


@needs_apc
def test_evaluate_cli_names_the_bad_row(tmp_path: Path) -> None:
    sample = _apc_sample("car", 5)
    sample.loc[3, "aspect"] = "不存在的词"
    path = tmp_path / "bad.csv"
    sample.to_csv(path, index=False)
    code, output = _run_cli("evaluate", "aspect", "--data", str(path))
    assert code == 2
    assert "row 4" in output and "不存在的词" in output and "Traceback" not in output

    sample = _apc_sample("car", 5)
    sample.loc[1, "polarity"] = "great"
    sample.to_csv(path, index=False)
    code, output = _run_cli("evaluate", "aspect", "--data", str(path))
    assert code == 2 and "row 2" in output and "'great'" in output

    path.write_text("text,label\n好,1\n", encoding="utf-8")
    code, output = _run_cli("evaluate", "aspect", "--data", str(path))
    assert code == 2 and "aspect" in output and "polarity" in output


# --- held-out regression ---------------------------------------------------------------------------------

# Measured with the shipped weights (trained on the training side only) by this very split; see
# docs/BENCHMARKS.md. Thresholds sit a little below the measured figures so that noise in retraining
# does not trip them, while a real regression (e.g. broken negation or clause handling) does.
HELD_OUT_POOLED_MIN = 0.90
HELD_OUT_DOMAIN_MIN = {"phone": 0.92, "camera": 0.88, "notebook": 0.86, "car": 0.86}


@needs_apc
def test_held_out_accuracy_regression(model: AspectPolarityModel) -> None:
    from models.train_aspect import TARGET_DOMAINS, load_apc

    assert not json.loads(json.dumps(model.metadata)).get("refit_on_held_out", False), (
        "the shipped weights saw the held-out split; this test would measure training fit"
    )
    correct = total = 0
    for domain in TARGET_DOMAINS:
        held = load_apc(domain)
        held = held[held["held_out"]]
        spans = list(zip(held["start"], held["end"], strict=True))
        predicted = [label for label, _ in model.predict(list(held["text"]), spans)]
        hits = int(np.sum(np.asarray(predicted) == held["label"].to_numpy()))
        assert hits / len(held) >= HELD_OUT_DOMAIN_MIN[domain], (domain, hits / len(held))
        correct += hits
        total += len(held)
    assert correct / total >= HELD_OUT_POOLED_MIN


def test_weights_file_is_small() -> None:
    assert WEIGHTS_FILE.stat().st_size < 3 * 1024 * 1024


# --- complaint terms (发热, 烫手, 卡顿 …): negative by themselves, positive when negated -------------------

HEAT_COMPLAINTS = {"发热", "发烫", "烫手", "过热", "烫"}
SMOOTHNESS_COMPLAINTS = {"卡顿", "卡", "死机", "闪退", "掉帧"}


def test_complaint_terms_are_negative_words_and_negation_flips_them() -> None:
    lexicon = load_lexicon()
    others = {"掉电", "耗电快", "信号差", "漏光", "烧屏", "划痕"}
    for word in HEAT_COMPLAINTS | SMOOTHNESS_COMPLAINTS | others:
        assert word in lexicon.complaints and word in lexicon.negative, word
    [hit] = lexicon.scan("没有发热").opinions
    assert (hit.word, hit.base, hit.polarity, hit.negator) == ("发热", -1, 1, "没有")
    [hit] = lexicon.scan("一点也不烫").opinions
    assert (hit.word, hit.polarity, hit.negator) == ("烫", 1, "一点也不")
    [hit] = lexicon.scan("不卡").opinions  # read as negator + complaint, not as one positive word
    assert (hit.word, hit.polarity, hit.negator) == ("卡", 1, "不")
    # Compounds holding a complaint character are not complaints (hair perms, brands, cards).
    for text in ("烫染受损的发质", "卡诗的效果", "独立显卡", "双卡双待", "发热量"):
        assert not [h for h in lexicon.scan(text).opinions if h.word in lexicon.complaints], text


def test_phone_taxonomy_complaint_terms_are_covered() -> None:
    from models.taxonomy import load_taxonomy

    taxonomy = load_taxonomy("phone")
    lexicon = load_lexicon()
    heat = set(taxonomy.node("电池/发热").terms) & lexicon.complaints
    smooth = set(taxonomy.node("性能/流畅度").terms) & lexicon.complaints
    assert heat == HEAT_COMPLAINTS
    assert smooth == SMOOTHNESS_COMPLAINTS


@pytest.mark.parametrize(
    ("text", "aspect", "expected"),
    [
        ("后盖烫手", "烫手", "negative"),
        ("玩一会游戏就烫手", "烫手", "negative"),
        ("刷视频都发烫", "发烫", "negative"),
        ("没有发热", "发热", "positive"),
        ("玩游戏也不怎么发热", "发热", "positive"),
        ("客服态度很差", "客服", "negative"),
        ("一点也不烫", "烫", "positive"),
        ("打游戏不卡", "卡", "positive"),
        ("系统有点卡顿", "卡顿", "negative"),
        ("系统非常卡顿", "卡顿", "negative"),
        ("从不死机", "死机", "positive"),
        ("经常闪退", "闪退", "negative"),
        ("没有闪退", "闪退", "positive"),
        ("掉电很快", "掉电", "negative"),
        ("屏幕有漏光", "漏光", "negative"),
        ("没有漏光", "漏光", "positive"),
        ("手机有点发热", "发热", "negative"),
        ("手机发热严重", "发热", "negative"),
        ("充电时非常烫手", "烫手", "negative"),
        ("没怎么发烫", "发烫", "positive"),
        ("信号差", "信号差", "negative"),
    ],
)
def test_complaint_term_cases(model: AspectPolarityModel, text: str, aspect: str, expected: str) -> None:
    [(label, confidence)] = model.predict([text], [span_of(text, aspect)])
    assert label == expected, model.explain(text, span_of(text, aspect))
    assert confidence > 0.5


@pytest.mark.parametrize("term", sorted(HEAT_COMPLAINTS | SMOOTHNESS_COMPLAINTS))
def test_taxonomy_complaint_terms_plain_degree_and_negated(model: AspectPolarityModel, term: str) -> None:
    cases = {
        f"玩游戏的时候{term}": "negative",
        f"玩游戏的时候有点{term}": "negative",
        f"玩游戏的时候非常{term}": "negative",
        f"玩游戏的时候没有{term}": "positive",
        f"玩游戏的时候一点也不{term}": "positive",
    }
    texts = list(cases)
    spans = [(t.rindex(term), t.rindex(term) + len(term)) for t in texts]
    predicted = [label for label, _ in model.predict(texts, spans)]
    assert predicted == list(cases.values()), dict(zip(texts, predicted, strict=True))


def test_complaint_augmentation_rewrites_and_swaps() -> None:
    from models.train_aspect import complaint_substitutions, complaint_term_mentions

    frame = pd.DataFrame(
        {
            "text": ["手机发热", "玩游戏不卡", "屏幕很清晰"],
            "start": [0, 0, 0],
            "end": [2, 3, 2],
            "label": ["negative", "positive", "positive"],
            "domain": ["phone"] * 3,
        }
    )
    extra = complaint_term_mentions(frame)
    columns = zip(extra.text, extra.start, extra.end, extra.label, strict=True)
    rows = {(t, t[s:e], label) for t, s, e, label in columns}
    negated = next(t for t, _, label in rows if t.startswith("手机") and label == "positive")
    assert (negated, "手机", "positive") in rows and (negated, "发热", "positive") in rows
    assert ("玩游戏卡", "玩游戏", "negative") in rows and ("玩游戏卡", "卡", "negative") in rows
    assert not any(t.startswith("屏幕") for t, _, _ in rows)  # no complaint term: nothing to rewrite
    assert extra["augmented"].all() and not extra["held_out"].any()

    seeds = pd.DataFrame(
        {
            "text": ["送餐太慢了", "价格一点都不贵", "菜很好吃"],
            "start": [3, 6, 3],
            "end": [4, 7, 5],
            "label": ["negative", "positive", "positive"],
            "domain": ["phone"] * 3,
        }
    )
    swapped = complaint_substitutions(seeds)
    lexicon = load_lexicon()
    assert len(swapped) == 2  # 好吃 is not a negative word
    for text, start, end, label in zip(swapped.text, swapped.start, swapped.end, swapped.label, strict=True):
        assert text[start:end] in lexicon.complaints
        assert label == ("negative" if text.startswith("送餐太") else "positive")
