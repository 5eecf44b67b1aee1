"""Tingjian (听见) app frame: page config, language switch, demo on first start, shared filters, navigation.

Run with ``streamlit run app.py``. The store is ``$TINGJIAN_DB`` or ``data/cem.duckdb``.
"""

from __future__ import annotations

import streamlit as st

from components import cache, frame, startup
from components.i18n import register, t
from components.sidebar import language_switch, sidebar_filters, sync_query_params

register(
    {
        "app.title": ("听见 · 客户体验分析", "Tingjian · Customer experience analytics"),
        "nav.overview": ("总览", "Overview"),
        "nav.nps": ("NPS 趋势", "NPS trend"),
        "nav.drivers": ("驱动因素", "Key drivers"),
        "nav.aspects": ("体验指标", "Aspects"),
        "nav.competitors": ("竞品对比", "Competitors"),
        "nav.quotes": ("客户原声", "Customer quotes"),
        "nav.import": ("数据导入", "Import"),
        "nav.taxonomy": ("指标体系", "Aspect taxonomy"),
    }
)

frame.enter_frame()
st.set_page_config(page_title="听见 Tingjian", page_icon=":material/hearing:", layout="wide")
language_switch()
startup.prepare_store()

PAGES = [
    st.Page("pages/overview.py", title=t("nav.overview"), icon=":material/dashboard:", url_path="overview",
            default=True),
    st.Page("pages/nps.py", title=t("nav.nps"), icon=":material/trending_up:", url_path="nps"),
    st.Page("pages/drivers.py", title=t("nav.drivers"), icon=":material/bubble_chart:", url_path="drivers"),
    st.Page("pages/aspects.py", title=t("nav.aspects"), icon=":material/grid_on:", url_path="aspects"),
    st.Page("pages/competitors.py", title=t("nav.competitors"), icon=":material/scatter_plot:",
            url_path="competitors"),
    st.Page("pages/quotes.py", title=t("nav.quotes"), icon=":material/format_quote:", url_path="quotes"),
    st.Page("pages/import_data.py", title=t("nav.import"), icon=":material/upload_file:", url_path="import"),
    st.Page("pages/taxonomy.py", title=t("nav.taxonomy"), icon=":material/account_tree:",
            url_path="taxonomy"),
]
UNFILTERED_PAGES = {"import", "taxonomy"}  # url paths of pages without the shared filters

page = st.navigation(PAGES)
st.sidebar.caption(t("app.title"))
if page.url_path not in UNFILTERED_PAGES:
    sidebar_filters(cache.filter_options())
else:
    sync_query_params(None)
first_start_status = st.container()  # above the page: the demo's annotation progress on a first start
page.run()
startup.finish_first_start(first_start_status)
