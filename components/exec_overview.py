"""The Overview's executive sections: CEM index thermometer (with change and competitor brands) and the
aspects that improved and worsened most. Reads through :mod:`components.cache`, draws with
:mod:`components.charts_exec`.

The index weights come from one key-driver fit on the market around the selection (brand and model filters
cleared, other filters kept), so the selection, the previous period and every competitor brand are measured
on the same scale.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from analytics.filters import Filters
from components import cache, charts_exec
from components.i18n import register, t

register(
    {
        "cx.cem_section": ("CEM 客户体验指数", "CEM customer-experience index"),
        "cx.cem_caption": (
            "指数 {index:.1f}（95% 区间 {low:.1f}–{high:.1f}，n = {n:,} 条方面提及）。",
            "Index {index:.1f} (95% interval {low:.1f}–{high:.1f}, n = {n:,} aspect mentions).",
        ),
        "cx.cem_recent": ("近期 CEM 指数（{cfrom} 至 {cto}）", "Recent CEM index ({cfrom} to {cto})"),
        "cx.cem_change": (
            "本期 {current:.1f}（n = {cn:,}），上一期（{pfrom} 至 {pto}）{previous:.1f}（n = {pn:,}）："
            "{change:+.1f} 分，p = {p:.3f}，{verdict}。",
            "This period {current:.1f} (n = {cn:,}); previous period ({pfrom} to {pto}) {previous:.1f} "
            "(n = {pn:,}): {change:+.1f} points, p = {p:.3f}, {verdict}.",
        ),
        "cx.cem_no_change": ("上一期没有可比数据。", "No comparable data in the previous period."),
        "cx.sig_yes": ("变化显著", "a significant change"),
        "cx.sig_no": ("变化不显著", "not a significant change"),
        "cx.weights_drivers": (
            "权重来自关键驱动因素分析（结果变量：{outcome}，{n:,} 条评论）。",
            "Weights from key-driver importance (outcome: {outcome}, {n:,} reviews).",
        ),
        "cx.weights_equal": (
            "数据不足以估计驱动因素，各方面等权（{n:,} 条评论）。",
            "Too little data to estimate drivers: aspects weighted equally ({n:,} reviews).",
        ),
        "cx.brands": ("各品牌 CEM 指数（同一权重）", "CEM index per brand (same weights)"),
        "cx.brands_note": (
            "品牌对比忽略左侧品牌/型号筛选，其余筛选保留；所选品牌为蓝色。",
            "The brand comparison ignores the brand/model filters and keeps the others; selected brands "
            "in blue.",
        ),
        "cx.no_cem": (
            "所选数据还没有方面情感标注，无法计算 CEM 指数。请在“数据导入”页对数据集运行 NLP 标注。",
            "The selection has no aspect-sentiment annotations yet, so there is no CEM index. Annotate the "
            "datasets on the Import page.",
        ),
        "cx.moved": ("变化最大的方面", "Aspects that moved most"),
        "cx.moved_note": (
            "当前时间窗与等长的上一时间窗相比，净情感变化最大的 5 个上升和 5 个下降方面；"
            "标签中 n 为上期→本期提及数，灰色表示变化不显著（p ≥ 0.05）。",
            "The five aspects whose net sentiment rose most and the five that fell most, current window "
            "against the previous one of equal length; n in the labels is previous→current mentions; grey "
            "bars are not significant (p ≥ 0.05).",
        ),
        "cx.no_moved": (
            "没有两个时间窗都有提及的方面，无法比较变化。",
            "No aspect has mentions in both windows, so there is no change to show.",
        ),
        "cx.outcome.nps": ("NPS", "NPS"),
        "cx.outcome.rating": ("星级", "rating"),
    }
)


def market(filters: Filters) -> Filters:
    """The selection with the brand and model filters cleared: the data the brands are compared on."""
    return filters.with_(brands=(), products=())


def cem_section(filters: Filters, lang: str) -> None:
    """Thermometer of the selection's index with interval and change, and the index of every brand."""
    st.subheader(t("cx.cem_section"))
    weights = cache.cem_weights(market(filters))
    headline = cache.cem_index(filters, None, weights).iloc[0]
    if int(headline["n"]) == 0 or math.isnan(float(headline["index"])):
        st.info(t("cx.no_cem"))
        return
    change = cache.cem_index_change(filters, weights)
    left, right = st.columns([2, 3])
    with left:
        # The dashed previous-period line only when the selection itself is the compared window.
        same_window = change is not None and filters.date_from is not None and filters.date_to is not None
        previous = change.previous if same_window and change is not None else None
        previous_n = change.previous_n if same_window and change is not None else 0
        st.plotly_chart(
            charts_exec.thermometer_figure(float(headline["index"]), float(headline["low"]),
                                           float(headline["high"]), int(headline["n"]), previous, previous_n,
                                           lang),
            key="overview_cem_thermometer",
        )
        st.caption(t("cx.cem_caption", index=headline["index"], low=headline["low"], high=headline["high"],
                     n=int(headline["n"])))
        if change is not None and not math.isnan(change.change):
            verdict = t("cx.sig_yes") if change.significant else t("cx.sig_no")
            st.metric(t("cx.cem_recent", cfrom=change.windows[0], cto=change.windows[1]),
                      f"{change.current:.1f}", delta=f"{change.change:+.1f}",
                      delta_color="normal" if change.significant else "off")
            st.caption(t("cx.cem_change", current=change.current, cn=change.current_n,
                         previous=change.previous, pfrom=change.windows[2], pto=change.windows[3],
                         pn=change.previous_n, change=change.change, p=change.p_value, verdict=verdict))
        else:
            st.caption(t("cx.cem_no_change"))
        if weights.method == "drivers":
            st.caption(t("cx.weights_drivers", outcome=t(f"cx.outcome.{weights.outcome}"), n=weights.n))
        else:
            st.caption(t("cx.weights_equal", n=weights.n))
    with right:
        brands = cache.cem_index(market(filters), "brand", weights)
        st.markdown(f"**{t('cx.brands')}**")
        st.plotly_chart(charts_exec.brand_index_figure(brands, filters.brands, lang),
                        key="overview_cem_brands")
        st.caption(t("cx.brands_note"))


def aspects_moved_section(filters: Filters, lang: str) -> None:
    """The five aspects that improved and the five that worsened most against the previous window."""
    changes = cache.aspect_changes(filters)
    if changes.empty:
        return  # no annotations: the CEM section already said so
    st.subheader(t("cx.moved"))
    if changes["change"].dropna().eq(0).all():
        st.info(t("cx.no_moved"))
        return
    st.plotly_chart(charts_exec.aspect_changes_figure(changes, 5, lang), key="overview_aspects_moved")
    st.caption(t("cx.moved_note"))


def with_significance(fig: go.Figure, filters: Filters, period: str, lang: str) -> go.Figure:
    """Add the significant-change markers of :func:`analytics.nps.nps_trend_by` to the Overview trend."""
    trend = cache.nps_trend_by(filters, period)
    return charts_exec.add_significance_markers(fig, trend, lang, row=1, col=1)
