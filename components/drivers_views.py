"""Pieces of the 驱动因素 page: the sample note, the quadrant chart and the table of importances."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from analytics.drivers import MIN_MENTIONS, MIN_REVIEWS, KeyDrivers
from components import charts_exec
from components.downloads import csv_download_button
from components.i18n import register, t
from components.safe_text import escape_markdown

register(
    {
        "drv.too_small": (
            "只有 {n:,} 条已标注且带{outcome}的反馈（至少需要 {min:,} 条）：样本太小，重要性估计不可靠，"
            "下图仅供参考。请放宽筛选或导入更多数据。",
            "Only {n:,} annotated reviews with {outcome} (at least {min:,} are needed): the sample is too "
            "small to say which aspects matter; read the chart as a sketch. Widen the filters or import "
            "more.",
        ),
        "drv.some_small": (
            "空心灰点的方面被提及少于 {min} 次，其重要性不可靠：{aspects}。",
            "Hollow grey aspects have fewer than {min} mentions, so their importance is unreliable: "
            "{aspects}.",
        ),
        "drv.summary": (
            "结果变量：{outcome}（{n:,} 条已标注反馈，均值 {mean:.2f}）。重要性为岭回归标准化系数："
            "该方面由差评变好评时结果变化多少（以标准差计）；表现为净情感（好评−差评占比）。"
            "虚线为各方面重要性与表现的中位数，四个象限是相对的。",
            "Outcome: {outcome} ({n:,} annotated reviews, mean {mean:.2f}). Importance is the standardised "
            "ridge coefficient: how far the outcome moves (in SDs) when the aspect goes from negative to "
            "positive; performance is net sentiment (positive minus negative share). The dotted lines are "
            "the median importance and performance of the aspects, so the quadrants are relative.",
        ),
        "drv.outcome.nps": ("NPS（推荐 +100 / 中立 0 / 贬损 −100）", "NPS (promoter +100, detractor −100)"),
        "drv.outcome.rating": ("星级（1–5）", "star rating (1–5)"),
        "drv.col.aspect": ("方面", "Aspect"),
        "drv.col.n": ("提及评论数 n", "Reviews n"),
        "drv.col.performance": ("表现（净情感）", "Performance (net sentiment)"),
        "drv.col.importance": ("重要性", "Importance"),
        "drv.col.std_error": ("标准误", "Std. error"),
        "drv.col.coefficient": ("单位影响", "Effect per unit"),
        "drv.col.weight": ("CEM 权重", "CEM weight"),
        "drv.col.too_small": ("样本太小", "Too small"),
        "drv.download": ("下载驱动因素 CSV", "Download drivers (CSV)"),
    }
)


def sample_notes(drivers: KeyDrivers) -> None:
    """Warn when the whole sample, or some aspects, are too small to say anything."""
    outcome = t(f"drv.outcome.{drivers.outcome}")
    if drivers.too_small:
        st.warning(t("drv.too_small", n=drivers.n, outcome=outcome, min=MIN_REVIEWS))
        return
    small = drivers.table[drivers.table["n"] < MIN_MENTIONS]["aspect"]
    if len(small):
        names = "、".join(escape_markdown(a) for a in small)
        st.caption(t("drv.some_small", min=MIN_MENTIONS, aspects=names))


def quadrant(drivers: KeyDrivers, lang: str) -> None:
    st.plotly_chart(charts_exec.quadrant_figure(drivers.table, lang), key="drivers_quadrant")
    mean = drivers.outcome_mean if not math.isnan(drivers.outcome_mean) else 0.0
    st.caption(t("drv.summary", outcome=t(f"drv.outcome.{drivers.outcome}"), n=drivers.n, mean=mean))


def table(drivers: KeyDrivers) -> None:
    """The numbers behind the chart, and a CSV of them."""
    frame = drivers.table
    shown = pd.DataFrame(
        {
            t("drv.col.aspect"): frame["aspect"],
            t("drv.col.n"): frame["n"],
            t("drv.col.performance"): frame["performance"].round(1),
            t("drv.col.importance"): frame["importance"].round(3),
            t("drv.col.std_error"): frame["std_error"].round(3),
            t("drv.col.coefficient"): frame["coefficient"].round(2),
            t("drv.col.weight"): frame["weight"].round(3),
            t("drv.col.too_small"): frame["too_small"],
        }
    )
    st.dataframe(shown, hide_index=True, width="stretch", key="drivers_table")
    csv_download_button(shown, label=t("drv.download"), file_name=f"key_drivers_{drivers.outcome}.csv",
                        key="drivers_download")
