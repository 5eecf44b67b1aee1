"""Plotly builders for the executive screens: CEM thermometer, index per brand, NPS trend with significance
markers, aspects that moved most, and the key-driver quadrant. Pure functions: data in, figure out.

Honesty rules as in :mod:`components.charts`: axes labelled, intervals drawn, ``n`` on every bar or point,
small samples drawn hollow (or grey) and said so on hover.
"""

from __future__ import annotations

import math
from functools import partial

import pandas as pd
import plotly.graph_objects as go

from analytics.drivers import MIN_MENTIONS
from analytics.stats import SMALL_SAMPLE
from components.charts import (
    DETRACTOR_COLOR,
    FONT,
    NPS_COLOR,
    PASSIVE_COLOR,
    PROMOTER_COLOR,
    add_interval_band,
)
from components.i18n import register, translate

register(
    {
        "cx.index_axis": ("CEM 指数（0–100）", "CEM index (0–100)"),
        "cx.index": ("CEM 指数", "CEM index"),
        "cx.ci": ("95% 置信区间", "95% interval"),
        "cx.previous": ("上一期 {value:.1f}（n = {n:,}）", "previous {value:.1f} (n = {n:,})"),
        "cx.brand_axis": ("品牌", "Brand"),
        "cx.small": ("样本少于 {n}，不确定性大", "fewer than {n}: very uncertain"),
        "cx.period": ("时间", "Period"),
        "cx.nps_axis": ("NPS（−100 至 100）", "NPS (−100 to 100)"),
        "cx.all": ("全部", "All"),
        "cx.missing": ("（未标注）", "(not set)"),
        "cx.sig_up": ("显著上升（p < 0.05）", "significant rise (p < 0.05)"),
        "cx.sig_down": ("显著下降（p < 0.05）", "significant drop (p < 0.05)"),
        "cx.change": ("较上期", "vs previous"),
        "cx.change_axis": ("净情感变化（百分点）", "Change of net sentiment (points)"),
        "cx.aspect_axis": ("指标", "Aspect"),
        "cx.significant": ("显著", "significant"),
        "cx.not_significant": ("不显著", "not significant"),
        "cx.performance_axis": ("表现：净情感（−100 至 100）", "Performance: net sentiment (−100 to 100)"),
        "cx.importance_axis": ("重要性：标准化系数", "Importance: standardised coefficient"),
        "cx.q.fix": ("优先改进（重要·表现差）", "Fix first (important, weak)"),
        "cx.q.keep": ("保持优势（重要·表现好）", "Keep up (important, strong)"),
        "cx.q.watch": ("次要弱项", "Secondary weakness"),
        "cx.q.extra": ("次要优势", "Secondary strength"),
    }
)

GOOD_COLOR = PROMOTER_COLOR
BAD_COLOR = DETRACTOR_COLOR
NEUTRAL_COLOR = PASSIVE_COLOR
# Zones of the thermometer (0–100): weak / middling / good.
ZONES = ((0.0, 40.0, "rgba(217, 83, 79, 0.15)"), (40.0, 60.0, "rgba(240, 173, 78, 0.15)"),
         (60.0, 100.0, "rgba(46, 158, 91, 0.15)"))


def _layout(fig: go.Figure, height: int, hovermode: str = "closest") -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        font={"family": FONT},
        hovermode=hovermode,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


def thermometer_figure(
    index: float, low: float, high: float, n: int, previous: float | None = None,
    previous_n: int = 0, lang: str = "zh",
) -> go.Figure:
    """One vertical bar filled to the index over coloured zones, with its 95% interval and the previous
    value as a dashed line."""
    tr = partial(translate, lang=lang)
    fig = go.Figure()
    for start, end, color in ZONES:
        fig.add_hrect(y0=start, y1=end, fillcolor=color, line_width=0, layer="below")
    fig.add_trace(
        go.Bar(
            x=[tr("cx.index")], y=[index], width=[0.45], marker={"color": NPS_COLOR},
            error_y={"type": "data", "symmetric": False, "array": [high - index], "arrayminus": [index - low],
                     "color": "#333", "thickness": 2, "width": 12},
            text=[f"{index:.1f}"], textposition="inside", insidetextanchor="end",
            textfont={"color": "white", "size": 18}, name=tr("cx.index"),
            hovertemplate=(f"{tr('cx.index')} %{{y:.1f}}<br>{tr('cx.ci')} {low:.1f} … {high:.1f}"
                           f"<br>n = {n:,}<extra></extra>"),
        )
    )
    if previous is not None and not math.isnan(previous):
        label = tr("cx.previous", value=previous, n=previous_n)
        fig.add_hline(y=previous, line={"color": "#555", "dash": "dash", "width": 1.5},
                      annotation_text=label, annotation_position="top right")
    fig.update_yaxes(title_text=tr("cx.index_axis"), range=[0, 105])
    fig.update_layout(showlegend=False)
    return _layout(fig, height=320)


def brand_index_figure(frame: pd.DataFrame, highlight: tuple[str, ...] = (), lang: str = "zh") -> go.Figure:
    """CEM index per brand (``cem_index(by="brand")``) as horizontal bars with 95% intervals and ``n``."""
    tr = partial(translate, lang=lang)
    data = frame.dropna(subset=["index"]).sort_values("index", kind="stable")
    brands = [str(b) if b is not None and not pd.isna(b) else tr("cx.missing") for b in data["brand"]]
    colors = [NPS_COLOR if (not highlight or b in highlight) else NEUTRAL_COLOR for b in brands]
    small = tr("cx.small", n=SMALL_SAMPLE)
    fig = go.Figure(
        go.Bar(
            x=data["index"], y=[f"{b} (n={int(k):,})" for b, k in zip(brands, data["n"], strict=True)],
            orientation="h", marker={"color": colors},
            error_x={"type": "data", "symmetric": False, "array": data["high"] - data["index"],
                     "arrayminus": data["index"] - data["low"], "color": "#333"},
            customdata=list(zip(data["low"], data["high"], data["n"],
                                [small if s else "" for s in data["small_sample"]], strict=True)),
            hovertemplate=("%{x:.1f}<br>" + tr("cx.ci") + " %{customdata[0]:.1f} … %{customdata[1]:.1f}"
                           "<br>n = %{customdata[2]:,}<br>%{customdata[3]}<extra></extra>"),
        )
    )
    fig.update_xaxes(title_text=tr("cx.index_axis"), range=[0, 100])
    fig.update_yaxes(title_text=tr("cx.brand_axis"))
    return _layout(fig, height=max(220, 60 + 36 * len(data)))


def _segment_label(segment: object, tr: partial) -> str:
    if segment is None or (isinstance(segment, float) and math.isnan(segment)):
        return tr("cx.missing")
    return str(segment)


def nps_significance_figure(trend: pd.DataFrame, lang: str = "zh", max_segments: int = 8) -> go.Figure:
    """NPS per period (one line per segment; the interval band when there is one line), with triangle markers
    where the change against the segment's previous period is significant (z-test, ``significant``)."""
    tr = partial(translate, lang=lang)
    fig = go.Figure()
    split = trend["segment"].notna().any()
    totals = trend.groupby("segment", dropna=False, sort=False)["n"].sum().sort_values(ascending=False)
    segments = list(totals.index[:max_segments]) if split else [None]
    small = tr("cx.small", n=SMALL_SAMPLE)
    for segment in segments:
        part = trend[trend["segment"].isna()] if segment is None or pd.isna(segment) else \
            trend[trend["segment"] == segment]
        name = _segment_label(segment, tr) if split else tr("cx.all")
        if not split:
            add_interval_band(fig, part["period"], part["low"], part["high"], name=tr("cx.ci"))
        fig.add_trace(
            go.Scatter(
                x=part["period"], y=part["nps"], mode="lines+markers",
                name=f"{name} (n={int(part['n'].sum()):,})",
                line={"width": 2, **({"color": NPS_COLOR} if not split else {})},
                marker={"size": 7,
                        "symbol": ["circle-open" if s else "circle" for s in part["small_sample"]]},
                customdata=list(zip(part["low"], part["high"], part["n"], part["change"], part["p_value"],
                                    [small if s else "" for s in part["small_sample"]], strict=True)),
                hovertemplate=(name + "<br>NPS %{y:.1f} (" + tr("cx.ci") + " %{customdata[0]:.1f} … "
                               "%{customdata[1]:.1f})<br>n = %{customdata[2]:,}<br>" + tr("cx.change")
                               + " %{customdata[3]:+.1f}, p = %{customdata[4]:.3f}<br>%{customdata[5]}"
                               "<extra></extra>"),
            )
        )
    shown = trend[trend["segment"].isin(segments)] if split else trend
    add_significance_markers(fig, shown, lang)
    fig.add_hline(y=0, line={"color": "#888", "width": 1, "dash": "dot"})
    fig.update_yaxes(title_text=tr("cx.nps_axis"), range=[-100, 100])
    fig.update_xaxes(title_text=tr("cx.period"))
    return _layout(fig, height=460)


def add_significance_markers(
    fig: go.Figure, trend: pd.DataFrame, lang: str = "zh", row: int | None = None, col: int | None = None
) -> go.Figure:
    """Triangles (up green, down red) at the periods whose change against the previous period is
    significant (``significant`` column of :func:`analytics.nps.nps_trend_by`); hover gives change, p, n."""
    tr = partial(translate, lang=lang)
    split = trend["segment"].notna().any()
    for direction, key, symbol, color in (("up", "cx.sig_up", "triangle-up", GOOD_COLOR),
                                          ("down", "cx.sig_down", "triangle-down", BAD_COLOR)):
        moved = trend["change"] > 0 if direction == "up" else trend["change"] < 0
        marks = trend[trend["significant"] & moved]
        fig.add_trace(
            go.Scatter(
                x=marks["period"], y=marks["nps"], mode="markers", name=tr(key),
                marker={"symbol": symbol, "size": 15, "color": color, "line": {"color": "#222", "width": 1}},
                customdata=list(zip([_segment_label(s, tr) if split else tr("cx.all")
                                     for s in marks["segment"]],
                                    marks["change"], marks["p_value"], marks["n"], strict=True)),
                hovertemplate=("%{customdata[0]}: " + tr(key) + "<br>" + tr("cx.change")
                               + " %{customdata[1]:+.1f}, p = %{customdata[2]:.4f}, n = %{customdata[3]:,}"
                               "<extra></extra>"),
                meta=f"significance_{direction}",
            ),
            row=row, col=col,
        )
    return fig


def aspect_changes_figure(changes: pd.DataFrame, top: int = 5, lang: str = "zh") -> go.Figure:
    """The ``top`` aspects that improved most and the ``top`` that worsened most (``aspect_changes``)."""
    tr = partial(translate, lang=lang)
    valid = changes.dropna(subset=["change"])
    improved = valid[valid["change"] > 0].head(top)
    worsened = valid[valid["change"] < 0].tail(top)
    data = pd.concat([worsened, improved]).sort_values("change", kind="stable")
    colors = [(GOOD_COLOR if c > 0 else BAD_COLOR) if s else NEUTRAL_COLOR
              for c, s in zip(data["change"], data["significant"], strict=True)]
    labels = [f"{a} (n={int(p):,}→{int(c):,})"
              for a, p, c in zip(data["aspect"], data["n_previous"], data["n_current"], strict=True)]
    fig = go.Figure(
        go.Bar(
            x=data["change"], y=labels, orientation="h", marker={"color": colors},
            text=[f"{c:+.1f}" for c in data["change"]], textposition="outside",
            customdata=list(zip(data["net_previous"], data["net_current"], data["p_value"],
                                [tr("cx.significant") if s else tr("cx.not_significant")
                                 for s in data["significant"]], strict=True)),
            hovertemplate=("%{customdata[0]:.1f} → %{customdata[1]:.1f} (%{x:+.1f})<br>"
                           "p = %{customdata[2]:.3f}, "
                           "%{customdata[3]}<extra></extra>"),
        )
    )
    fig.add_vline(x=0, line={"color": "#888", "width": 1})
    fig.update_xaxes(title_text=tr("cx.change_axis"))
    fig.update_yaxes(title_text=tr("cx.aspect_axis"))
    return _layout(fig, height=max(240, 70 + 32 * len(data)))


def quadrant_figure(table: pd.DataFrame, lang: str = "zh") -> go.Figure:
    """Importance (y) against performance (x) per aspect; dotted lines at the median importance and median
    performance of the usable aspects split it into quadrants (relative to each other). Marker area grows
    with ``n``; aspects with too few reviews are hollow and grey."""
    tr = partial(translate, lang=lang)
    data = table.dropna(subset=["importance", "performance"])
    usable = data[~data["too_small"]]
    basis = usable if not usable.empty else data
    y_mid = float(basis["importance"].median()) if not basis.empty else 0.0
    x_mid = float(basis["performance"].median()) if not basis.empty else 0.0
    largest = float(data["n"].max()) if not data.empty else 1.0
    fig = go.Figure()
    for too_small, part in ((False, usable), (True, data[data["too_small"]])):
        if part.empty:
            continue
        note = tr("cx.small", n=MIN_MENTIONS) if too_small else ""
        fig.add_trace(
            go.Scatter(
                x=part["performance"], y=part["importance"], mode="markers+text",
                text=[str(a) for a in part["aspect"]], textposition="top center",
                name=note or tr("cx.aspect_axis"),
                showlegend=too_small,
                marker={"size": [8.0 + 22.0 * math.sqrt(k / largest) for k in part["n"]],
                        "color": NEUTRAL_COLOR if too_small else NPS_COLOR, "opacity": 0.8,
                        "symbol": "circle-open" if too_small else "circle", "line": {"width": 1}},
                customdata=list(zip(part["n"], part["std_error"], part["coefficient"], strict=True)),
                hovertemplate=("%{text}<br>" + tr("cx.performance_axis") + ": %{x:.1f}<br>"
                               + tr("cx.importance_axis") + ": %{y:.3f} ± %{customdata[1]:.3f}"
                               "<br>n = %{customdata[0]:,}<br>" + note + "<extra></extra>"),
            )
        )
    fig.add_hline(y=y_mid, line={"color": "#888", "dash": "dot", "width": 1})
    fig.add_vline(x=x_mid, line={"color": "#888", "dash": "dot", "width": 1})
    for key, x, y in (("cx.q.fix", 0, 1), ("cx.q.keep", 1, 1), ("cx.q.watch", 0, 0), ("cx.q.extra", 1, 0)):
        fig.add_annotation(x=x, y=y, xref="paper", yref="paper", text=tr(key), showarrow=False,
                           xanchor="left" if x == 0 else "right", yanchor="bottom",
                           font={"color": "#666"})
    if not data.empty:
        low, high = float(data["performance"].min()), float(data["performance"].max())
        pad = max(5.0, 0.12 * (high - low))
        fig.update_xaxes(range=[max(-100.0, low - pad), min(100.0, high + pad)])
    fig.update_xaxes(title_text=tr("cx.performance_axis"))
    fig.update_yaxes(title_text=tr("cx.importance_axis"))
    fig.update_layout(showlegend=bool(data["too_small"].any()) if not data.empty else False)
    fig = _layout(fig, height=540)
    fig.update_layout(margin={"t": 70, "b": 40}, legend={"y": 1.07})
    return fig
