"""The report's underlying tables as one XLSX workbook (one sheet per table), written safely.

Customer text (quotes, case titles) may look like a spreadsheet formula;
:func:`data.export.xlsx_workbook_bytes` neutralises it (explicit string cells, quote prefix), as for every
other export.
"""

from __future__ import annotations

import math

import pandas as pd

from data.export import xlsx_workbook_bytes
from reports.content import ReportContent
from reports.text import TEXT, check_lang, tr

SUMMARY_COLUMNS = [
    "metric", "current", "low", "high", "n", "previous", "previous_n", "change", "p_value", "significant",
]


def summary_table(c: ReportContent, lang: str) -> pd.DataFrame:
    """Headline figures, one row each: current value with interval and n, previous value, change and test."""
    ix, nps, k, kp, cs = c.index, c.nps, c.kpis, c.kpis_previous, c.cases
    nan = math.nan
    rows = [
        [tr("kpi.index", lang), ix.current, ix.low, ix.high, ix.n, ix.previous, ix.previous_n, ix.change,
         ix.p_value, ix.significant],
        [tr("kpi.nps", lang), nps.current.nps, nps.current.low, nps.current.high, nps.current.n,
         nps.previous.nps, nps.previous.n, nps.current.nps - nps.previous.nps, nps.change.p_value,
         nps.change.significant],
        [tr("kpi.volume", lang), k.feedback, nan, nan, k.feedback, kp.feedback, kp.feedback,
         k.feedback - kp.feedback, nan, None],
        [tr("col.reviews", lang), k.reviews, nan, nan, k.reviews, kp.reviews, kp.reviews,
         k.reviews - kp.reviews, nan, None],
        [tr("col.survey_responses", lang), k.survey_responses, nan, nan, k.survey_responses,
         kp.survey_responses, kp.survey_responses, k.survey_responses - kp.survey_responses, nan, None],
        [tr("kpi.rating", lang), k.rating_mean, nan, nan, k.rated, kp.rating_mean, kp.rated,
         k.rating_mean - kp.rating_mean, nan, None],
        [tr("cases.open", lang), cs.open, nan, nan, nan, nan, nan, nan, nan, None],
        [tr("cases.overdue", lang), cs.overdue, nan, nan, nan, nan, nan, nan, nan, None],
        [tr("cases.opened", lang), cs.opened_in_period, nan, nan, nan, nan, nan, nan, nan, None],
        [tr("cases.resolved", lang), cs.resolved_in_period, nan, nan, nan, nan, nan, nan, nan, None],
    ]
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    period = pd.DataFrame(
        [
            [tr("meta.period", lang), f"{c.current.label} ({c.current.start} – {c.current.end})"],
            [tr("meta.previous", lang), f"{c.previous.label} ({c.previous.start} – {c.previous.end})"],
            [tr("meta.scope", lang), c.scope.describe(lang)],
            [tr("meta.generated", lang), f"{c.generated_at:%Y-%m-%d %H:%M}"],
        ],
        columns=["metric", "current"],
    )
    out = pd.concat([period.astype(object), frame.astype(object)], ignore_index=True)
    return _localise(out, lang)


def _localise(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Column names in ``lang`` (``col.<name>`` where known, else the name itself)."""
    names = {c: tr(f"col.{c}", lang) if f"col.{c}" in TEXT else str(c) for c in frame.columns}
    return frame.rename(columns=names)


def _code(prefix: str, value: object, lang: str) -> object:
    """A stored code (``in_progress``, ``urgent``) in ``lang``; unknown codes stay as they are."""
    key = f"{prefix}.{value}"
    return tr(key, lang) if key in TEXT else value


def report_tables(c: ReportContent, lang: str = "zh") -> dict[str, pd.DataFrame]:
    """Every table of the report, keyed by its sheet name in ``lang``."""
    check_lang(lang)
    problems = pd.DataFrame(
        [[p.aspect, p.n, p.negative, p.net, p.low, p.high, p.n_matching] for p in c.problems],
        columns=["aspect", "n", "negative", "net", "low", "high", "n_matching"],
    )
    quote_parts = [p.quotes.assign(aspect=p.aspect) for p in c.problems if not p.quotes.empty]
    quote_columns = ["aspect", "feedback_id", "created_at", "brand", "product", "channel", "text"]
    quotes = pd.concat(quote_parts, ignore_index=True) if quote_parts else pd.DataFrame(columns=quote_columns)
    quotes = quotes[quote_columns]
    cases = c.cases.table.copy()
    if not cases.empty:
        cases["status"] = [_code("status", s, lang) for s in cases["status"]]
        cases["priority"] = [_code("priority", p, lang) for p in cases["priority"]]
    trend = c.nps_trend.copy()
    return {
        tr("sheet.summary", lang): summary_table(c, lang),
        tr("sheet.trend", lang): _localise(trend, lang),
        tr("sheet.movers", lang): _localise(c.movers, lang),
        tr("sheet.problems", lang): _localise(problems, lang),
        tr("sheet.quotes", lang): _localise(quotes, lang),
        tr("sheet.products", lang): _localise(c.products, lang),
        tr("sheet.cases", lang): _localise(cases, lang),
    }


def render_xlsx(content: ReportContent, lang: str = "zh") -> bytes:
    """The workbook bytes: one sheet per table of :func:`report_tables`."""
    return xlsx_workbook_bytes(report_tables(content, lang))
