"""Show customer quotes safely, with their aspect terms highlighted.

Customer text is never HTML: :func:`highlight_markdown` cuts the *raw* text at the spans
(:mod:`analytics.quotes` computes them on the raw text), escapes every piece as Markdown text, and wraps
only the escaped term pieces in Streamlit's own ``:color-background[…]`` directive. Rendered with
``st.markdown`` (no ``unsafe_allow_html``), a review such as ``<script>`` or ``[点我](http://…)`` shows as
literal characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from analytics.quotes import export_frame
from components import actions_ui
from components.i18n import register, t
from components.safe_text import escape_markdown

register(
    {
        "quote.meta": ("{product} · {channel} · {date}", "{product} · {channel} · {date}"),
        "quote.no_date": ("无日期", "no date"),
        "quote.no_channel": ("未标注渠道", "no channel"),
        "quote.col.created_at": ("日期", "Date"),
        "quote.col.brand": ("品牌", "Brand"),
        "quote.col.product": ("型号", "Model"),
        "quote.col.channel": ("渠道", "Channel"),
        "quote.col.rating": ("星级", "Rating"),
        "quote.col.nps_score": ("NPS 打分", "NPS score"),
        "quote.col.text": ("原文", "Text"),
        "quote.col.terms": ("命中词", "Matched terms"),
        "quote.col.centrality": ("代表性", "Centrality"),
    }
)

POLARITY_COLOURS: Mapping[str | None, str] = {
    "positive": "green",
    "negative": "red",
    "neutral": "gray",
    None: "orange",  # search hits carry no polarity
}
_WHITESPACE = re.compile(r"\s+")
MAX_QUOTE_CHARS = 600  # longer quotes are cut (the export keeps the full text)


def _escape_piece(piece: str) -> str:
    """Escape one piece as Markdown text, keeping single spaces at its edges (escape_markdown trims them)."""
    if not piece:
        return ""
    parts = _WHITESPACE.split(piece)
    return " ".join(escape_markdown(p) if p else "" for p in parts)


def highlight_markdown(text: str, spans: Sequence[Mapping[str, object]], limit: int = MAX_QUOTE_CHARS) -> str:
    """``text`` as escaped Markdown with each span wrapped in a coloured background (overlaps skipped)."""
    text = str(text)
    cut = len(text) > limit
    shown = text[:limit]
    out: list[str] = []
    position = 0
    for span in sorted(spans, key=lambda s: (int(s["start"]), -int(s["end"]))):  # type: ignore[call-overload]
        start, end = int(span["start"]), int(span["end"])  # type: ignore[call-overload]
        if start < position or end <= start or end > len(shown):
            continue  # overlapping, empty, or beyond what is shown
        out.append(_escape_piece(shown[position:start]))
        colour = POLARITY_COLOURS.get(span.get("polarity"), "orange")  # type: ignore[arg-type]
        term = _escape_piece(shown[start:end]).strip()
        out.append(f":{colour}-background[**{term}**]" if term else "")
        position = end
    out.append(_escape_piece(shown[position:]))
    return "".join(out) + (" …" if cut else "")


def _meta(row: pd.Series) -> str:
    created = row.get("created_at")
    date = t("quote.no_date") if created is None or pd.isna(created) else f"{pd.Timestamp(created):%Y-%m-%d}"
    channel = row.get("channel")
    channel_text = t("quote.no_channel") if channel is None or pd.isna(channel) else str(channel)
    names = (row.get("brand"), row.get("product"))
    product = " ".join(str(v) for v in names if v is not None and not pd.isna(v))
    return escape_markdown(t("quote.meta", product=product or "—", channel=channel_text, date=date))


def show_quotes(quotes: pd.DataFrame) -> None:
    """One bordered card per quote: highlighted text, then product · channel · date."""
    for _, row in quotes.iterrows():
        with st.container(border=True):
            st.markdown(highlight_markdown(str(row["text"]), row["spans"]))
            st.caption(_meta(row))
            actions_ui.quote_case_button(row, key="quote")  # 创建工单 (agents and admins)


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns renamed for display (``quote.col.*``); unknown columns keep their names."""
    names = {c: t(f"quote.col.{c}") for c in frame.columns}
    return frame.rename(columns={c: name for c, name in names.items() if name != f"quote.col.{c}"})


def export_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Quotes or search hits flattened for CSV/Excel (spans → matched terms), with display column names."""
    return display_frame(export_frame(rows).drop(columns=["feedback_id", "dataset_id"], errors="ignore"))


SEARCH_SHOWN_AS_CARDS = 10


def show_search_results(rows: pd.DataFrame) -> None:
    """The newest hits as highlighted cards, then every hit in a table (text shown as plain text)."""
    show_quotes(rows.head(SEARCH_SHOWN_AS_CARDS))
    table = export_frame(rows)[["created_at", "brand", "product", "channel", "rating", "nps_score", "text"]]
    st.dataframe(display_frame(table), key="quotes_search_table", hide_index=True)
