"""Pieces of the NPS 趋势 page: the table of significant changes and the verbatims of one period/segment.

The verbatims sit in an ``st.fragment``: choosing another period, segment or answer group reruns only them.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from analytics.filters import Filters
from analytics.nps import default_verbatim_row
from components import cache
from components.downloads import csv_download_button
from components.i18n import register, t

register(
    {
        "npsv.changes": ("显著变化", "Significant changes"),
        "npsv.no_changes": (
            "没有哪一期与上一期相比有显著变化（z 检验，p < 0.05）。",
            "No period differs significantly from the one before it (z-test, p < 0.05).",
        ),
        "npsv.col.period": ("时间", "Period"),
        "npsv.col.segment": ("分组", "Segment"),
        "npsv.col.nps": ("NPS", "NPS"),
        "npsv.col.change": ("较上期", "Change"),
        "npsv.col.p": ("p 值", "p value"),
        "npsv.col.n": ("回答数 n", "Answers n"),
        "npsv.verbatims": ("原话", "Verbatims"),
        "npsv.pick_period": ("时间", "Period"),
        "npsv.pick_segment": ("分组", "Segment"),
        "npsv.group": ("回答类型", "Answer group"),
        "npsv.group.detractors": ("贬损者 0–6", "Detractors 0–6"),
        "npsv.group.passives": ("中立者 7–8", "Passives 7–8"),
        "npsv.group.promoters": ("推荐者 9–10", "Promoters 9–10"),
        "npsv.shown": (
            "最新 {shown:,} 条带文字的回答（{period}{segment}）。",
            "The newest {shown:,} answers with text ({period}{segment}).",
        ),
        "npsv.none": ("这一期没有该类型的带文字回答。", "No answers of this group with text in this period."),
        "npsv.download": ("下载原话 CSV", "Download verbatims (CSV)"),
        "npsv.missing": ("（未标注）", "(not set)"),
        "npsv.col.date": ("日期", "Date"),
        "npsv.col.score": ("打分", "Score"),
        "npsv.col.text": ("原话", "Text"),
    }
)

FREQ = {"week": "W-SUN", "month": "M", "quarter": "Q"}
# Split dimension -> Filters field that narrows to one segment (``store`` has none: filtered after the query).
SEGMENT_FILTER = {"brand": "brands", "product": "products", "channel": "channels", "region": "regions"}
GROUPS = ("detractors", "passives", "promoters")
VERBATIM_LIMIT = 200
PERIOD_KEY = "nps_verbatim_period"
CLICK_KEY = "_nps_clicked_period"


def period_label(start: pd.Timestamp, period: str) -> str:
    if period == "quarter":
        return f"{start.year}Q{(start.month - 1) // 3 + 1}"
    if period == "month":
        return f"{start:%Y-%m}"
    return f"{start:%Y-%m-%d}"


def period_bounds(start: pd.Timestamp, period: str) -> tuple[dt.date, dt.date]:
    """First and last day of the period that begins at ``start``."""
    p = pd.Period(start, freq=FREQ[period])
    return p.start_time.date(), p.end_time.date()


def segment_text(segment: object) -> str:
    return t("npsv.missing") if segment is None or pd.isna(segment) else str(segment)


def p_text(p: float) -> str:
    return "< 0.0001" if p < 0.0001 else f"{p:.4f}"


def significant_changes(trend: pd.DataFrame, period: str, split: str | None) -> None:
    """A table of the periods whose change against the previous period is significant."""
    st.markdown(f"**{t('npsv.changes')}**")
    sig = trend[trend["significant"]]
    if sig.empty:
        st.caption(t("npsv.no_changes"))
        return
    table = pd.DataFrame(
        {
            t("npsv.col.period"): [period_label(p, period) for p in sig["period"]],
            t("npsv.col.segment"): [segment_text(s) for s in sig["segment"]],
            t("npsv.col.nps"): sig["nps"].round(1),
            t("npsv.col.change"): sig["change"].round(1),
            t("npsv.col.p"): [p_text(p) for p in sig["p_value"]],
            t("npsv.col.n"): sig["n"],
        }
    )
    if split is None:
        table = table.drop(columns=t("npsv.col.segment"))
    st.dataframe(table, hide_index=True, width="stretch", key="nps_changes_table")


def narrowed(filters: Filters, start: pd.Timestamp, period: str, split: str | None,
             segment: object) -> Filters:
    """``filters`` narrowed to one period and, where a filter field exists, one segment."""
    first, last = period_bounds(start, period)
    if filters.date_from is not None:
        first = max(first, filters.date_from)
    if filters.date_to is not None:
        last = min(last, filters.date_to)
    out = filters.with_(date_from=first, date_to=max(first, last))
    if split in SEGMENT_FILTER and segment is not None and not pd.isna(segment):
        out = out.with_(**{SEGMENT_FILTER[split]: (str(segment),)})
    return out


def follow_click(event: object, trend: pd.DataFrame) -> None:
    """A click on a point of the trend chart picks that period for the verbatims below (once per click)."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    if not points or "x" not in points[0]:
        return
    clicked = pd.Timestamp(points[0]["x"]).isoformat()
    if st.session_state.get(CLICK_KEY) == clicked:
        return  # the same selection, still held by the chart on a later rerun
    st.session_state[CLICK_KEY] = clicked
    if clicked in {p.isoformat() for p in trend["period"]}:
        st.session_state[PERIOD_KEY] = clicked


@st.fragment
def verbatims(filters: Filters, trend: pd.DataFrame, period: str, split: str | None) -> None:
    """Pick a period (default: the newest significant drop) and segment; show that group's verbatims."""
    st.subheader(t("npsv.verbatims"))
    start = trend.loc[default_verbatim_row(trend)]
    periods = sorted({p.isoformat() for p in trend["period"]}, reverse=True)
    left, middle, right = st.columns([1, 1, 2])
    if st.session_state.get(PERIOD_KEY) not in periods:  # first show, or another period/split was chosen
        st.session_state[PERIOD_KEY] = start["period"].isoformat()
    chosen = left.selectbox(
        t("npsv.pick_period"), periods, format_func=lambda p: period_label(pd.Timestamp(p), period),
        key=PERIOD_KEY,
    )
    segment: object = None
    if split is not None:
        rows = trend[trend["period"] == pd.Timestamp(chosen)]
        options = [segment_text(s) for s in rows.sort_values("n", ascending=False)["segment"]]
        wanted = segment_text(start["segment"])
        label = middle.selectbox(t("npsv.pick_segment"), options,
                                 index=options.index(wanted) if wanted in options else 0,
                                 key="nps_verbatim_segment")
        segment = next((s for s in rows["segment"] if segment_text(s) == label), None)
    group = right.segmented_control(
        t("npsv.group"), list(GROUPS), format_func=lambda g: t(f"npsv.group.{g}"), default="detractors",
        required=True, key="nps_verbatim_group",
    ) or "detractors"
    scoped = narrowed(filters, pd.Timestamp(chosen), period, split, segment)
    frame = cache.nps_verbatims(scoped, group, VERBATIM_LIMIT)
    if split is not None and (split not in SEGMENT_FILTER or segment is None):
        column = frame[split]
        frame = frame[column.isna() if segment is None else column == segment]
    if frame.empty:
        st.info(t("npsv.none"))
        return
    seg_note = f"，{segment_text(segment)}" if split is not None else ""
    st.caption(t("npsv.shown", shown=len(frame), period=period_label(pd.Timestamp(chosen), period),
                 segment=seg_note))
    shown = pd.DataFrame(
        {
            t("npsv.col.date"): frame["created_at"],
            t("npsv.col.score"): frame["nps_score"],
            t("npsv.col.segment"): frame[split] if split else frame["brand"],
            t("npsv.col.text"): frame["text"],
        }
    )
    st.dataframe(shown, hide_index=True, width="stretch", key="nps_verbatim_table")
    csv_download_button(frame, label=t("npsv.download"), file_name=f"nps_{group}_{chosen[:10]}.csv",
                        key="nps_verbatim_download")
