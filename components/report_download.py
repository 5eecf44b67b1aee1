"""下载报告: the periodic CEM report (HTML + XLSX) for the current sidebar filters, built on click.

The report is the one ``python cli.py report`` writes (``reports/``). Building it takes a few seconds (the
key-driver weights, typical quotes), so the page only draws a period choice and a button; the bytes are built
when the button is pressed and kept in ``st.session_state`` for the download buttons, as long as the filters,
period and language stay the same. Period: the last complete ISO week / calendar month of the selection's
data, or, when the sidebar's end date is set, the last one that ended on or before that date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from analytics.filters import Filters
from components import cache
from components.auth import current_scope
from components.i18n import register, t
from components.safe_text import escape_markdown
from data.export import ExportError
from reports.content import build_report
from reports.html import render_html
from reports.period import PERIOD_KINDS, ReportError
from reports.xlsx import render_xlsx

register(
    {
        "report.title": ("下载报告", "Download report"),
        "report.period": ("报告周期", "Period"),
        "report.period.week": ("最近完整一周", "Last complete week"),
        "report.period.month": ("最近完整一月", "Last complete month"),
        "report.build": ("生成报告", "Build report"),
        "report.html": ("下载 HTML 报告", "Download HTML report"),
        "report.xlsx": ("下载 Excel 数据表", "Download Excel tables"),
        "report.ready": (
            "{label}（{start} 至 {end}）的报告已生成，范围：{what}。",
            "The report for {label} ({start} to {end}) is ready; scope: {what}.",
        ),
        "report.error": ("无法生成报告：{message}", "Cannot build the report: {message}"),
        "report.note": (
            "报告与命令行 `python cli.py report` 生成的相同：CEM 指数与 NPS（含区间）、变化最大的方面、"
            "主要问题与典型原声、分产品表现、未结与超期工单。使用左侧当前的品牌、型号、渠道、地区与数据集筛选；"
            "设置了结束日期时，报告期为该日期之前最近结束的一期。",
            "The same report as `python cli.py report`: CEM index and NPS with intervals, top movers, top "
            "problems with typical quotes, per product, open and overdue cases. It uses the brand, model, "
            "channel, region and dataset filters on the left; with an end date set, the period is the last "
            "one that ended by that date.",
        ),
    }
)

KEY_PERIOD = "report_period"
KEY_BUILD = "report_build"
KEY_RESULT = "report_result"
KEY_HTML = "report_download_html"
KEY_XLSX = "report_download_xlsx"


@dataclass(frozen=True)
class BuiltReport:
    """The built files and what they were built for (to drop them when the selection changes)."""

    key: tuple[Filters, str, str]
    label: str
    start: dt.date
    end: dt.date
    html: bytes
    xlsx: bytes


def report_request(filters: Filters) -> tuple[Filters, dt.date | None]:
    """The report's scope (the filters without dates) and its ``as_of`` (the day after the end date)."""
    as_of = filters.date_to + dt.timedelta(days=1) if filters.date_to else None
    return filters.with_(date_from=None, date_to=None), as_of


def build(filters: Filters, kind: str, lang: str) -> BuiltReport:
    """Build the report for ``filters`` (raises ReportError/ExportError with a message for people)."""
    scope, as_of = report_request(filters)
    cur = cache.cursor()
    try:
        content = build_report(cur, kind, scope, as_of=as_of)
    finally:
        cur.close()
    return BuiltReport(
        key=(filters, kind, lang),
        label=content.current.label,
        start=content.current.start,
        end=content.current.end,
        html=render_html(content, lang).encode("utf-8"),
        xlsx=render_xlsx(content, lang),
    )


def report_section(filters: Filters, lang: str) -> None:
    """The 下载报告 block: period choice, build button, and the two downloads once built."""
    filters = filters.within(current_scope())
    with st.expander(t("report.title"), icon=":material/summarize:"):
        st.caption(t("report.note"))
        kind = st.segmented_control(
            t("report.period"), options=list(PERIOD_KINDS), format_func=lambda k: t(f"report.period.{k}"),
            default="week", required=True, key=KEY_PERIOD,
        ) or "week"
        key = (filters, kind, lang)
        if st.button(t("report.build"), key=KEY_BUILD, icon=":material/description:"):
            try:
                with st.spinner(t("report.build")):
                    st.session_state[KEY_RESULT] = build(filters, kind, lang)
            except (ReportError, ExportError) as exc:
                st.session_state.pop(KEY_RESULT, None)
                st.warning(t("report.error", message=escape_markdown(exc)))
        built = st.session_state.get(KEY_RESULT)
        if not isinstance(built, BuiltReport) or built.key != key:
            return
        st.success(
            t("report.ready", label=built.label, start=built.start, end=built.end,
              what=escape_markdown(filters.describe(lang)))
        )
        stem = f"tingjian-{kind}-{built.label}"
        left, right = st.columns(2)
        left.download_button(
            t("report.html"), data=built.html, file_name=f"{stem}.html", mime="text/html", key=KEY_HTML,
            on_click="ignore", icon=":material/download:",
        )
        right.download_button(
            t("report.xlsx"), data=built.xlsx, file_name=f"{stem}.xlsx", key=KEY_XLSX, on_click="ignore",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            icon=":material/table_view:",
        )
