"""竞品对比 Competitors: products on a map of two specs over a satisfaction surface; a side-by-side table."""

from __future__ import annotations

import streamlit as st

from components import cache, charts_map, frame
from components.i18n import current_lang, register, t
from components.safe_text import escape_markdown
from components.sidebar import Filters, current_filters

register(
    {
        "competitors.title": ("竞品对比", "Competitors"),
        "competitors.scope": ("范围：{what}", "Scope: {what}"),
        "competitors.map": ("参数地图", "Parameter map"),
        "competitors.x": ("横轴参数", "X parameter"),
        "competitors.y": ("纵轴参数", "Y parameter"),
        "competitors.metric": ("满意度指标", "Satisfaction measure"),
        "competitors.same": ("请选择两个不同的参数。", "Choose two different parameters."),
        "competitors.no_points": (
            "所选数据中没有同时具备这两个参数和满意度数据的产品（{what}）。换一组参数或放宽筛选。",
            "No product in the selection has both parameters and satisfaction data ({what}). Choose other "
            "parameters or widen the filters.",
        ),
        "competitors.map_note": (
            "点 = 产品，大小 = 样本量，颜色 = 满意度；★ 为我方产品。背景为按产品满意度插值的曲面"
            "（高于中心值为绿，低于为红）；灰色区域离所有产品太远，无法推断。",
            "Points are products, sized by sample and coloured by satisfaction; ★ marks our products. The "
            "background interpolates the products' satisfaction (green above the centre value, red below); "
            "grey areas are too far from any product to say.",
        ),
        "competitors.no_specs": (
            "缺少参数、未画出的产品：{names}", "Products without these specs (not drawn): {names}"
        ),
        "competitors.compare": ("产品并排对比", "Side-by-side comparison"),
        "competitors.pick": ("选择产品", "Products"),
        "competitors.pick_hint": ("选择至少一个产品进行对比。", "Choose at least one product to compare."),
        "competitors.specs": ("参数", "Specs"),
        "competitors.aspect_scores": ("各指标净情感", "Net sentiment per aspect"),
        "competitors.nps": ("NPS 与星级", "NPS and rating"),
        "competitors.no_aspects": ("所选产品没有指标提及。", "The chosen products have no aspect mentions."),
        "competitors.no_nps": ("所选产品没有 NPS 打分。", "The chosen products have no NPS answers."),
    }
)

PARAMETERS = ("launch_price_cny", "weight_g", "thickness_mm", "battery_mah", "screen_in")
BASE_METRICS = ("rating", "nps", "sentiment")
KEY_X, KEY_Y, KEY_METRIC = "competitors_x", "competitors_y", "competitors_metric"
KEY_PICK = "competitors_pick"


@st.fragment
def map_section(filters: Filters, lang: str, what: str) -> None:
    st.subheader(t("competitors.map"))
    cols = st.columns(3)
    label = lambda p: charts_map.parameter_label(p, lang)  # noqa: E731
    x = cols[0].selectbox(t("competitors.x"), PARAMETERS, index=1, format_func=label, key=KEY_X)
    y = cols[1].selectbox(t("competitors.y"), PARAMETERS, index=2, format_func=label, key=KEY_Y)
    metrics = [*BASE_METRICS, *(f"aspect:{a}" for a in cache.aspect_summary(filters)["aspect"])]
    metric = cols[2].selectbox(
        t("competitors.metric"), metrics, format_func=lambda m: charts_map.metric_label(m, lang),
        key=KEY_METRIC,
    )
    if x == y:
        st.info(t("competitors.same"))
        return
    pmap = cache.parameter_map(filters, x, y, metric)
    if pmap.points.empty:
        st.info(t("competitors.no_points", what=what))
    else:
        st.plotly_chart(charts_map.parameter_map_figure(pmap, lang), key="competitors_map")
        st.caption(t("competitors.map_note"))
    if pmap.products_without_specs:
        st.caption(t("competitors.no_specs", names=escape_markdown("、".join(pmap.products_without_specs))))


@st.fragment
def comparison_section(filters: Filters, lang: str) -> None:
    st.subheader(t("competitors.compare"))
    options = [(b, p) for b, p in cache.filter_options().products if b]
    if options and KEY_PICK not in st.session_state:
        st.session_state[KEY_PICK] = charts_map.default_comparison(
            cache.parameter_map(filters, PARAMETERS[1], PARAMETERS[2]).points, options
        )
    chosen = st.multiselect(
        t("competitors.pick"), options, format_func=lambda o: f"{o[0]} {o[1]}", key=KEY_PICK, max_selections=6
    )
    if not chosen:
        st.info(t("competitors.pick_hint"))
        return
    result = cache.compare_products(filters, tuple(sorted(chosen)))
    st.markdown(f"**{t('competitors.specs')}**")
    st.dataframe(charts_map.specs_table(result.specs, lang), key="competitors_specs")
    st.markdown(f"**{t('competitors.aspect_scores')}**")
    if result.aspects.empty:
        st.info(t("competitors.no_aspects"))
    else:
        st.plotly_chart(charts_map.comparison_aspects_figure(result.aspects, lang), key="competitors_aspects")
    st.markdown(f"**{t('competitors.nps')}**")
    if result.nps.empty:
        st.info(t("competitors.no_nps"))
    st.dataframe(
        charts_map.scores_table(result.nps, result.rating, lang), key="competitors_scores", hide_index=True
    )


def main() -> None:
    frame.require_frame()
    filters = current_filters()
    lang = current_lang()
    what = escape_markdown(filters.describe(lang))
    st.title(t("competitors.title"))
    st.caption(t("competitors.scope", what=what))
    map_section(filters, lang, what)
    comparison_section(filters, lang)


main()
