"""NPS 趋势: NPS by week/month/quarter, split by channel, region, store, model or brand, with markers where a
change against the previous period is significant, and the verbatims of any period one selection away."""

from __future__ import annotations

import streamlit as st

from components import cache, charts_exec, frame, nps_views
from components.i18n import current_lang, register, t
from components.safe_text import escape_markdown
from components.sidebar import current_filters

register(
    {
        "nps.title": ("NPS 趋势", "NPS trend"),
        "nps.scope": ("范围：{what}", "Scope: {what}"),
        "nps.period": ("时间粒度", "Period"),
        "nps.period.week": ("按周", "Weekly"),
        "nps.period.month": ("按月", "Monthly"),
        "nps.period.quarter": ("按季度", "Quarterly"),
        "nps.split": ("拆分", "Split by"),
        "nps.split.none": ("不拆分", "None"),
        "nps.split.channel": ("渠道", "Channel"),
        "nps.split.region": ("地区", "Region"),
        "nps.split.store": ("门店", "Store"),
        "nps.split.product": ("型号", "Model"),
        "nps.split.brand": ("品牌", "Brand"),
        "nps.note": (
            "每点为该期 NPS（悬停查看 95% 调整 Wald 区间、n、较上期变化与 p 值）；空心点表示回答少于 30 个。"
            "▲/▼ 表示与同一分组上一期相比变化显著（调整 NPS 差值的 z 检验，p < 0.05）。"
            "拆分时最多显示回答最多的 8 组。点击图中的点即可在下方查看该期原话。",
            "Each point is the period's NPS (hover for the 95% adjusted-Wald interval, n, change and p); "
            "hollow points have fewer than 30 answers. ▲/▼ mark a significant change against the same "
            "segment's previous period (z-test on the difference of adjusted NPS, p < 0.05). A split shows "
            "the 8 segments with most answers. Click a point to read that period's verbatims below.",
        ),
        "nps.empty": (
            "所选数据中没有带日期的 NPS 打分（0–10）。导入调查数据或放宽左侧筛选。",
            "The selection has no dated NPS answers (0–10). Import a survey or widen the filters.",
        ),
    }
)

PERIODS = ("month", "quarter", "week")
SPLITS = ("none", "channel", "region", "store", "product", "brand")


def main() -> None:
    frame.require_frame()
    filters = current_filters()
    lang = current_lang()
    st.title(t("nps.title"))
    st.caption(t("nps.scope", what=escape_markdown(filters.describe(lang))))
    left, right = st.columns([2, 3])
    period = left.segmented_control(
        t("nps.period"), list(PERIODS), format_func=lambda p: t(f"nps.period.{p}"), default="month",
        required=True, key="nps_period",
    ) or "month"
    split_choice = right.segmented_control(
        t("nps.split"), list(SPLITS), format_func=lambda s: t(f"nps.split.{s}"), default="none",
        required=True, key="nps_split",
    ) or "none"
    split = None if split_choice == "none" else split_choice
    trend = cache.nps_trend_by(filters, period, split)
    if trend.empty:
        st.info(t("nps.empty"))
        return
    event = st.plotly_chart(charts_exec.nps_significance_figure(trend, lang), key="nps_trend_chart",
                            on_select="rerun", selection_mode="points")
    nps_views.follow_click(event, trend)
    st.caption(t("nps.note"))
    nps_views.significant_changes(trend, period, split)
    nps_views.verbatims(filters, trend, period, split)


main()
