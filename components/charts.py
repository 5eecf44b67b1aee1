"""Plotly chart builders. Pure functions: data in, figure out (the page calls ``st.plotly_chart``).

Honesty rules kept here: axes are labelled, every NPS point shows its 95% interval and its ``n``, periods
with few answers are drawn hollow and say so on hover, and a missing channel is labelled, not dropped.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics.metrics import NpsInterval
from analytics.overview import SMALL_SAMPLE
from components.i18n import register, translate

register(
    {
        "chart.period": ("时间", "Period"),
        "chart.nps_axis": ("NPS（−100 至 100）", "NPS (−100 to 100)"),
        "chart.n_axis": ("回答数 n", "Answers n"),
        "chart.nps": ("NPS", "NPS"),
        "chart.ci": ("95% 置信区间", "95% interval"),
        "chart.small": ("样本少于 {n}，不确定性大", "fewer than {n} answers: very uncertain"),
        "chart.reviews_axis": ("评论数", "Reviews"),
        "chart.channel": ("渠道", "Channel"),
        "chart.no_channel": ("（未标注渠道）", "(no channel)"),
        "chart.share_axis": ("占比", "Share"),
        "chart.promoters": ("推荐者 9–10", "Promoters 9–10"),
        "chart.passives": ("中立者 7–8", "Passives 7–8"),
        "chart.detractors": ("贬损者 0–6", "Detractors 0–6"),
    }
)

PROMOTER_COLOR = "#2e9e5b"
PASSIVE_COLOR = "#a0a4ab"
DETRACTOR_COLOR = "#d9534f"
NPS_COLOR = "#1f6fb2"
BAND_COLOR = "rgba(31, 111, 178, 0.18)"
FONT = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif"


def add_interval_band(
    fig: go.Figure, x: pd.Series, low: pd.Series, high: pd.Series, *, name: str,
    row: int | None = None, col: int | None = None,
) -> None:
    """Shade the 95% interval between ``low`` and ``high``: an invisible upper line, a filled lower one."""
    at = {"row": row, "col": col} if row is not None else {}
    fig.add_trace(
        go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False), **at
    )
    fig.add_trace(
        go.Scatter(
            x=x, y=low, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=BAND_COLOR,
            name=name, hoverinfo="skip",
        ),
        **at,
    )

def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        font={"family": FONT},
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


def nps_trend_figure(trend: pd.DataFrame, lang: str = "zh") -> go.Figure:
    """NPS line with its 95% interval band (top) and the number of answers per period (bottom)."""
    tr = partial(translate, lang=lang)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06)
    x = trend["period"]
    add_interval_band(fig, x, trend["low"], trend["high"], name=tr("chart.ci"), row=1, col=1)
    small_note = tr("chart.small", n=SMALL_SAMPLE)
    notes = [small_note if small else "" for small in trend["small_sample"]]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=trend["nps"],
            mode="lines+markers",
            name=tr("chart.nps"),
            line={"color": NPS_COLOR, "width": 2},
            marker={
                "size": 8,
                "color": ["white" if s else NPS_COLOR for s in trend["small_sample"]],
                "line": {"color": NPS_COLOR, "width": 2},
            },
            customdata=list(zip(trend["low"], trend["high"], trend["n"], notes, strict=True)),
            hovertemplate=(
                "NPS %{y:.1f}<br>" + tr("chart.ci") + " %{customdata[0]:.1f} … %{customdata[1]:.1f}"
                "<br>n = %{customdata[2]:,}<br>%{customdata[3]}<extra></extra>"
            ),
        ),
        row=1, col=1,
    )
    fig.add_trace(
        go.Bar(
            x=x, y=trend["n"], name=tr("chart.n_axis"), marker={"color": PASSIVE_COLOR},
            hovertemplate="n = %{y:,}<extra></extra>", showlegend=False,
        ),
        row=2, col=1,
    )
    fig.add_hline(y=0, line={"color": "#888", "width": 1, "dash": "dot"}, row=1, col=1)
    fig.update_yaxes(title_text=tr("chart.nps_axis"), range=[-100, 100], row=1, col=1)
    fig.update_yaxes(title_text=tr("chart.n_axis"), rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text=tr("chart.period"), row=2, col=1)
    return _layout(fig, height=440)


def channel_volume_figure(volume: pd.DataFrame, lang: str = "zh") -> go.Figure:
    """Stacked bars: reviews per period, one colour per channel (a missing channel is labelled)."""
    tr = partial(translate, lang=lang)
    frame = volume.copy()
    frame["channel"] = frame["channel"].astype(object).where(frame["channel"].notna(), tr("chart.no_channel"))
    totals = frame.groupby("channel", sort=False)["n"].sum().sort_values(ascending=False)
    fig = go.Figure()
    for channel in totals.index:
        part = frame[frame["channel"] == channel]
        fig.add_trace(
            go.Bar(
                x=part["period"], y=part["n"], name=f"{channel} (n={int(totals[channel]):,})",
                hovertemplate=f"{channel}: " + "%{y:,}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", legend_title_text=tr("chart.channel"))
    fig.update_yaxes(title_text=tr("chart.reviews_axis"), rangemode="tozero")
    fig.update_xaxes(title_text=tr("chart.period"))
    return _layout(fig, height=360)


def nps_mix_figure(nps: NpsInterval, lang: str = "zh") -> go.Figure:
    """One horizontal 100% bar: shares of promoters, passives and detractors, with their counts."""
    tr = partial(translate, lang=lang)
    parts = [
        (tr("chart.promoters"), nps.promoters, PROMOTER_COLOR),
        (tr("chart.passives"), nps.passives, PASSIVE_COLOR),
        (tr("chart.detractors"), nps.detractors, DETRACTOR_COLOR),
    ]
    fig = go.Figure()
    for label, count, color in parts:
        share = 100.0 * count / nps.n if nps.n else 0.0
        fig.add_trace(
            go.Bar(
                x=[share], y=[""], orientation="h", name=label, marker={"color": color},
                text=[f"{share:.0f}%"], textposition="inside",
                customdata=[[count, nps.n]],
                hovertemplate=label + ": %{x:.1f}% (%{customdata[0]:,} / %{customdata[1]:,})<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", hovermode="closest")
    fig.update_xaxes(title_text=tr("chart.share_axis") + " (%)", range=[0, 100])
    return _layout(fig, height=170)
