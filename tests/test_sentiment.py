"""Sentiment model: committed weights, inference contract, external-model path, evaluation CLI, metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.config import shared_data_dir
from models.corpora import CORPORA, is_held_out, load_corpus, normalise_text
from models.metrics import accuracy, macro_f1
from models.sentiment import (
    DEFAULT_MODEL_DIR,
    SentimentModelError,
    load_sentiment_model,
    positive_label_index,
)

ROOT = Path(__file__).resolve().parent.parent
WAIMAI = shared_data_dir() / "waimai_10k" / "waimai_10k.csv"

POSITIVE = ["质量很好，非常满意，下次还来买", "房间干净，服务热情，早餐丰富，推荐！", "送餐很快，味道好极了"]
NEGATIVE = [
    "太差了，完全不能用，申请退货",
    "房间又脏又吵，前台态度恶劣，再也不住了",
    "送了两个小时，饭凉了，难吃",
]


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_sentiment_model(DEFAULT_MODEL_DIR)


def test_committed_model_scores_obvious_texts(model) -> None:  # type: ignore[no-untyped-def]
    proba = model.predict_proba(POSITIVE + NEGATIVE)
    assert proba.dtype == np.float32 and proba.shape == (6,)
    assert (proba[:3] > 0.5).all(), proba
    assert (proba[3:] < 0.5).all(), proba
    assert len(model.version) == 16 and int(model.version, 16) >= 0
    assert model.device in ("cpu", "cuda")


def test_committed_model_has_card_and_small_weights() -> None:
    card = (DEFAULT_MODEL_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert load_sentiment_model().version in card
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.glob("*.safetensors"))
    assert 0 < size <= 25_000_000


def test_order_preserved_with_length_sorting(model) -> None:  # type: ignore[no-untyped-def]
    texts = ["好", *NEGATIVE, "非常" * 40 + "好用", "", *POSITIVE, "一般般吧，还行", "差"]
    one_by_one = np.array([model.predict_proba([t])[0] for t in texts], dtype=np.float32)
    batched = model.predict_proba(texts, batch_size=3)
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-5, atol=1e-6)
    assert model.predict_proba([]).shape == (0,)


def test_model_is_cached_per_path(model) -> None:  # type: ignore[no-untyped-def]
    assert load_sentiment_model(DEFAULT_MODEL_DIR) is model
    assert load_sentiment_model(str(DEFAULT_MODEL_DIR)) is model


def test_model_logit_equals_tfidf_logistic_regression(model) -> None:  # type: ignore[no-untyped-def]
    """The dense in-model TF-IDF (sorted runs) gives the same logit as the sparse training formula."""
    import torch

    from models.train_sentiment import encode, ngram_rows_keys, tfidf_matrix

    net = model.model
    if net.config.model_type != "tingjian_ngram":
        pytest.skip("the committed model is not the n-gram architecture")
    texts = [*POSITIVE, *NEGATIVE, "好好好好好好", "iPhone 12 电池不行"]
    ids = encode(model.tokenizer, texts, 512)
    rows, keys = ngram_rows_keys(ids, net.config.ngram_max, net.config.key_base)
    matrix = tfidf_matrix(rows, keys, len(texts), net.feature_keys.numpy(), net.feature_idf.numpy())
    expected = matrix @ net.feature_weight.detach().numpy() + float(net.linear_bias.detach()[0])
    width = max(len(x) for x in ids)
    batch = torch.tensor([x + [0] * (width - len(x)) for x in ids])
    mask = (batch != 0).long()
    with torch.inference_mode():
        got = net.linear_logit(batch, mask).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_missing_and_broken_directories_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SentimentModelError, match="does not exist"):
        load_sentiment_model(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(SentimentModelError, match=r"no config\.json"):
        load_sentiment_model(broken)
    (broken / "config.json").write_text("{not json")
    (broken / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(SentimentModelError, match="cannot load"):
        load_sentiment_model(broken)


def test_external_bert_directory_uses_the_same_code_path(tmp_path: Path) -> None:
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    chars = sorted(set("".join(POSITIVE + NEGATIVE)))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, model_max_length=64)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    external = load_sentiment_model(tmp_path)
    assert external.model.config.model_type == "bert"
    texts = [*NEGATIVE, "好", *POSITIVE, "质量" * 50]
    proba = external.predict_proba(texts, batch_size=2)
    assert proba.dtype == np.float32 and proba.shape == (len(texts),)
    assert ((proba >= 0) & (proba <= 1)).all()
    one_by_one = np.array([external.predict_proba([t])[0] for t in texts])
    np.testing.assert_allclose(proba, one_by_one, rtol=1e-4, atol=1e-5)
    assert external.version != load_sentiment_model().version


def test_positive_label_index() -> None:
    class Cfg:
        def __init__(self, id2label: dict[int, str]) -> None:
            self.id2label = id2label
            self.num_labels = len(id2label)

    assert positive_label_index(Cfg({0: "POSITIVE", 1: "NEGATIVE"})) == 0
    assert positive_label_index(Cfg({0: "LABEL_0", 1: "LABEL_1"})) == 1
    assert positive_label_index(Cfg({0: "neg", 1: "neutral", 2: "pos"})) == 2
    with pytest.raises(SentimentModelError, match="positive"):
        positive_label_index(Cfg({0: "a", 1: "b", 2: "c"}))


def test_metrics_match_definitions() -> None:
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 200)
    pred = np.where(rng.random(200) < 0.8, truth, 1 - truth)
    assert accuracy(truth, pred) == pytest.approx(accuracy_score(truth, pred))
    assert macro_f1(truth, pred) == pytest.approx(f1_score(truth, pred, average="macro"))
    assert macro_f1([1, 1], [1, 1]) == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        accuracy([1, 0], [1])


def test_split_is_by_text_and_about_ten_percent() -> None:
    assert normalise_text("\ufeff 好评 ") == "好评"
    assert is_held_out("好评") == is_held_out(normalise_text(" 好评\ufeff"))
    share = np.mean([is_held_out(f"评论{i}") for i in range(5000)])
    assert 0.08 < share < 0.12


def test_corpus_loading_on_real_data() -> None:
    if not WAIMAI.is_file():
        pytest.skip("waimai_10k not found: ../shared/data is not beside the checkout")
    spec = next(s for s in CORPORA if s.name == "waimai_10k")
    frame = load_corpus(spec)
    assert frame["text"].is_unique and (frame["text"] != "").all()
    assert set(frame["label"].unique()) == {0, 1}
    assert 0.08 < frame["held_out"].mean() < 0.12


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_evaluate_cli_prints_json_last(tmp_path: Path) -> None:
    if not WAIMAI.is_file():
        pytest.skip("waimai_10k not found: ../shared/data is not beside the checkout")
    sample = pd.read_csv(WAIMAI, dtype=str).sample(300, random_state=1)
    path = tmp_path / "sample.csv"
    sample.to_csv(path, index=False)
    result = _run_cli(
        "evaluate", "sentiment", "--data", str(path), "--text-col", "review", "--label-col", "label",
        "--positive", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["n"] == 300
    assert payload["accuracy"] > 0.8 and payload["macro_f1"] > 0.75
    assert payload["texts_per_second"] > 0
    assert payload["model_version"] == load_sentiment_model().version
    missing = _run_cli(
        "evaluate", "sentiment", "--data", str(path), "--text-col", "text", "--label-col", "label",
        "--positive", "1",
    )  # fmt: skip
    assert missing.returncode == 2
    assert "['text']" in missing.stderr and "review" in missing.stderr and "Traceback" not in missing.stderr


def test_importing_sentiment_is_cheap() -> None:
    code = "import sys, models.sentiment\nassert not {'torch', 'transformers'} & set(sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_cnn_member_trains_and_round_trips(tmp_path: Path) -> None:
    """The optional residual char-CNN: a few training steps lower its loss; save/load keeps the logits."""
    import torch

    from models.sentiment_arch import TingjianSentimentConfig, TingjianSentimentForSequenceClassification
    from models.text import normalize
    from models.train_sentiment import TrainSettings, build_vocab, encode, make_tokenizer, train_cnn_member

    texts = [normalize(t) for t in POSITIVE + NEGATIVE]  # the form predict_proba feeds the model
    labels = np.array([1, 1, 1, 0, 0, 0])
    vocab = build_vocab(texts, 1)
    tokenizer = make_tokenizer(vocab, 64)
    config = TingjianSentimentConfig(
        vocab_size=len(vocab), num_features=3, cnn_embed_dim=8, cnn_channels=4, cnn_widths=(2, 3)
    )
    net = TingjianSentimentForSequenceClassification(config)
    with torch.no_grad():
        net.feature_keys.copy_(torch.tensor([-3, -2, -1]))  # matches no n-gram: the CNN alone decides
    ids = encode(tokenizer, texts, 64)
    width = max(len(x) for x in ids)
    batch = torch.tensor([x + [0] * (width - len(x)) for x in ids])
    mask = (batch != 0).long()
    target = torch.tensor(labels, dtype=torch.float32)

    def loss() -> float:
        with torch.no_grad():
            return float(
                torch.nn.functional.binary_cross_entropy_with_logits(net.cnn_logit(batch, mask), target)
            )

    before = loss()
    settings = TrainSettings(cnn_epochs=30, cnn_batch_size=6, cnn_lr=0.02)
    train_cnn_member(net, ids, labels, np.zeros(6, dtype=np.float32), settings, log=lambda _: None)
    assert loss() < before
    net.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = load_sentiment_model(tmp_path)
    assert loaded.model.config.cnn_channels == 4
    with torch.inference_mode():
        expected = torch.softmax(net(batch, mask).logits, dim=-1)[:, 1].numpy()
    np.testing.assert_allclose(loaded.predict_proba(texts), expected, rtol=1e-4, atol=1e-5)


def test_ngram_model_type_constant_matches_architecture(model) -> None:  # type: ignore[no-untyped-def]
    from models.sentiment import NGRAM_MODEL_TYPE
    from models.sentiment_arch import MODEL_TYPE

    assert NGRAM_MODEL_TYPE == MODEL_TYPE
    assert model.cpu_threads == (1 if model.model.config.model_type == MODEL_TYPE else model.cpu_threads)
