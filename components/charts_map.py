"""Plotly builders for the 竞品对比 page: the parameter map and the side-by-side aspect comparison.

The map draws the interpolated satisfaction surface (red below the map's centre value, green above it,
unknown cells left blank on a grey background) and the products on top: size = volume, colour = the same
scale, "our" products as stars with a dark outline and their names, competitors as circles.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.parameter_map import PARAMETERS, ParameterMap
from components.charts import FONT
from components.i18n import register, translate

register(
    {
        "chart_map.param.launch_price_cny": ("首发价格", "Launch price"),
        "chart_map.param.weight_g": ("重量", "Weight"),
        "chart_map.param.thickness_mm": ("厚度", "Thickness"),
        "chart_map.param.battery_mah": ("电池容量", "Battery capacity"),
        "chart_map.param.screen_in": ("屏幕尺寸", "Screen size"),
        "chart_map.metric.rating": ("平均星级", "Mean rating"),
        "chart_map.metric.nps": ("NPS", "NPS"),
        "chart_map.metric.sentiment": ("评论净情感", "Net review sentiment"),
        "chart_map.metric.aspect": ("{aspect} 净情感", "{aspect} net sentiment"),
        "chart_map.ours": ("我方产品", "Our products"),
        "chart_map.competitors": ("竞品", "Competitors"),
        "chart_map.surface": ("满意度曲面", "Satisfaction surface"),
        "chart_map.centre": ("中心值 {centre}", "centre {centre}"),
        "chart_map.ci": ("95% 置信区间", "95% interval"),
        "chart_map.small": ("样本少于 30，不确定性大", "fewer than 30: very uncertain"),
        "chart_map.aspect": ("指标", "Aspect"),
        "chart_map.net": ("净情感（正面 − 负面，%）", "Net sentiment (positive − negative, %)"),
    }
)

# Red below the centre, pale in the middle, green above it.
SURFACE_SCALE = [[0.0, "#c0392b"], [0.3, "#eb9486"], [0.5, "#f7f4e9"], [0.7, "#8fd19e"], [1.0, "#1e8449"]]
OURS_COLOR = "#1f2d3d"


def parameter_label(name: str, lang: str = "zh") -> str:
    """``首发价格 (¥)`` for ``launch_price_cny``."""
    return f"{translate(f'chart_map.param.{name}', lang)} ({PARAMETERS[name]})"


def metric_label(metric: str, lang: str = "zh") -> str:
    if metric.startswith("aspect:"):
        return translate("chart_map.metric.aspect", lang, aspect=metric[len("aspect:"):])
    return translate(f"chart_map.metric.{metric}", lang)


def _format(value: float, metric: str) -> str:
    return f"{value:.2f}" if metric == "rating" else f"{value:+.1f}"


def colour_range(pmap: ParameterMap) -> tuple[float, float]:
    """A symmetric range around the centre that covers the surface and the points."""
    values = [pmap.points["satisfaction"].to_numpy(float)]
    if pmap.surface.size:
        values.append(pmap.surface[np.isfinite(pmap.surface)])
    spread = float(np.max(np.abs(np.concatenate(values) - pmap.centre))) if len(values[0]) else 1.0
    spread = max(spread, 0.05 if pmap.metric == "rating" else 1.0)
    return pmap.centre - spread, pmap.centre + spread


def parameter_map_figure(pmap: ParameterMap, lang: str = "zh") -> go.Figure:
    """Surface behind, products in front; the colour bar is labelled with the metric and its centre."""
    tr = partial(translate, lang=lang)
    label = metric_label(pmap.metric, lang)
    cmin, cmax = colour_range(pmap)
    centre = _format(pmap.centre, pmap.metric)
    coloraxis = {
        "colorscale": SURFACE_SCALE, "cmin": cmin, "cmax": cmax, "cmid": pmap.centre,
        "colorbar": {
            "title": {"text": f"{label}<br>{tr('chart_map.centre', centre=centre)}"},
        },
    }
    fig = go.Figure()
    if pmap.surface.size:
        fig.add_trace(
            go.Heatmap(
                x=pmap.grid_x, y=pmap.grid_y, z=pmap.surface, coloraxis="coloraxis", opacity=0.75,
                name=tr("chart_map.surface"), hoverongaps=False, zsmooth="best",
                hovertemplate=(
                    f"{parameter_label(pmap.x, lang)} %{{x:.4g}}"
                    f"<br>{parameter_label(pmap.y, lang)} %{{y:.4g}}"
                    f"<br>{tr('chart_map.surface')}: %{{z:.2f}}<extra></extra>"
                ),
            )
        )
    points = pmap.points
    size_ref = 2.0 * float(points["n"].max()) / 40**2 if not points.empty else 1.0
    for ours in (False, True):
        part = points[points["is_ours"] == ours]
        if part.empty:
            continue
        notes = [tr("chart_map.small") if s else "" for s in part["small_sample"]]
        fig.add_trace(
            go.Scatter(
                x=part["x"], y=part["y"], mode="markers+text",
                name=tr("chart_map.ours") if ours else tr("chart_map.competitors"),
                text=[f"{b} {p}" for b, p in zip(part["brand"], part["product"], strict=True)],
                textposition="top center",
                textfont={"color": OURS_COLOR if ours else "#555", "size": 12 if ours else 10},
                marker={
                    "size": part["n"], "sizemode": "area", "sizeref": size_ref, "sizemin": 8,
                    "color": part["satisfaction"], "coloraxis": "coloraxis",
                    "symbol": "star" if ours else "circle",
                    "line": {"color": OURS_COLOR if ours else "white", "width": 3 if ours else 1},
                },
                customdata=list(zip(part["n"], part["low"], part["high"], notes, strict=True)),
                hovertemplate=(
                    "%{text}<br>" + label + ": %{marker.color:.2f}<br>" + tr("chart_map.ci")
                    + " %{customdata[1]:.2f} … %{customdata[2]:.2f}<br>n = %{customdata[0]:,}"
                    + "<br>%{customdata[3]}<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(title_text=parameter_label(pmap.x, lang), showgrid=False, zeroline=False)
    fig.update_yaxes(title_text=parameter_label(pmap.y, lang), showgrid=False, zeroline=False)
    fig.update_layout(
        coloraxis=coloraxis, height=560, font={"family": FONT}, plot_bgcolor="#dfe3e8",
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


def comparison_aspects_figure(aspects: pd.DataFrame, lang: str = "zh") -> go.Figure:
    """Grouped bars: net sentiment per aspect and product, with 95% intervals and n on hover."""
    tr = partial(translate, lang=lang)
    fig = go.Figure()
    order = aspects.groupby("aspect")["n"].sum().sort_values(ascending=False, kind="stable").index.tolist()
    for (brand, product), part in aspects.groupby(["brand", "product"], sort=True):
        part = part.set_index("aspect").reindex(order).dropna(subset=["n"])
        fig.add_trace(
            go.Bar(
                x=part.index, y=part["net"], name=f"{brand} {product}",
                error_y={"type": "data", "symmetric": False, "array": part["high"] - part["net"],
                         "arrayminus": part["net"] - part["low"]},
                customdata=list(zip(part["n"].astype(int), part["low"], part["high"], strict=True)),
                hovertemplate=(
                    f"{brand} {product} · " + "%{x}: %{y:+.1f}<br>" + tr("chart_map.ci")
                    + " %{customdata[1]:.1f} … %{customdata[2]:.1f}<br>n = %{customdata[0]:,}<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(title_text=tr("chart_map.aspect"), type="category")
    fig.update_yaxes(title_text=tr("chart_map.net"), range=[-100, 100])
    fig.update_layout(
        barmode="group", height=400, font={"family": FONT}, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


register(
    {
        "chart_map.col.product": ("产品", "Product"),
        "chart_map.col.release_date": ("发布日期", "Release date"),
        "chart_map.col.is_ours": ("我方", "Ours"),
        "chart_map.col.nps": ("NPS", "NPS"),
        "chart_map.col.nps_ci": ("NPS 95% 区间", "NPS 95% interval"),
        "chart_map.col.nps_n": ("NPS 回答数", "NPS answers"),
        "chart_map.col.rating": ("平均星级", "Mean rating"),
        "chart_map.col.rating_n": ("星级数", "Ratings"),
        "chart_map.yes": ("是", "yes"),
    }
)


def specs_table(specs: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Products as columns, specs as rows (missing specs stay empty)."""
    tr = partial(translate, lang=lang)
    table = pd.DataFrame(index=[parameter_label(p, lang) for p in PARAMETERS])
    for _, row in specs.iterrows():
        name = f"{row['brand']} {row['product']}" + (" ★" if bool(row["is_ours"]) else "")
        table[name] = [row[p] for p in PARAMETERS]
    table.index.name = tr("chart_map.col.product")
    return table


def scores_table(nps: pd.DataFrame, rating: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """One row per product: NPS with its interval and n (blank when nobody answered), mean rating and n."""
    tr = partial(translate, lang=lang)
    merged = rating.merge(nps, on=["brand", "product"], how="outer", suffixes=("_rating", "_nps"))
    rows = []
    for _, row in merged.sort_values(["brand", "product"]).iterrows():
        has_nps = pd.notna(row.get("nps"))
        rows.append(
            {
                tr("chart_map.col.product"): f"{row['brand']} {row['product']}",
                tr("chart_map.col.nps"): round(float(row["nps"]), 1) if has_nps else None,
                tr("chart_map.col.nps_ci"): (
                    f"{row['low_nps']:+.1f} … {row['high_nps']:+.1f}" if has_nps else ""
                ),
                tr("chart_map.col.nps_n"): int(row["n_nps"]) if has_nps else 0,
                tr("chart_map.col.rating"): (
                    round(float(row["satisfaction"]), 2) if pd.notna(row.get("satisfaction")) else None
                ),
                tr("chart_map.col.rating_n"): int(row["n_rating"]) if pd.notna(row.get("n_rating")) else 0,
            }
        )
    return pd.DataFrame(rows)


def default_comparison(
    points: pd.DataFrame, options: list[tuple[str, str]], size: int = 3
) -> list[tuple[str, str]]:
    """Our two most reviewed products and the most reviewed competitor (else the first options)."""
    offered = set(options)
    ranked = points.sort_values("n", ascending=False, kind="stable")
    pairs = [
        ((str(b), str(p)), bool(o))
        for b, p, o in zip(ranked["brand"], ranked["product"], ranked["is_ours"], strict=True)
        if (b, p) in offered
    ]
    ours = [pair for pair, is_ours in pairs if is_ours][: size - 1]
    others = [pair for pair, is_ours in pairs if not is_ours]
    chosen = ours + others[: size - len(ours)]
    return chosen or options[:size]
