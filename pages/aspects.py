"""体验指标 Aspects: rows × aspects heatmap (net sentiment, volume), a cell's drill-down, the volume trend."""

from __future__ import annotations

import streamlit as st

from components import cache, charts_aspects, frame, quote_view
from components.i18n import current_lang, register, t
from components.safe_text import escape_markdown
from components.sidebar import Filters, current_filters

register(
    {
        "aspects.title": ("体验指标", "Aspects"),
        "aspects.scope": ("范围：{what}", "Scope: {what}"),
        "aspects.rows": ("行", "Rows"),
        "aspects.rows.product": ("型号", "Models"),
        "aspects.rows.brand": ("品牌", "Brands"),
        "aspects.rows.channel": ("渠道", "Channels"),
        "aspects.level": ("展开指标", "Expand aspect"),
        "aspects.level.top": ("一级指标", "Top-level aspects"),
        "aspects.heatmap": ("指标热力图", "Aspect heatmap"),
        "aspects.heatmap_note": (
            "颜色 = 净情感（正面占比 − 负面占比，−100 至 100）；数字 = 声量（提及次数），* 表示少于 30 次。"
            "点击单元格或用下方选择框查看该单元格的走势与典型原声。",
            "Colour = net sentiment (positive share − negative share, −100 to 100); number = volume "
            "(mentions), * marks fewer than 30. Click a cell, or use the boxes below, to drill down.",
        ),
        "aspects.empty": (
            "所选数据中没有指标提及（{what}）。导入评论后请先在“数据导入”页运行情感与指标分析，或放宽筛选。",
            "The selection has no aspect mentions ({what}). Annotate imported reviews on the Import page, "
            "or widen the filters.",
        ),
        "aspects.volume": ("指标声量走势", "Aspect volume trend"),
        "aspects.drill": ("单元格下钻", "Cell drill-down"),
        "aspects.cell_row": ("行", "Row"),
        "aspects.cell_aspect": ("指标", "Aspect"),
        "aspects.cell_trend": ("{row} × {aspect}：净情感走势", "{row} × {aspect}: net sentiment trend"),
        "aspects.cell_quotes": ("{row} × {aspect}：典型原声", "{row} × {aspect}: typical quotes"),
        "aspects.polarity": ("情感", "Polarity"),
        "aspects.polarity.all": ("全部", "All"),
        "aspects.polarity.negative": ("负面", "Negative"),
        "aspects.polarity.positive": ("正面", "Positive"),
        "aspects.no_trend": ("该单元格没有带日期的提及。", "This cell has no dated mentions."),
        "aspects.no_quotes": ("没有符合条件的原声。", "No quotes match."),
        "aspects.quotes_from": ("从 {n:,} 条相关评论中选出", "picked from {n:,} matching reviews"),
    }
)

ROWS = ("product", "brand", "channel")
KEY_ROWS, KEY_LEVEL = "aspects_rows", "aspects_level"
KEY_CELL_ROW, KEY_CELL_ASPECT = "aspects_cell_row", "aspects_cell_aspect"
KEY_CHART, KEY_POLARITY = "aspects_heatmap", "aspects_polarity"
MAX_ROWS = 40  # heatmap rows shown (largest volume first)


def _on_select() -> None:
    """A clicked cell sets the two drill-down selectboxes (the accessible path drives the same state)."""
    state = st.session_state.get(KEY_CHART)
    points = (state or {}).get("selection", {}).get("points", []) if state else []
    for point in points:
        custom = point.get("customdata")
        if isinstance(custom, list | tuple) and len(custom) >= 2:
            st.session_state[KEY_CELL_ROW], st.session_state[KEY_CELL_ASPECT] = str(custom[0]), str(custom[1])
            return


def _cell_filters(filters: Filters, rows: str, key: tuple) -> Filters:
    if rows == "product":
        return filters.with_(brands=(key[0],), products=(key[1],))
    return filters.with_(**{"brands" if rows == "brand" else "channels": (key[0],)})


@st.fragment
def heatmap_section(filters: Filters, lang: str) -> None:
    controls = st.columns(2)
    rows = controls[0].segmented_control(
        t("aspects.rows"), ROWS, format_func=lambda r: t(f"aspects.rows.{r}"), default="product",
        required=True, key=KEY_ROWS,
    ) or "product"
    tops = cache.aspect_summary(filters)["aspect"].tolist()
    parent = controls[1].selectbox(
        t("aspects.level"), [None, *tops], format_func=lambda a: a or t("aspects.level.top"), key=KEY_LEVEL
    )
    cells = cache.aspect_heatmap(filters, rows, parent)
    keys = charts_aspects.ROW_KEYS[rows]
    labels = charts_aspects.row_keys_by_label(cells, keys, lang, MAX_ROWS)
    cells = charts_aspects.keep_rows(cells, keys, labels, lang)
    aspects = charts_aspects.aspects_by_volume(cells)
    for key, options in ((KEY_CELL_ROW, list(labels)), (KEY_CELL_ASPECT, aspects)):
        if st.session_state.get(key) not in options:
            st.session_state[key] = options[0] if options else None
    selected = (st.session_state[KEY_CELL_ROW], st.session_state[KEY_CELL_ASPECT])
    left, right = st.columns([5, 3])
    with left:
        st.subheader(t("aspects.heatmap"))
        st.plotly_chart(
            charts_aspects.heatmap_figure(cells, keys, lang, selected), key=KEY_CHART, on_select=_on_select,
            selection_mode="points",
        )
        st.caption(t("aspects.heatmap_note"))
    with right:
        st.subheader(t("aspects.volume"))
        volume = cache.aspect_volume_trend(filters, "month", parent)
        if volume.empty:
            st.info(t("aspects.no_trend"))
        else:
            st.plotly_chart(charts_aspects.volume_trend_figure(volume, lang), key="aspects_volume")

    st.subheader(t("aspects.drill"))
    pick = st.columns(3)
    row = pick[0].selectbox(t("aspects.cell_row"), list(labels), key=KEY_CELL_ROW)
    aspect = pick[1].selectbox(t("aspects.cell_aspect"), aspects, key=KEY_CELL_ASPECT)
    polarity = pick[2].segmented_control(
        t("aspects.polarity"), ("all", "negative", "positive"),
        format_func=lambda p: t(f"aspects.polarity.{p}"), default="all", required=True, key=KEY_POLARITY,
    ) or "all"
    if row is None or aspect is None:
        return
    cell = _cell_filters(filters, rows, labels[row])
    names = {"row": escape_markdown(row), "aspect": escape_markdown(aspect)}
    left, right = st.columns([3, 2])
    with left:
        st.markdown(f"**{t('aspects.cell_trend', **names)}**")
        trend = cache.aspect_trend(cell, aspect)
        if trend.empty:
            st.info(t("aspects.no_trend"))
        else:
            st.plotly_chart(charts_aspects.cell_trend_figure(trend, lang), key="aspects_cell_trend")
    with right:
        st.markdown(f"**{t('aspects.cell_quotes', **names)}**")
        quotes = cache.typical_quotes(cell, aspect, None if polarity == "all" else polarity, 5)
        if quotes.quotes.empty:
            st.info(t("aspects.no_quotes"))
        else:
            st.caption(t("aspects.quotes_from", n=quotes.n_matching))
            quote_view.show_quotes(quotes.quotes)


def main() -> None:
    frame.require_frame()
    filters = current_filters()
    lang = current_lang()
    what = escape_markdown(filters.describe(lang))
    st.title(t("aspects.title"))
    st.caption(t("aspects.scope", what=what))
    if cache.aspect_summary(filters).empty:
        st.warning(t("aspects.empty", what=what))
        return
    heatmap_section(filters, lang)


main()
