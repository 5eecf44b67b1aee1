"""Plotly builders for the 体验指标 page: the rows × aspects heatmap, a cell's trend, the volume trend.

Pure functions (data in, figure out). Heatmap cells are coloured by net sentiment (−100 red … 0 white …
+100 green) and labelled with their volume (声量); a transparent marker sits on every cell so a click
selects the cell (Plotly heatmaps themselves cannot be selected), carrying the cell's row and aspect in
``customdata``. Cells with fewer than ``SMALL_SAMPLE`` mentions carry a ``*`` and say so on hover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics.aspects import ROW_DIMENSIONS
from analytics.stats import SMALL_SAMPLE
from components.charts import FONT, NPS_COLOR, PASSIVE_COLOR, add_interval_band
from components.i18n import register, translate

register(
    {
        "chart_aspects.aspect": ("指标", "Aspect"),
        "chart_aspects.net": ("净情感（正面 − 负面，%）", "Net sentiment (positive − negative, %)"),
        "chart_aspects.net_short": ("净情感", "Net sentiment"),
        "chart_aspects.volume": ("声量（提及次数）", "Volume (mentions)"),
        "chart_aspects.period": ("时间", "Period"),
        "chart_aspects.ci": ("95% 置信区间", "95% interval"),
        "chart_aspects.small": ("* 提及少于 {n} 次，不确定性大", "* fewer than {n} mentions: very uncertain"),
        "chart_aspects.none": ("（未标注）", "(none)"),
        "chart_aspects.negative": ("其中负面", "negative"),
    }
)

# Red (−100) … white (0) … green (+100): net sentiment is centred on zero.
NET_SCALE = [[0.0, "#c0392b"], [0.25, "#e8877c"], [0.5, "#f7f7f7"], [0.75, "#82c99a"], [1.0, "#1e8449"]]
CELL_KEY_SEPARATOR = " · "
ROW_KEYS = ROW_DIMENSIONS  # heatmap row dimension -> key columns of aspect_heatmap's output


def row_label(key: Sequence[object], lang: str = "zh") -> str:
    """A row key (``(brand,)``, ``(brand, product)`` or ``(channel,)``) as one label."""
    parts = [str(v) for v in key if v is not None and not (isinstance(v, float) and np.isnan(v))]
    return CELL_KEY_SEPARATOR.join(parts) if parts else translate("chart_aspects.none", lang)


def _labels(cells: pd.DataFrame, keys: Sequence[str], lang: str) -> list[str]:
    return [row_label(k, lang) for k in zip(*(cells[c] for c in keys), strict=True)]


def row_keys_by_label(
    cells: pd.DataFrame, keys: Sequence[str], lang: str = "zh", limit: int | None = None
) -> dict[str, tuple[str, ...]]:
    """Label -> row key of the rows that can be drilled into (no missing key part), largest volume first."""
    complete = cells.dropna(subset=list(keys))
    totals = complete.groupby(list(keys), sort=False)["n"].sum().sort_values(ascending=False, kind="stable")
    out: dict[str, tuple[str, ...]] = {}
    for key in totals.index[:limit]:
        key_tuple = tuple(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        out[row_label(key_tuple, lang)] = key_tuple
    return out


def keep_rows(
    cells: pd.DataFrame, keys: Sequence[str], labels: Mapping[str, object], lang: str = "zh"
) -> pd.DataFrame:
    """The cells whose row label is in ``labels``, plus rows missing a key part (shown, not drillable)."""
    complete = cells[list(keys)].notna().all(axis=1)
    shown = _labels(cells, keys, lang)
    return cells[[label in labels or not ok for label, ok in zip(shown, complete, strict=True)]]


def aspects_by_volume(cells: pd.DataFrame) -> list[str]:
    return cells.groupby("aspect")["n"].sum().sort_values(ascending=False, kind="stable").index.tolist()


def heatmap_matrix(
    cells: pd.DataFrame, keys: Sequence[str], lang: str = "zh"
) -> tuple[list[str], list[str], pd.DataFrame, pd.DataFrame]:
    """(row labels, aspects, net matrix, n matrix) from :func:`analytics.aspects.aspect_heatmap` output.

    Rows are ordered by total volume (largest first), aspects likewise; missing cells are NaN / 0.
    """
    frame = cells.copy()
    frame["row"] = [row_label(k, lang) for k in zip(*(frame[c] for c in keys), strict=True)]
    row_order = frame.groupby("row")["n"].sum().sort_values(ascending=False, kind="stable").index.tolist()
    aspect_order = (
        frame.groupby("aspect")["n"].sum().sort_values(ascending=False, kind="stable").index.tolist()
    )
    net = frame.pivot_table(index="row", columns="aspect", values="net", aggfunc="first")
    n = frame.pivot_table(index="row", columns="aspect", values="n", aggfunc="sum")
    net = net.reindex(index=row_order, columns=aspect_order)
    n = n.reindex(index=row_order, columns=aspect_order).fillna(0).astype("int64")
    return row_order, aspect_order, net, n


def heatmap_figure(
    cells: pd.DataFrame, keys: Sequence[str], lang: str = "zh", selected: tuple[str, str] | None = None
) -> go.Figure:
    """Rows × aspects: colour = net sentiment, text = volume; ``selected`` (row label, aspect) is outlined."""
    tr = partial(translate, lang=lang)
    rows, aspects, net, n = heatmap_matrix(cells, keys, lang)
    low = cells.assign(row=[row_label(k, lang) for k in zip(*(cells[c] for c in keys), strict=True)])
    low_m = low.pivot_table(index="row", columns="aspect", values="low", aggfunc="first").reindex(
        index=rows, columns=aspects
    )
    high_m = low.pivot_table(index="row", columns="aspect", values="high", aggfunc="first").reindex(
        index=rows, columns=aspects
    )
    text = [
        [("" if c == 0 else f"{c:,}" + ("*" if c < SMALL_SAMPLE else "")) for c in row]
        for row in n.to_numpy()
    ]
    fig = go.Figure(
        go.Heatmap(
            z=net.to_numpy(),
            x=aspects,
            y=rows,
            zmin=-100,
            zmax=100,
            zmid=0,
            colorscale=NET_SCALE,
            colorbar={"title": {"text": tr("chart_aspects.net_short")}, "thickness": 12},
            text=text,
            texttemplate="%{text}",
            hoverinfo="skip",  # the click targets on top carry the hover text
            xgap=2,
            ygap=2,
        )
    )
    # Click targets: one transparent marker per non-empty cell (heatmaps cannot be selected in Plotly);
    # customdata = [row label, aspect, n, net, low, high]. Their hover gives the cell's figures.
    xs, ys, ids = [], [], []
    for i, row in enumerate(rows):
        for j, aspect in enumerate(aspects):
            if n.iat[i, j] > 0:
                xs.append(aspect)
                ys.append(row)
                ids.append([row, aspect, int(n.iat[i, j]), float(net.iat[i, j]), float(low_m.iat[i, j]),
                            float(high_m.iat[i, j])])
    fig.add_trace(
        go.Scatter(
            x=xs, y=ys, customdata=ids, mode="markers", showlegend=False,
            hovertemplate=(
                "%{customdata[0]} × %{customdata[1]}<br>" + tr("chart_aspects.net_short")
                + " %{customdata[3]:+.1f}<br>" + tr("chart_aspects.ci")
                + " %{customdata[4]:.1f} … %{customdata[5]:.1f}<br>n = %{customdata[2]:,}<extra></extra>"
            ),
            marker={"symbol": "square", "size": 28, "color": "rgba(0,0,0,0)"},
            selected={"marker": {"opacity": 1}}, unselected={"marker": {"opacity": 1}},
        )
    )
    if selected is not None and selected[0] in rows and selected[1] in aspects:
        fig.add_trace(
            go.Scatter(
                x=[selected[1]], y=[selected[0]], mode="markers", hoverinfo="skip", showlegend=False,
                marker={"symbol": "square-open", "size": 34, "color": "#1f2d3d", "line": {"width": 3}},
            )
        )
    fig.update_xaxes(title_text=tr("chart_aspects.aspect"), side="top", type="category")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(
        height=max(260, 34 * len(rows) + 120),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        font={"family": FONT},
        clickmode="event+select",
        dragmode=False,
        plot_bgcolor="#e9ecef",
    )
    return fig


def cell_trend_figure(trend: pd.DataFrame, lang: str = "zh") -> go.Figure:
    """One cell over time: net sentiment with its 95% band (top) and mentions per period (bottom)."""
    tr = partial(translate, lang=lang)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    x = trend["period"]
    add_interval_band(fig, x, trend["low"], trend["high"], name=tr("chart_aspects.ci"), row=1, col=1)
    notes = [tr("chart_aspects.small", n=SMALL_SAMPLE) if s else "" for s in trend["small_sample"]]
    fig.add_trace(
        go.Scatter(
            x=x, y=trend["net"], mode="lines+markers", name=tr("chart_aspects.net_short"),
            line={"color": NPS_COLOR, "width": 2},
            marker={
                "size": 8,
                "color": ["white" if s else NPS_COLOR for s in trend["small_sample"]],
                "line": {"color": NPS_COLOR, "width": 2},
            },
            customdata=list(zip(trend["low"], trend["high"], trend["n"], notes, strict=True)),
            hovertemplate=(
                "%{y:+.1f}<br>" + tr("chart_aspects.ci") + " %{customdata[0]:.1f} … %{customdata[1]:.1f}"
                "<br>n = %{customdata[2]:,}<br>%{customdata[3]}<extra></extra>"
            ),
        ),
        row=1, col=1,
    )
    fig.add_trace(
        go.Bar(x=x, y=trend["n"], marker={"color": PASSIVE_COLOR}, showlegend=False,
               hovertemplate="n = %{y:,}<extra></extra>"),
        row=2, col=1,
    )
    fig.add_hline(y=0, line={"color": "#888", "width": 1, "dash": "dot"}, row=1, col=1)
    fig.update_yaxes(title_text=tr("chart_aspects.net_short"), range=[-100, 100], row=1, col=1)
    fig.update_yaxes(title_text="n", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text=tr("chart_aspects.period"), row=2, col=1)
    fig.update_layout(
        height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10}, font={"family": FONT},
        hovermode="x unified", legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


def volume_trend_figure(volume: pd.DataFrame, lang: str = "zh", top: int = 8) -> go.Figure:
    """指标声量走势: mentions per period, one line per aspect (the ``top`` largest; the rest summed)."""
    tr = partial(translate, lang=lang)
    totals = volume.groupby("aspect")["n"].sum().sort_values(ascending=False, kind="stable")
    fig = go.Figure()
    for aspect in totals.index[:top]:
        part = volume[volume["aspect"] == aspect]
        fig.add_trace(
            go.Scatter(
                x=part["period"], y=part["n"], mode="lines+markers",
                name=f"{aspect} (n={int(totals[aspect]):,})", customdata=part["negative"],
                hovertemplate=(
                    f"{aspect}: " + "%{y:,}<br>" + tr("chart_aspects.negative")
                    + " %{customdata:,}<extra></extra>"
                ),
            )
        )
    fig.update_yaxes(title_text=tr("chart_aspects.volume"), rangemode="tozero")
    fig.update_xaxes(title_text=tr("chart_aspects.period"))
    fig.update_layout(
        height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10}, font={"family": FONT},
        hovermode="x unified", legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0},
    )
    return fig
