"""客户原声 Quotes: K representative, mutually different quotes; full-text search; CSV/Excel export."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import cache, downloads, frame, quote_view
from components.i18n import current_lang, register, t
from components.safe_text import escape_markdown
from components.sidebar import Filters, current_filters

register(
    {
        "quotes.title": ("客户原声", "Customer quotes"),
        "quotes.scope": ("范围：{what}", "Scope: {what}"),
        "quotes.mode": ("查看", "View"),
        "quotes.mode.typical": ("典型原声", "Typical quotes"),
        "quotes.mode.search": ("全文搜索", "Full-text search"),
        "quotes.aspect": ("指标", "Aspect"),
        "quotes.sub": ("子指标", "Sub-aspect"),
        "quotes.any": ("全部", "All"),
        "quotes.polarity": ("情感", "Polarity"),
        "quotes.polarity.all": ("全部", "All"),
        "quotes.polarity.negative": ("负面", "Negative"),
        "quotes.polarity.positive": ("正面", "Positive"),
        "quotes.polarity.neutral": ("中性", "Neutral"),
        "quotes.k": ("条数 K", "Number K"),
        "quotes.summary": (
            "从 {n:,} 条符合条件的评论中（按时间取最新 {c:,} 条为候选）选出 {k} 条：既有代表性又彼此不同。",
            "{k} quotes picked from {n:,} matching reviews (the newest {c:,} as candidates): representative "
            "and different from each other.",
        ),
        "quotes.none": (
            "没有符合条件的评论（{what}）。换一个指标或情感，或放宽筛选。",
            "No review matches ({what}). Choose another aspect or polarity, or widen the filters.",
        ),
        "quotes.query": ("搜索词（空格分隔，需全部出现）", "Search terms (space-separated, all must occur)"),
        "quotes.query_hint": ("例如：续航 发热", "e.g. battery heat"),
        "quotes.found": (
            "找到 {n:,} 条，显示最新的 {shown:,} 条。", "{n:,} found; the newest {shown:,} shown."
        ),
        "quotes.found_more": (
            "显示最新 {shown:,} 条，可能还有更多。", "The newest {shown:,} shown; there may be more."
        ),
        "quotes.count": ("统计全部匹配数", "Count all matches"),
        "quotes.counted": (
            "共 {n:,} 条匹配，显示最新的 {shown:,} 条。", "{n:,} match in all; the newest {shown:,} shown."
        ),
        "quotes.not_found": ("没有包含“{q}”的反馈。", "No feedback contains “{q}”."),
        "quotes.bad_query": ("搜索词有误：{message}", "Invalid search: {message}"),
        "quotes.csv": ("导出 CSV", "Export CSV"),
        "quotes.xlsx": ("导出 Excel", "Export Excel"),
    }
)

MODES = ("typical", "search")
POLARITIES = ("all", "negative", "positive", "neutral")
SEARCH_LIMIT = 200
KEY_MODE, KEY_ASPECT, KEY_SUB = "quotes_mode", "quotes_aspect", "quotes_sub"
KEY_POLARITY, KEY_K, KEY_QUERY = "quotes_polarity", "quotes_k", "quotes_query"
KEY_COUNT, KEY_COUNTED = "quotes_count", "quotes_counted"  # the count button; the search it counted


def export_buttons(rows: pd.DataFrame, stem: str) -> None:
    flat = quote_view.export_table(rows)
    left, right = st.columns(2)
    with left:
        downloads.csv_download_button(flat, label=t("quotes.csv"), file_name=f"{stem}.csv", key=f"{stem}_csv")
    with right:
        downloads.xlsx_download_button(
            flat, label=t("quotes.xlsx"), file_name=f"{stem}.xlsx", key=f"{stem}_xlsx"
        )


@st.fragment
def typical_section(filters: Filters, what: str) -> None:
    cols = st.columns([2, 2, 3, 2])
    tops = cache.aspect_summary(filters)["aspect"].tolist()
    top = cols[0].selectbox(t("quotes.aspect"), [None, *tops], format_func=lambda a: a or t("quotes.any"),
                            key=KEY_ASPECT)
    subs = cache.aspect_summary(filters, top)["aspect"].tolist() if top else []
    sub = cols[1].selectbox(t("quotes.sub"), [None, *subs], format_func=lambda a: a or t("quotes.any"),
                            key=KEY_SUB, disabled=not subs)
    polarity = cols[2].segmented_control(
        t("quotes.polarity"), POLARITIES, format_func=lambda p: t(f"quotes.polarity.{p}"), default="all",
        required=True, key=KEY_POLARITY,
    ) or "all"
    k = cols[3].number_input(t("quotes.k"), min_value=1, max_value=20, value=5, step=1, key=KEY_K)
    aspect = sub if sub in subs else top
    result = cache.typical_quotes(filters, aspect, None if polarity == "all" else polarity, int(k))
    if result.quotes.empty:
        st.info(t("quotes.none", what=what))
        return
    st.caption(t("quotes.summary", n=result.n_matching, c=result.n_candidates, k=len(result.quotes)))
    quote_view.show_quotes(result.quotes)
    export_buttons(result.quotes, "typical_quotes")


def match_count(filters: Filters, query: str, shown: int) -> None:
    """More matches than shown: say so, and count them all (a full scan, cached) only when asked."""
    asked = (query, filters)
    caption = st.empty()  # above the button
    if st.session_state.get(KEY_COUNTED) != asked and st.button(t("quotes.count"), key=KEY_COUNT):
        st.session_state[KEY_COUNTED] = asked
    if st.session_state.get(KEY_COUNTED) == asked:
        caption.caption(t("quotes.counted", n=cache.count_matches(filters, query), shown=shown))
    else:
        caption.caption(t("quotes.found_more", shown=shown))


@st.fragment
def search_section(filters: Filters) -> None:
    query = st.text_input(t("quotes.query"), placeholder=t("quotes.query_hint"), key=KEY_QUERY)
    if not query.strip():
        return
    try:
        result = cache.search_feedback(filters, query, SEARCH_LIMIT)
    except ValueError as exc:
        st.error(t("quotes.bad_query", message=escape_markdown(exc)))
        return
    if result.rows.empty:
        st.info(t("quotes.not_found", q=escape_markdown(query)))
        return
    if result.n_matching is not None:
        st.caption(t("quotes.found", n=result.n_matching, shown=len(result.rows)))
    else:
        match_count(filters, query, len(result.rows))
    quote_view.show_search_results(result.rows)
    export_buttons(result.rows, "search_results")


def main() -> None:
    frame.require_frame()
    filters = current_filters()
    what = escape_markdown(filters.describe(current_lang()))
    st.title(t("quotes.title"))
    st.caption(t("quotes.scope", what=what))
    mode = st.segmented_control(
        t("quotes.mode"), MODES, format_func=lambda m: t(f"quotes.mode.{m}"), default="typical",
        required=True, key=KEY_MODE,
    ) or "typical"
    if mode == "typical":
        typical_section(filters, what)
    else:
        search_section(filters)


main()
