"""The report as one self-contained HTML file: inline CSS and SVG, no scripts, no external resources.

Every value that comes from the store (brands, products, aspects, quotes, case titles, assignees …) goes
through :func:`html.escape`, so a review holding ``<script>`` is shown as text. Every figure is printed with
its sample size ``n`` and, where it is an estimate, its 95% interval.
"""

from __future__ import annotations

import math
from html import escape

import pandas as pd

from reports.content import Problem, ReportContent
from reports.svg import change_bar, interval_bar, trend_chart
from reports.text import TEXT, check_lang, is_missing, num, p_text, tr

MOVERS_SHOWN = 5
CASES_SHOWN = 50

CSS = """
body{font-family:"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",system-ui,sans-serif;color:#24292f;
margin:0;background:#f6f8fa}
main{max-width:1080px;margin:0 auto;padding:24px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;
padding-bottom:4px}h3{font-size:15px;margin:16px 0 4px}
.meta{color:#57606a;font-size:13px;margin:2px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}
.card{flex:1 1 220px;border:1px solid #d0d7de;border-radius:8px;padding:12px 14px}
.card .label{color:#57606a;font-size:13px}.card .value{font-size:30px;font-weight:600;margin:2px 0}
.card .detail{font-size:12.5px;color:#57606a;margin:1px 0}
.up{color:#1a7f37}.down{color:#cf222e}.sig{font-weight:600}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #eaeef2;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.ci{color:#57606a;font-size:11.5px;white-space:nowrap}
.note{color:#57606a;font-size:12px;margin:4px 0 0}
blockquote{margin:6px 0;padding:6px 10px;border-left:3px solid #cf222e;background:#fff8f8;font-size:13.5px}
blockquote .src{display:block;color:#57606a;font-size:11.5px;margin-top:2px}
tr.overdue td{background:#fff1f0}
.tick{font-size:10px;fill:#57606a}
"""


def _e(value: object) -> str:
    """Escaped text of a store value; ``—`` when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "—"
    return escape(str(value), quote=True)


def _ci(low: object, high: object, digits: int = 1) -> str:
    if is_missing(low) or is_missing(high):
        return ""
    return f'<span class="ci">[{num(low, digits)}, {num(high, digits)}]</span>'


def _change_class(change: float) -> str:
    if is_missing(change) or change == 0:
        return ""
    return "up" if change > 0 else "down"


def _table(headers: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    """A table from escaped header texts and ready-made (already escaped) cell HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _num_cell(value: object, digits: int = 1, signed: bool = False, extra: str = "") -> str:
    return f'<td class="num">{num(value, digits, signed)}{extra}</td>'


def _card(label: str, value: str, details: list[str]) -> str:
    lines = "".join(f'<div class="detail">{d}</div>' for d in details if d)
    return f'<div class="card"><div class="label">{label}</div><div class="value">{value}</div>{lines}</div>'


def _change_line(change: float, p_value: float, significant: bool, lang: str) -> str:
    if is_missing(change):
        return ""
    mark = tr("kpi.significant" if significant else "kpi.not_significant", lang)
    text = tr("kpi.change", lang, change=num(change, signed=True), p=p_text(p_value))
    cls = f"{_change_class(change)}{' sig' if significant else ''}"
    return f'<span class="{cls}">{escape(text)} · {escape(mark)}</span>'


def _header(c: ReportContent, lang: str) -> str:
    cur, prev = c.current, c.previous
    to = tr("meta.to", lang)
    colon = "：" if lang == "zh" else ": "
    left, right = ("（", "）") if lang == "zh" else (" (", ")")
    title = f"{tr(f'title.{c.kind}', lang)} {cur.label}"
    return (
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">{tr("meta.period", lang)}{colon}{cur.label}{left}{cur.start} {to} {cur.end}'
        f"{right}</p>"
        f'<p class="meta">{tr("meta.previous", lang)}{colon}{prev.label}{left}{prev.start} {to} {prev.end}'
        f"{right}</p>"
        f'<p class="meta">{tr("meta.scope", lang)}{colon}{_e(c.scope.describe(lang))}</p>'
        f'<p class="meta">{tr("meta.generated", lang)}{colon}{c.generated_at:%Y-%m-%d %H:%M}</p>'
    )


def _cards(c: ReportContent, lang: str) -> str:
    ix, nps = c.index, c.nps
    index_card = _card(
        tr("kpi.index", lang),
        num(ix.current),
        [
            f"{tr('kpi.interval', lang)} {_ci(ix.low, ix.high)} · "
            f"{escape(tr('kpi.mentions', lang, n=num(ix.n)))}",
            _change_line(ix.change, ix.p_value, ix.significant, lang),
            escape(tr("kpi.previous", lang, value=num(ix.previous), n=num(ix.previous_n))),
            escape(tr(f"kpi.weighting.{ix.weighting}", lang)),
        ],
    )
    cur, prev = nps.current, nps.previous
    nps_card = _card(
        tr("kpi.nps", lang),
        num(cur.nps),
        [
            f"{tr('kpi.interval', lang)} {_ci(cur.low, cur.high)} · "
            f"{escape(tr('kpi.answers', lang, n=num(cur.n)))}",
            _change_line(cur.nps - prev.nps if prev.n and cur.n else math.nan, nps.change.p_value,
                         nps.change.significant, lang),
            escape(tr("kpi.previous", lang, value=num(prev.nps), n=num(prev.n))),
        ],
    )
    k, kp = c.kpis, c.kpis_previous
    volume_card = _card(
        tr("kpi.volume", lang),
        num(k.feedback),
        [
            escape(tr("kpi.split", lang, reviews=num(k.reviews), survey=num(k.survey_responses))),
            f'<span class="{_change_class(k.feedback - kp.feedback)}">'
            f"{escape(tr('kpi.change_plain', lang, change=num(k.feedback - kp.feedback, signed=True)))}"
            "</span>",
            escape(tr("kpi.previous_volume", lang, value=num(kp.feedback))),
        ],
    )
    rating_card = _card(
        tr("kpi.rating", lang),
        num(k.rating_mean, 2),
        [
            escape(tr("kpi.rated", lang, n=num(k.rated))),
            escape(tr("kpi.previous", lang, value=num(kp.rating_mean, 2), n=num(kp.rated))),
        ],
    )
    return f'<div class="cards">{index_card}{nps_card}{volume_card}{rating_card}</div>'


def _trend(c: ReportContent, lang: str) -> str:
    if c.nps_trend.empty:
        return ""
    label = "%G-W%V" if c.kind == "week" else "%Y-%m"
    return (
        f"<h2>{escape(tr('section.trend', lang, k=len(c.nps_trend)))}</h2>"
        f"{trend_chart(c.nps_trend, label)}"
        f'<p class="note">{escape(tr("trend.note", lang))}</p>'
    )


def _mover_rows(frame: pd.DataFrame, limit: float) -> list[list[str]]:
    rows = []
    for r in frame.itertuples(index=False):
        star = "*" if r.small_sample else ""
        rows.append(
            [
                f"<td>{_e(r.aspect)}{star}</td>",
                _num_cell(r.net_previous, extra=f' <span class="ci">n = {num(int(r.n_previous))}</span>'),
                _num_cell(r.net_current, extra=f' <span class="ci">n = {num(int(r.n_current))}</span>'),
                f'<td class="num {_change_class(r.change)}{" sig" if r.significant else ""}">'
                f"{num(r.change, signed=True)}</td>",
                f"<td>{change_bar(r.change, limit)}</td>",
                f'<td class="num">{p_text(r.p_value)}</td>',
            ]
        )
    return rows


def _movers(c: ReportContent, lang: str) -> str:
    frame = c.movers.dropna(subset=["change"])
    if frame.empty:
        return f"<h2>{tr('section.movers', lang)}</h2><p>{tr('empty', lang)}</p>"
    limit = max(10.0, float(frame["change"].abs().max()))
    worse = frame.sort_values("change", kind="stable").head(MOVERS_SHOWN)
    worse = worse[worse["change"] < 0]
    better = frame.head(MOVERS_SHOWN)
    better = better[better["change"] > 0]
    headers = [tr(f"col.{k}", lang) for k in ("aspect", "net_previous", "net_current", "change")]
    headers += ["", tr("col.p_value", lang)]
    parts = [f"<h2>{tr('section.movers', lang)}</h2>"]
    for key, part in (("movers.worse", worse), ("movers.better", better)):
        if not part.empty:
            parts.append(f"<h3>{tr(key, lang)}</h3>{_table(headers, _mover_rows(part, limit))}")
    parts.append(f'<p class="note">{escape(tr("movers.note", lang))}</p>')
    return "".join(parts)


def _quote(row: object) -> str:
    when = pd.Timestamp(row.created_at).strftime("%Y-%m-%d") if not pd.isna(row.created_at) else "—"
    source = " · ".join(_e(v) for v in (row.brand, row.product, row.channel) if not is_missing(v) and v)
    return (
        f'<blockquote>{_e(row.text)}<span class="src">{source} · {when} · #{_e(row.feedback_id)}</span>'
        "</blockquote>"
    )


def _problem(p: Problem, rank: int, lang: str) -> str:
    head = tr("problems.head", lang, negative=num(p.negative), n=num(p.n), net=num(p.net),
              low=num(p.low), high=num(p.high))
    quotes = "".join(_quote(r) for r in p.quotes.itertuples(index=False))
    source = f'<p class="note">{escape(tr("problems.from", lang, n=num(p.n_matching)))}</p>' if quotes else ""
    return f"<h3>{rank}. {_e(p.aspect)}</h3><p class=\"meta\">{escape(head)}</p>{quotes}{source}"


def _problems(c: ReportContent, lang: str) -> str:
    title = f"<h2>{tr('section.problems', lang)}</h2>"
    if not c.problems:
        return f"{title}<p>{tr('empty', lang)}</p>"
    body = "".join(_problem(p, i, lang) for i, p in enumerate(c.problems, start=1))
    return f'{title}<p class="note">{escape(tr("problems.note", lang))}</p>{body}'


def _products(c: ReportContent, lang: str) -> str:
    title = f"<h2>{tr('section.products', lang)}</h2>"
    if c.products.empty:
        return f"{title}<p>{tr('empty', lang)}</p>"
    headers = [tr(f"col.{k}", lang) for k in ("brand", "product", "feedback", "rating", "nps", "sentiment",
                                                "index")]
    headers += ["", tr("col.top_problem", lang)]
    rows = []
    for r in c.products.itertuples(index=False):
        problem = (
            f"{_e(r.top_problem)} <span class=\"ci\">{num(int(r.top_problem_negative))}/"
            f"{num(int(r.top_problem_n))}</span>" if not is_missing(r.top_problem) else "—"
        )
        rows.append(
            [
                f"<td>{_e(r.brand)}</td>",
                f"<td>{_e(r.product)}</td>",
                _num_cell(int(r.feedback)),
                _num_cell(r.rating, 2, extra=f" {_ci(r.rating_low, r.rating_high, 2)}"
                          f' <span class="ci">n = {num(int(r.rating_n))}</span>'),
                _num_cell(r.nps, extra=f" {_ci(r.nps_low, r.nps_high)}"
                          f' <span class="ci">n = {num(int(r.nps_n))}</span>'),
                _num_cell(r.sentiment, extra=f" {_ci(r.sentiment_low, r.sentiment_high)}"
                          f' <span class="ci">n = {num(int(r.sentiment_n))}</span>'),
                _num_cell(r.index, extra=f" {_ci(r.index_low, r.index_high)}"
                          f' <span class="ci">n = {num(int(r.index_n))}</span>'),
                f"<td>{interval_bar(r.index, r.index_low, r.index_high, 0.0, 100.0)}</td>",
                f"<td>{problem}</td>",
            ]
        )
    return f'{title}{_table(headers, rows)}<p class="note">{escape(tr("products.note", lang))}</p>'


def _code(prefix: str, value: object, lang: str) -> str:
    """A stored code (``in_progress``) in ``lang``; an unknown code is shown escaped as it is."""
    key = f"{prefix}.{value}"
    return escape(tr(key, lang)) if key in TEXT else _e(value)


def _when(value: object) -> str:
    return "—" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def _cases(c: ReportContent, lang: str) -> str:
    title = f"<h2>{tr('section.cases', lang)}</h2>"
    cs = c.cases
    if not cs.available:
        return f"{title}<p>{tr('cases.unavailable', lang)}</p>"
    cards = "".join(
        _card(tr(key, lang), num(value), [])
        for key, value in (("cases.open", cs.open), ("cases.overdue", cs.overdue),
                           ("cases.opened", cs.opened_in_period), ("cases.resolved", cs.resolved_in_period))
    )
    parts = [title, f'<div class="cards">{cards}</div>']
    if cs.table.empty:
        parts.append(f"<p>{tr('cases.none', lang)}</p>")
    else:
        shown = cs.table.head(CASES_SHOWN)
        headers = [tr(f"col.{k}", lang) for k in ("case_id", "title", "status", "priority", "assignee",
                                                    "brand", "product", "due_at", "overdue")]
        rows, classes = [], []
        for r in shown.itertuples(index=False):
            rows.append(
                [
                    f"<td>#{_e(r.case_id)}</td>",
                    f"<td>{_e(r.title)}</td>",
                    f"<td>{_code('status', r.status, lang)}</td>",
                    f"<td>{_code('priority', r.priority, lang)}</td>",
                    f"<td>{_e(r.assignee)}</td>",
                    f"<td>{_e(r.brand)}</td>",
                    f"<td>{_e(r.product)}</td>",
                    f"<td>{_when(r.due_at)}</td>",
                    f"<td>{tr('yes' if r.overdue else 'no', lang)}</td>",
                ]
            )
            classes.append("overdue" if r.overdue else "")
        parts.append(_table(headers, rows, classes))
        if len(cs.table) > len(shown):
            more = tr("cases.more", lang, shown=len(shown), total=cs.open)
            parts.append(f'<p class="note">{escape(more)}</p>')
    note = tr("cases.note", lang, now=f"{c.generated_at:%Y-%m-%d %H:%M}")
    parts.append(f'<p class="note">{escape(note)}</p>')
    return "".join(parts)


def _method(lang: str) -> str:
    return (
        f"<h2>{tr('section.method', lang)}</h2>"
        f'<p class="note">{escape(tr("method.period", lang))}</p>'
        f'<p class="note">{escape(tr("method.intervals", lang))}</p>'
    )


def render_html(content: ReportContent, lang: str = "zh") -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    check_lang(lang)
    title = f"{tr(f'title.{content.kind}', lang)} {content.current.label}"
    html_lang = "zh-CN" if lang == "zh" else "en"
    body = "".join(
        [
            _header(content, lang),
            _cards(content, lang),
            _trend(content, lang),
            _movers(content, lang),
            _problems(content, lang),
            _products(content, lang),
            _cases(content, lang),
            _method(lang),
        ]
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
