"""Review-level sentiment inference: P(positive) for a batch of texts.

``load_sentiment_model()`` loads the committed Tingjian model (``models/weights/sentiment``), or the
directory in ``$TINGJIAN_SENTIMENT_MODEL``, or any local Hugging Face sequence-classification directory (e.g.
a Chinese BERT fine-tuned for sentiment) through the same code path: ``AutoTokenizer`` +
``AutoModelForSequenceClassification``. Each directory is loaded once per process. CUDA is used when available
(half precision, large batches), the CPU otherwise (all cores). Texts are sorted by length and padded per
batch; results come back in input order.

Texts are scored as given (U+FEFF removed, whitespace stripped): the committed model was trained on
both the raw and the ``models.text.normalize`` form of every text, so either form works. Importing this
module is cheap: torch and transformers are imported on first load.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data.config import PROJECT_ROOT

MODEL_ENV_VAR = "TINGJIAN_SENTIMENT_MODEL"
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models" / "weights" / "sentiment"
MAX_LENGTH = 512
CPU_BATCH_SIZE = 256
CUDA_BATCH_SIZE = 2048
POSITIVE_LABEL_NAMES = ("positive", "pos", "1", "label_1", "正面", "积极")
WEIGHT_SUFFIXES = (".safetensors", ".bin")
NGRAM_MODEL_TYPE = "tingjian_ngram"  # models.sentiment_arch.MODEL_TYPE, kept here so import stays cheap

_CACHE: dict[str, SentimentModel] = {}
_CACHE_LOCK = threading.Lock()


class SentimentModelError(RuntimeError):
    """The sentiment model directory is missing, incomplete or unreadable."""


def resolve_model_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """An explicit path, else ``$TINGJIAN_SENTIMENT_MODEL``, else the committed weights."""
    if path:
        return Path(path).expanduser().resolve()
    env_value = os.environ.get(MODEL_ENV_VAR)
    if env_value:
        return Path(env_value).expanduser().resolve()
    return DEFAULT_MODEL_DIR


def model_version(model_dir: Path) -> str:
    """First 16 hex digits of the SHA-256 over ``config.json`` and every weight file (sorted by name)."""
    digest = hashlib.sha256()
    weights = sorted(p for p in model_dir.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    files = [model_dir / "config.json", *weights]
    for file in files:
        digest.update(file.name.encode("utf-8"))
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


class SentimentModel:
    """A loaded sequence-classification model that scores P(positive)."""

    def __init__(self, model_dir: Path, tokenizer: Any, model: Any, device: str, positive_index: int) -> None:
        self.model_dir = model_dir
        self.tokenizer = tokenizer
        self.model = model
        self.device = device
        self.positive_index = positive_index
        self.version = model_version(model_dir)
        declared = int(getattr(tokenizer, "model_max_length", MAX_LENGTH) or MAX_LENGTH)
        positions = int(getattr(getattr(model, "config", None), "max_position_embeddings", 0) or MAX_LENGTH)
        self.max_length = min(MAX_LENGTH, declared, positions)
        self._backend = _fast_backend(tokenizer, self.max_length)
        # torch intra-op threads on the CPU: all usable cores for transformer models (matrix products);
        # one for the n-gram model, whose small gather/sort ops gain nothing from a second thread and lose
        # 4-10x when the cores are busy (OpenMP spin-waits). The Rust tokenizer uses every core either way.
        model_type = getattr(getattr(model, "config", None), "model_type", "")
        self.cpu_threads = 1 if model_type == NGRAM_MODEL_TYPE else usable_cpu_count()

    def __repr__(self) -> str:
        return (
            f"SentimentModel({self.model_dir.as_posix()!r}, version={self.version!r}, device={self.device!r})"
        )

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """P(positive) of every text as float32, in input order (length-sorted batches, dynamic padding)."""
        import torch

        count = len(texts)
        result = np.empty(count, dtype=np.float32)
        if count == 0:
            return result
        if batch_size is None:
            batch_size = CUDA_BATCH_SIZE if self.device == "cuda" else CPU_BATCH_SIZE
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        cleaned = [_clean(text) for text in texts]
        order = np.argsort(np.fromiter((len(t) for t in cleaned), dtype=np.int64, count=count), kind="stable")
        previous_threads = torch.get_num_threads()
        if self.device == "cpu" and previous_threads != self.cpu_threads:
            torch.set_num_threads(self.cpu_threads)
        try:
            self._score_sorted(cleaned, order, batch_size, result)
        finally:
            if torch.get_num_threads() != previous_threads:
                torch.set_num_threads(previous_threads)
        return result

    def _score_sorted(
        self, cleaned: list[str], order: np.ndarray, batch_size: int, result: np.ndarray
    ) -> None:
        import torch

        count = len(cleaned)
        with torch.inference_mode():
            for start in range(0, count, batch_size):
                index = order[start : start + batch_size]
                inputs = {k: v.to(self.device) for k, v in self._encode([cleaned[i] for i in index]).items()}
                logits = self.model(**inputs).logits.float()
                if logits.shape[-1] == 1:
                    probs = torch.sigmoid(logits[:, 0])
                else:
                    probs = torch.softmax(logits, dim=-1)[:, self.positive_index]
                result[index] = probs.cpu().numpy()

    def _encode(self, batch: list[str]) -> dict[str, Any]:
        """input_ids + attention_mask padded to the longest text of the batch."""
        import torch

        if self._backend is None:
            encoded = self.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_token_type_ids=False,
                return_tensors="pt",
            )
            return dict(encoded)
        encodings = self._backend.encode_batch(batch)
        return {
            "input_ids": torch.tensor(np.array([e.ids for e in encodings], dtype=np.int64)),
            "attention_mask": torch.tensor(np.array([e.attention_mask for e in encodings], dtype=np.int64)),
        }


def _fast_backend(tokenizer: Any, max_length: int) -> Any:
    """A private copy of the Rust tokenizer with truncation and longest-padding set, or None.

    Calling it directly skips the Python-side ``BatchEncoding`` work of ``tokenizer(...)`` (about 2× faster on
    short reviews); it gives the same ids for tokenizers that add their special tokens in the Rust
    post-processor (BERT-like ones). Anything else falls back to the standard call.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if backend is None or pad_id is None or getattr(tokenizer, "padding_side", "right") != "right":
        return None
    try:
        from tokenizers import Tokenizer

        fast = Tokenizer.from_str(backend.to_str())
        fast.enable_truncation(max_length=max_length)
        fast.enable_padding(pad_id=pad_id, pad_token=str(tokenizer.pad_token))
        probe = "好评 iPhone 12"
        if fast.encode(probe).ids != tokenizer(probe, truncation=True, max_length=max_length)["input_ids"]:
            return None
    except Exception:  # any mismatch in an external tokenizer: use the standard path
        return None
    return fast


def _clean(text: object) -> str:
    """The text as trained on: U+FEFF removed, surrounding whitespace stripped (non-strings become text)."""
    if not isinstance(text, str):
        text = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    return text.replace("\ufeff", "").strip()


def usable_cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the host's count, inside containers)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def positive_label_index(config: Any) -> int:
    """Index of the positive class: a label named positive/pos/1/…, else 1 for a two-class model."""
    id2label = {int(k): str(v).strip().lower() for k, v in (getattr(config, "id2label", None) or {}).items()}
    for index, name in sorted(id2label.items()):
        if name in POSITIVE_LABEL_NAMES:
            return index
    num_labels = int(getattr(config, "num_labels", len(id2label) or 2))
    if num_labels in (1, 2):
        return num_labels - 1
    raise SentimentModelError(
        f"cannot tell which of the {num_labels} labels is positive ({sorted(id2label.values())}); "
        "name one label 'positive' in the model's config.json id2label"
    )


def load_sentiment_model(path: str | os.PathLike[str] | None = None) -> SentimentModel:
    """Load (once per process per directory) the sentiment model; see the module docstring for the default."""
    model_dir = resolve_model_dir(path)
    key = str(model_dir)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = _load(model_dir)
            _CACHE[key] = cached
        return cached


def _load(model_dir: Path) -> SentimentModel:
    if not model_dir.is_dir():
        raise SentimentModelError(
            f"sentiment model directory {model_dir} does not exist; set ${MODEL_ENV_VAR} or --model to a "
            "local Hugging Face model directory (config.json, weights, tokenizer files)"
        )
    if not (model_dir / "config.json").is_file():
        raise SentimentModelError(f"{model_dir} has no config.json: it is not a Hugging Face model directory")
    if not any(p.name.endswith(WEIGHT_SUFFIXES) for p in model_dir.iterdir()):
        raise SentimentModelError(f"{model_dir} has no weights (*.safetensors or *.bin)")
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from models import sentiment_arch  # registers Tingjian's own architecture with the Auto classes

    sentiment_arch.register_auto_classes()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(usable_cpu_count())
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
    except Exception as exc:  # transformers raises many types for a broken directory
        raise SentimentModelError(
            f"cannot load the sentiment model from {model_dir}: {type(exc).__name__}: {exc}"
        ) from exc
    model.eval()
    model.to(device)
    if device == "cuda":
        model.half()
    return SentimentModel(model_dir, tokenizer, model, device, positive_label_index(model.config))
