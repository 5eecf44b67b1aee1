"""总览 Overview: headline counts, NPS with its interval and monthly trend, review volume by channel."""

from __future__ import annotations

import streamlit as st

from components import cache, cards, charts, exec_overview, frame, report_download
from components.cards import OverviewKpis
from components.i18n import current_lang, register, t
from components.safe_text import escape_markdown
from components.sidebar import Filters, current_filters

register(
    {
        "overview.title": ("总览", "Overview"),
        "overview.scope": ("范围：{what}", "Scope: {what}"),
        "overview.no_data": (
            "数据库中还没有任何反馈。请到“数据导入”页面上传评论或调查文件。",
            "The store holds no feedback yet. Upload reviews or a survey on the Import page.",
        ),
        "overview.nothing_selected": (
            "当前筛选没有选中任何数据（{what}）。请放宽左侧的日期、品牌、型号、渠道或数据集筛选，或点击“重置筛选”。",
            "The current filters select no data ({what}). Widen the date, brand, model, channel or dataset "
            "filters on the left, or click “Reset filters”.",
        ),
        "overview.go_import": ("去导入数据", "Go to Import"),
        "overview.nps_section": ("NPS 净推荐值", "Net Promoter Score"),
        "overview.mix": (
            "推荐者 / 中立者 / 贬损者占比（n = {n:,}）", "Promoters / passives / detractors (n = {n:,})"
        ),
        "overview.trend": ("NPS 趋势", "NPS trend"),
        "overview.period": ("时间粒度", "Period"),
        "overview.period.month": ("按月", "Monthly"),
        "overview.period.quarter": ("按季度", "Quarterly"),
        "overview.period.week": ("按周", "Weekly"),
        "overview.trend_note": (
            "阴影为 95% 置信区间（调整 Wald 法），下方柱为每期回答数 n；"
            "空心点表示该期回答少于 30 个，波动主要是噪声；"
            "三角表示与上一期相比变化显著（z 检验，p < 0.05）。",
            "The band is the 95% adjusted-Wald interval; bars below give n per period; hollow points mark "
            "periods with fewer than 30 answers, whose movement is mostly noise; triangles mark a "
            "significant change against the previous period (z-test, p < 0.05).",
        ),
        "overview.no_nps": (
            "所选数据中没有带日期的 NPS 打分（0–10），无法画趋势。导入调查数据或放宽筛选。",
            "The selection has no dated NPS answers (0–10), so there is no trend. Import a survey or widen "
            "the filters.",
        ),
        "overview.volume": ("各渠道评论量", "Review volume by channel"),
        "overview.volume_note": (
            "每期评论条数（仅评论类数据集，不含调查），按渠道堆叠；共 {n:,} 条。",
            "Reviews per period (review datasets only, not surveys), stacked by channel; {n:,} in total.",
        ),
        "overview.no_volume": (
            "所选数据中没有带日期的评论，无法画渠道趋势。",
            "The selection has no dated reviews, so there is no channel trend.",
        ),
    }
)

KEY_PERIOD = "overview_period"
PERIODS = ("month", "quarter", "week")


def empty_state(what: str) -> None:
    """Explain why nothing is shown, and what to do."""
    if not cache.filter_options().datasets:
        st.info(t("overview.no_data"))
        st.page_link("pages/import_data.py", label=t("overview.go_import"), icon=":material/upload:")
    else:
        st.warning(t("overview.nothing_selected", what=what))


def nps_section(kpis: OverviewKpis, filters: Filters, lang: str) -> None:
    st.subheader(t("overview.nps_section"))
    left, middle, right = st.columns([1, 1, 3])
    with left:
        cards.nps_card(kpis.nps)
    with middle:
        cards.rating_card(kpis)
    if kpis.nps.n:
        right.caption(t("overview.mix", n=kpis.nps.n))
        right.plotly_chart(charts.nps_mix_figure(kpis.nps, lang), key="overview_mix")

    st.subheader(t("overview.trend"))
    period = st.segmented_control(
        t("overview.period"), options=list(PERIODS), format_func=lambda p: t(f"overview.period.{p}"),
        default="month", required=True, key=KEY_PERIOD,
    ) or "month"
    trend = cache.nps_trend(filters, period)
    if trend.empty:
        st.info(t("overview.no_nps"))
    else:
        figure = exec_overview.with_significance(charts.nps_trend_figure(trend, lang), filters, period, lang)
        st.plotly_chart(figure, key="overview_nps_trend")
        st.caption(t("overview.trend_note"))


def volume_section(filters: Filters, lang: str) -> None:
    period = st.session_state.get(KEY_PERIOD) or "month"
    st.subheader(t("overview.volume"))
    volume = cache.volume_by_channel(filters, period)
    if volume.empty:
        st.info(t("overview.no_volume"))
        return
    st.plotly_chart(charts.channel_volume_figure(volume, lang), key="overview_volume")
    st.caption(t("overview.volume_note", n=int(volume["n"].sum())))


def main() -> None:
    frame.require_frame()
    filters = current_filters()
    lang = current_lang()
    what = escape_markdown(filters.describe(lang))
    st.title(t("overview.title"))
    st.caption(t("overview.scope", what=what))
    kpis = cache.overview_kpis(filters)
    if kpis.is_empty:
        empty_state(what)
        return
    cards.count_cards(kpis)
    exec_overview.cem_section(filters, lang)
    nps_section(kpis, filters, lang)
    exec_overview.aspects_moved_section(filters, lang)
    volume_section(filters, lang)
    report_download.report_section(filters, lang)


main()
