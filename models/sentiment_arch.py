"""Tingjian's own sentiment architecture as transformers classes: a character n-gram TF-IDF linear model,
optionally boosted by a small character CNN, computed entirely from BERT-style ``input_ids``.

The linear member reproduces a sublinear TF-IDF + L2-normalised logistic regression over character
n-grams (1..``ngram_max``) of the token ids: every n-gram is packed into one int64 key, looked up in a sorted
key table (``torch.searchsorted``), counted per text, weighted by ``(1 + log count) * idf`` and L2-normalised.
The CNN member (``cnn_channels > 0``) adds a residual logit. Output: two-class logits whose softmax is
``[P(negative), P(positive)]``.

Importing this module imports torch and transformers; ``models.sentiment`` imports it lazily.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import SequenceClassifierOutput

MODEL_TYPE = "tingjian_ngram"


class TingjianSentimentConfig(PretrainedConfig):
    """Sizes of the n-gram table and of the optional CNN member."""

    model_type = MODEL_TYPE

    def __init__(
        self,
        vocab_size: int = 8000,
        ngram_max: int = 4,
        key_base: int = 8192,
        num_features: int = 1,
        cnn_embed_dim: int = 0,
        cnn_channels: int = 0,
        cnn_widths: tuple[int, ...] | list[int] = (2, 3, 4),
        pad_token_id: int = 0,
        **kwargs: object,
    ) -> None:
        kwargs.setdefault("id2label", {0: "negative", 1: "positive"})
        kwargs.setdefault("label2id", {"negative": 0, "positive": 1})
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if key_base <= vocab_size or key_base**ngram_max >= 2**62:
            raise ValueError(
                f"key_base={key_base} must exceed vocab_size={vocab_size} "
                "and key_base**ngram_max must fit in int64"
            )
        self.vocab_size = vocab_size
        self.ngram_max = ngram_max
        self.key_base = key_base
        self.num_features = num_features
        self.cnn_embed_dim = cnn_embed_dim
        self.cnn_channels = cnn_channels
        self.cnn_widths = list(cnn_widths)
        self.pad_token_id = pad_token_id


def ngram_keys(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, ngram_max: int, key_base: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row index and int64 key of every character n-gram (n = 1..ngram_max) inside the attention mask.

    Key of the n-gram (t0, .., t{n-1}) = sum_k (t_k + 1) * key_base**k, unique for every n-gram of any length.
    """
    ids = input_ids.long() + 1
    mask = attention_mask.bool()
    batch, length = ids.shape
    rows = torch.arange(batch, device=ids.device).unsqueeze(1).expand(batch, length)
    all_rows: list[torch.Tensor] = []
    all_keys: list[torch.Tensor] = []
    key = torch.zeros_like(ids)
    valid = torch.ones_like(mask)
    for n in range(1, min(ngram_max, length) + 1):
        span = length - n + 1
        key = key[:, :span] + ids[:, n - 1 :] * (key_base ** (n - 1))
        valid = valid[:, :span] & mask[:, n - 1 :]
        all_keys.append(key[valid])
        all_rows.append(rows[:, :span][valid])
    return torch.cat(all_rows), torch.cat(all_keys)


def dense_ngram_keys(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, ngram_max: int, key_base: int
) -> torch.Tensor:
    """Keys of :func:`ngram_keys` as one (batch, positions) tensor; n-grams outside the mask get key -1."""
    ids = input_ids.long() + 1
    mask = attention_mask.bool()
    length = ids.shape[1]
    key = ids
    valid = mask
    parts = [torch.where(valid, key, -1)]
    for n in range(2, min(ngram_max, length) + 1):
        span = length - n + 1
        key = key[:, :span] + ids[:, n - 1 :] * (key_base ** (n - 1))
        valid = valid[:, :span] & mask[:, n - 1 :]
        parts.append(torch.where(valid, key, -1))
    return torch.cat(parts, dim=1)


class TingjianSentimentForSequenceClassification(PreTrainedModel):
    """Char n-gram TF-IDF logistic regression (+ optional residual char-CNN) over BERT-style input ids."""

    config_class = TingjianSentimentConfig
    base_model_prefix = "tingjian"
    main_input_name = "input_ids"

    def __init__(self, config: TingjianSentimentConfig) -> None:
        super().__init__(config)
        features = config.num_features
        self.register_buffer("feature_keys", torch.zeros(features, dtype=torch.int64))
        self.register_buffer("feature_idf", torch.ones(features, dtype=torch.float32))
        self.feature_weight = nn.Parameter(torch.zeros(features, dtype=torch.float32))
        self.linear_bias = nn.Parameter(torch.zeros(1, dtype=torch.float32))
        if config.cnn_channels > 0:
            self.char_embed = nn.Embedding(
                config.vocab_size, config.cnn_embed_dim, padding_idx=config.pad_token_id
            )
            self.convs = nn.ModuleList(
                nn.Conv1d(config.cnn_embed_dim, config.cnn_channels, width, padding=width - 1)
                for width in config.cnn_widths
            )
            self.cnn_out = nn.Linear(config.cnn_channels * len(config.cnn_widths), 1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            nn.init.normal_(module.weight, std=0.05)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.1)

    def linear_logit(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The TF-IDF logistic-regression logit of every row (float32), with dense tensor operations only.

        Per row, the matched feature indices are sorted; a run of ``c`` equal indices is one feature with
        count ``c``. Occurrence ``k`` of a run adds ``log k - log(k - 1)`` (the first adds 1), so the sum over
        the run is the sublinear term ``1 + log c``; the L2 norm uses the value at each run's end.
        """
        table = self.feature_keys
        sentinel = table.numel()
        keys = dense_ngram_keys(input_ids, attention_mask, self.config.ngram_max, self.config.key_base)
        position = torch.searchsorted(table, keys).clamp_(max=sentinel - 1)
        feature = torch.where(table[position] == keys, position, sentinel)
        feature, _ = feature.sort(dim=1)
        batch, width = feature.shape
        index = torch.arange(width, device=feature.device).expand(batch, width)
        start = torch.ones_like(feature, dtype=torch.bool)
        start[:, 1:] = feature[:, 1:] != feature[:, :-1]
        end = torch.ones_like(feature, dtype=torch.bool)
        end[:, :-1] = start[:, 1:]
        rank = (index - torch.where(start, index, 0).cummax(dim=1).values + 1).float()
        increment = torch.where(start, 1.0, torch.log(rank) - torch.log((rank - 1).clamp_min(1.0)))
        matched = feature < sentinel
        lookup = feature.clamp(max=sentinel - 1)
        idf = torch.where(matched, self.feature_idf[lookup].float(), 0.0)
        weight = self.feature_weight[lookup].float()
        score = (increment * idf * weight).sum(dim=1)
        tfidf_at_end = torch.where(end, (1.0 + torch.log(rank)) * idf, 0.0)
        norm = (tfidf_at_end * tfidf_at_end).sum(dim=1).clamp_min(1e-12).sqrt()
        return score / norm + self.linear_bias.float()

    def cnn_logit(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The residual logit of the char-CNN member (zero when the config has none)."""
        if self.config.cnn_channels <= 0:
            return torch.zeros(input_ids.shape[0], device=input_ids.device)
        mask = attention_mask.unsqueeze(1).to(self.char_embed.weight.dtype)
        embedded = self.char_embed(input_ids).transpose(1, 2) * mask
        pooled = []
        for conv in self.convs:
            hidden = torch.relu(conv(embedded))[:, :, : input_ids.shape[1]]
            hidden = hidden.masked_fill(mask == 0, 0.0)
            pooled.append(hidden.amax(dim=2))
        return self.cnn_out(torch.cat(pooled, dim=1)).squeeze(1).float()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **_: object,
    ) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        z = self.linear_logit(input_ids, attention_mask) + self.cnn_logit(input_ids, attention_mask)
        logits = torch.stack([-z / 2, z / 2], dim=1)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels.long())
        return SequenceClassifierOutput(loss=loss, logits=logits)


def register_auto_classes() -> None:
    """Make ``AutoConfig`` / ``AutoModelForSequenceClassification.from_pretrained`` know this architecture."""
    with contextlib.suppress(ValueError):  # already registered in this process
        AutoConfig.register(MODEL_TYPE, TingjianSentimentConfig)
    with contextlib.suppress(ValueError):
        AutoModelForSequenceClassification.register(
            TingjianSentimentConfig, TingjianSentimentForSequenceClassification
        )


register_auto_classes()
