"""The report's words in Simplified Chinese (default) and English, and number formatting.

``reports/`` must not import Streamlit, so it cannot use ``components.i18n``; its strings live here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

LANGS: tuple[str, ...] = ("zh", "en")

TEXT: Mapping[str, tuple[str, str]] = {
    "title.week": ("听见 CEM 周报", "Tingjian CEM weekly report"),
    "title.month": ("听见 CEM 月报", "Tingjian CEM monthly report"),
    "period.week": ("周", "week"),
    "period.month": ("月", "month"),
    "meta.period": ("报告期", "Period"),
    "meta.previous": ("对比期", "Compared with"),
    "meta.scope": ("范围", "Scope"),
    "meta.generated": ("生成时间（UTC）", "Generated (UTC)"),
    "meta.to": ("至", "to"),
    "kpi.index": ("CEM 体验指数", "CEM index"),
    "kpi.nps": ("NPS 净推荐值", "NPS"),
    "kpi.volume": ("反馈量", "Feedback"),
    "kpi.rating": ("平均星级", "Mean rating"),
    "kpi.interval": ("95% 区间", "95% interval"),
    "kpi.mentions": ("方面提及 n = {n}", "aspect mentions n = {n}"),
    "kpi.answers": ("回答 n = {n}", "answers n = {n}"),
    "kpi.rated": ("评分 n = {n}", "ratings n = {n}"),
    "kpi.split": ("评论 {reviews} · 问卷 {survey}", "reviews {reviews} · survey {survey}"),
    "kpi.change": ("较上期 {change}（p = {p}）", "vs previous {change} (p = {p})"),
    "kpi.change_plain": ("较上期 {change}", "vs previous {change}"),
    "kpi.significant": ("显著", "significant"),
    "kpi.not_significant": ("不显著", "not significant"),
    "kpi.previous": ("上期 {value}（n = {n}）", "previous {value} (n = {n})"),
    "kpi.previous_volume": ("上期 {value}", "previous {value}"),
    "kpi.weighting.drivers": ("权重：驱动因素分析", "weights: key-driver analysis"),
    "kpi.weighting.equal": ("权重：各方面等权", "weights: equal per aspect"),
    "section.trend": ("NPS 走势（近 {k} 期）", "NPS trend (last {k} periods)"),
    "trend.note": (
        "阴影为 95% 置信区间（调整 Wald 法）；空心点表示该期回答少于 30 个。",
        "The band is the 95% adjusted-Wald interval; hollow points mark periods with fewer than 30 answers.",
    ),
    "section.movers": ("变化最大的体验方面", "Top movers"),
    "movers.note": (
        "净情感 = 100 ×（正面 − 负面）/ 提及数；变化为本期减上期，z 检验 p < 0.05 为显著；"
        "带 * 的方面任一期提及少于 30 次。",
        "Net sentiment = 100 × (positive − negative) / mentions; change = this period − previous, "
        "significant when the z-test gives p < 0.05; * marks aspects with fewer than 30 mentions in a "
        "period.",
    ),
    "movers.worse": ("变差最多", "Worsened most"),
    "movers.better": ("改善最多", "Improved most"),
    "section.problems": ("主要问题与典型原声", "Top problems and typical quotes"),
    "problems.note": (
        "按本期负面提及数排序；原声为该方面负面评论中最有代表性且彼此不同的几条。",
        "Ranked by negative mentions in the period; quotes are the most representative, mutually different "
        "negative reviews of the aspect.",
    ),
    "problems.head": (
        "负面提及 {negative} / 提及 {n} · 净情感 {net}（95% 区间 {low} – {high}）",
        "{negative} negative of {n} mentions · net sentiment {net} (95% interval {low} – {high})",
    ),
    "problems.from": ("摘自 {n} 条负面评论", "from {n} negative reviews"),
    "section.products": ("分产品表现", "Per product"),
    "products.note": (
        "方括号内为 95% 区间；n 为样本量（CEM 指数为方面提及数）；CEM 指数与总体使用同一组权重；"
        "主要问题后的 a/b 为负面提及数/提及数。",
        "Brackets give the 95% interval; n is the sample size (aspect mentions for the CEM index); the CEM "
        "index uses the overall weights; a/b after the top problem is negative mentions / mentions.",
    ),
    "section.cases": ("工单", "Cases"),
    "cases.open": ("未结工单", "Open cases"),
    "cases.overdue": ("已超期", "Overdue"),
    "cases.opened": ("本期新建", "Opened in period"),
    "cases.resolved": ("本期解决", "Resolved in period"),
    "cases.none": ("当前范围内没有未结工单。", "No open cases in this scope."),
    "cases.unavailable": ("数据库中没有工单表。", "The store has no cases table."),
    "cases.more": ("仅列出前 {shown} 条，共 {total} 条（完整列表见 XLSX）。",
                   "Showing {shown} of {total} (the XLSX has the full list)."),
    "cases.note": (
        "未结 = 新建或处理中；超期 = 未结且截止时间早于报告生成时间（{now} UTC）。工单不按数据集筛选。",
        "Open = new or in progress; overdue = open with a due time before the report was made ({now} UTC). "
        "Cases are not filtered by dataset.",
    ),
    "section.method": ("口径说明", "Method"),
    "method.period": (
        "报告期为数据中最近一个完整的 ISO 周（周一至周日）或自然月；"
        "指定 --as-of 时为该日之前最近结束的一期。"
        "对比期为其前一周或前一个自然月。",
        "The period is the last complete ISO week (Monday–Sunday) or calendar month in the data; "
        "with --as-of it is the last period that ended before that day. "
        "It is compared with the week or month before it.",
    ),
    "method.intervals": (
        "NPS 与净情感的区间为调整 Wald 95% 区间；星级为正态近似区间；"
        "CEM 指数见 docs/METRICS.md。",
        "NPS and net-sentiment intervals are adjusted-Wald 95% intervals; ratings use a normal "
        "approximation; the CEM index is described in docs/METRICS.md.",
    ),
    "empty": ("本期没有数据。", "No data in this period."),
    "none": ("—", "—"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    # column headers, shared by HTML and XLSX
    "col.aspect": ("方面", "Aspect"),
    "col.n_previous": ("上期提及", "Mentions (previous)"),
    "col.net_previous": ("上期净情感", "Net sentiment (previous)"),
    "col.n_current": ("本期提及", "Mentions"),
    "col.net_current": ("本期净情感", "Net sentiment"),
    "col.change": ("变化", "Change"),
    "col.z": ("z", "z"),
    "col.p_value": ("p 值", "p value"),
    "col.significant": ("显著", "Significant"),
    "col.small_sample": ("样本少", "Small sample"),
    "col.brand": ("品牌", "Brand"),
    "col.product": ("型号", "Model"),
    "col.feedback": ("反馈量", "Feedback"),
    "col.reviews": ("评论", "Reviews"),
    "col.survey_responses": ("问卷", "Survey answers"),
    "col.rating": ("星级", "Rating"),
    "col.rating_low": ("星级下限", "Rating low"),
    "col.rating_high": ("星级上限", "Rating high"),
    "col.rating_n": ("评分数", "Ratings n"),
    "col.nps": ("NPS", "NPS"),
    "col.nps_low": ("NPS 下限", "NPS low"),
    "col.nps_high": ("NPS 上限", "NPS high"),
    "col.nps_n": ("NPS 回答数", "NPS n"),
    "col.sentiment": ("净情感", "Net sentiment"),
    "col.sentiment_low": ("净情感下限", "Net sentiment low"),
    "col.sentiment_high": ("净情感上限", "Net sentiment high"),
    "col.sentiment_n": ("已标注反馈数", "Annotated n"),
    "col.index": ("CEM 指数", "CEM index"),
    "col.index_low": ("指数下限", "Index low"),
    "col.index_high": ("指数上限", "Index high"),
    "col.index_n": ("方面提及数", "Aspect mentions n"),
    "col.top_problem": ("主要问题", "Top problem"),
    "col.top_problem_negative": ("问题负面提及", "Problem negative mentions"),
    "col.top_problem_n": ("问题提及", "Problem mentions"),
    "col.n": ("提及", "Mentions"),
    "col.negative": ("负面提及", "Negative"),
    "col.net": ("净情感", "Net sentiment"),
    "col.low": ("下限", "Low"),
    "col.high": ("上限", "High"),
    "col.case_id": ("工单号", "Case"),
    "col.title": ("标题", "Title"),
    "col.status": ("状态", "Status"),
    "col.priority": ("优先级", "Priority"),
    "col.assignee": ("处理人", "Assignee"),
    "col.region": ("地区", "Region"),
    "col.channel": ("渠道", "Channel"),
    "col.created_at": ("时间", "Created"),
    "col.due_at": ("截止", "Due"),
    "col.feedback_id": ("反馈编号", "Feedback id"),
    "col.overdue": ("超期", "Overdue"),
    "col.text": ("原文", "Text"),
    "col.period": ("期", "Period"),
    "col.promoters": ("推荐者", "Promoters"),
    "col.passives": ("中立者", "Passives"),
    "col.detractors": ("贬损者", "Detractors"),
    "col.metric": ("指标", "Metric"),
    "col.current": ("本期", "This period"),
    "col.previous": ("上期", "Previous"),
    "col.previous_n": ("上期 n", "Previous n"),
    "col.n_matching": ("负面评论数", "Negative reviews"),
    "col.value": ("数值", "Value"),
    "status.new": ("新建", "New"),
    "status.in_progress": ("处理中", "In progress"),
    "status.resolved": ("已解决", "Resolved"),
    "status.closed": ("已关闭", "Closed"),
    "priority.low": ("低", "Low"),
    "priority.medium": ("中", "Medium"),
    "priority.high": ("高", "High"),
    "priority.urgent": ("紧急", "Urgent"),
    "sheet.summary": ("概览", "Summary"),
    "sheet.trend": ("NPS走势", "NPS trend"),
    "sheet.movers": ("方面变化", "Movers"),
    "sheet.problems": ("主要问题", "Problems"),
    "sheet.quotes": ("典型原声", "Quotes"),
    "sheet.products": ("分产品", "Products"),
    "sheet.cases": ("未结工单", "Open cases"),
}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"language {lang!r} is not one of {', '.join(LANGS)}")
    return lang


def tr(key: str, lang: str, **kwargs: object) -> str:
    """The text for ``key`` in ``lang`` (``zh`` or ``en``), formatted with ``kwargs``."""
    zh, en = TEXT[key]
    text = en if lang == "en" else zh
    return text.format(**kwargs) if kwargs else text


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def num(value: object, digits: int = 1, signed: bool = False) -> str:
    """A number for people: ``—`` when missing, thousands separators for counts, a sign when asked."""
    if is_missing(value):
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:+,}" if signed else f"{value:,}"
    number = float(value)  # type: ignore[arg-type]
    return f"{number:+,.{digits}f}" if signed else f"{number:,.{digits}f}"


def p_text(value: object) -> str:
    """A p value: ``< 0.001`` for tiny ones, three decimals otherwise."""
    if is_missing(value):
        return "—"
    number = float(value)  # type: ignore[arg-type]
    return "< 0.001" if number < 0.001 else f"{number:.3f}"
