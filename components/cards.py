"""KPI cards: headline counts and NPS with its interval and sample size."""

from __future__ import annotations

import math

import streamlit as st

from analytics.metrics import NpsInterval
from analytics.overview import OverviewKpis
from components.i18n import register, t

register(
    {
        "kpi.feedback": ("反馈总数", "Feedback"),
        "kpi.reviews": ("评论", "Reviews"),
        "kpi.surveys": ("调查回答", "Survey answers"),
        "kpi.datasets": ("数据集", "Datasets"),
        "kpi.brands": ("品牌", "Brands"),
        "kpi.products": ("型号", "Models"),
        "kpi.span": ("时间跨度", "Date span"),
        "kpi.span_none": ("无日期", "no dates"),
        "kpi.undated": ("其中 {n:,} 条没有日期", "{n:,} rows have no date"),
        "kpi.nps": ("NPS", "NPS"),
        "kpi.nps_help": (
            "净推荐值 = 推荐者(9–10)占比 − 贬损者(0–6)占比，范围 −100 至 100。"
            "区间为调整 Wald 法 95% 置信区间。",
            "Net Promoter Score = share of promoters (9–10) − share of detractors (0–6), −100 to 100. "
            "The interval is the adjusted-Wald 95% confidence interval.",
        ),
        "kpi.nps_ci": (
            "95% 区间 {low:+.1f} 至 {high:+.1f}，n = {n:,}",
            "95% interval {low:+.1f} to {high:+.1f}, n = {n:,}",
        ),
        "kpi.nps_none": ("所选数据中没有 NPS 打分（0–10）", "No NPS answers (0–10) in the selection"),
        "kpi.rating": ("平均星级", "Mean rating"),
        "kpi.rating_n": ("1–5 星，n = {n:,}", "1–5 stars, n = {n:,}"),
        "kpi.rating_none": ("所选数据中没有星级", "No star ratings in the selection"),
    }
)

DASH = "—"


def count_cards(kpis: OverviewKpis) -> None:
    """One row of counts: feedback, reviews, survey answers, datasets, brands/models, date span."""
    cols = st.columns(6)
    cols[0].metric(t("kpi.feedback"), f"{kpis.feedback:,}")
    cols[1].metric(t("kpi.reviews"), f"{kpis.reviews:,}")
    cols[2].metric(t("kpi.surveys"), f"{kpis.survey_responses:,}")
    cols[3].metric(t("kpi.datasets"), f"{kpis.datasets:,}")
    cols[4].metric(t("kpi.brands"), f"{kpis.brands:,}", help=f"{t('kpi.products')}: {kpis.products:,}")
    if kpis.date_min and kpis.date_max:
        span = f"{kpis.date_min:%Y-%m} – {kpis.date_max:%Y-%m}"
        cols[5].metric(t("kpi.span"), span, help=f"{kpis.date_min.isoformat()} – {kpis.date_max.isoformat()}")
    else:
        cols[5].metric(t("kpi.span"), t("kpi.span_none"))
    if kpis.undated:
        cols[5].caption(t("kpi.undated", n=kpis.undated))


def nps_card(nps: NpsInterval) -> None:
    """NPS as a metric with its 95% interval and n underneath (a dash when nobody answered)."""
    if nps.n == 0 or math.isnan(nps.nps):
        st.metric(t("kpi.nps"), DASH, help=t("kpi.nps_help"))
        st.caption(t("kpi.nps_none"))
        return
    st.metric(t("kpi.nps"), f"{nps.nps:+.1f}", help=t("kpi.nps_help"))
    st.caption(t("kpi.nps_ci", low=nps.low, high=nps.high, n=nps.n))


def rating_card(kpis: OverviewKpis) -> None:
    """Mean star rating with its n."""
    if kpis.rated == 0 or math.isnan(kpis.rating_mean):
        st.metric(t("kpi.rating"), DASH)
        st.caption(t("kpi.rating_none"))
        return
    st.metric(t("kpi.rating"), f"{kpis.rating_mean:.2f}")
    st.caption(t("kpi.rating_n", n=kpis.rated))
