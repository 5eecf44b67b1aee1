"""Tingjian (听见) app frame: page config, language switch, sign-in, demo on first start, shared filters,
navigation limited to the signed-in user's role.

Run with ``streamlit run app.py``. The store is ``$TINGJIAN_DB`` or ``data/cem.duckdb``; the users file is
``$TINGJIAN_USERS`` or ``data/users.yaml`` (see docs/SECURITY.md).
"""

from __future__ import annotations

import streamlit as st

from components import auth, cache, frame, startup
from components.i18n import current_lang, register, t
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
        "nav.users": ("用户", "Users"),
        "nav.actions": ("行动", "Actions"),
        "nav.alert_rules": ("告警规则", "Alert rules"),
    }
)

frame.enter_frame()
st.set_page_config(page_title="听见 Tingjian", page_icon=":material/hearing:", layout="wide")
language_switch()
startup.prepare_store()  # the demo market on a first start (no customer data: it may show before sign-in)
user = auth.require_sign_in()  # draws the sign-in form and stops until someone is signed in

# Which role each page needs: data.users.PAGE_MIN_ROLE (by url_path). Pages the user may not open stay in
# the navigation as hidden entries, so a link to one shows a clear message instead of "page not found".
# (script, title key, icon, url_path)
PAGES: list[tuple[str, str, str, str]] = [
    ("pages/overview.py", "nav.overview", ":material/dashboard:", "overview"),
    ("pages/nps.py", "nav.nps", ":material/trending_up:", "nps"),
    ("pages/drivers.py", "nav.drivers", ":material/bubble_chart:", "drivers"),
    ("pages/aspects.py", "nav.aspects", ":material/grid_on:", "aspects"),
    ("pages/competitors.py", "nav.competitors", ":material/scatter_plot:", "competitors"),
    ("pages/quotes.py", "nav.quotes", ":material/format_quote:", "quotes"),
    ("pages/import_data.py", "nav.import", ":material/upload_file:", "import"),
    ("pages/taxonomy.py", "nav.taxonomy", ":material/account_tree:", "taxonomy"),
    ("pages/users.py", "nav.users", ":material/group:", "users"),
    ("pages/actions.py", "nav.actions", ":material/assignment:", "actions"),
    ("pages/alert_rules.py", "nav.alert_rules", ":material/notifications_active:", "alert_rules"),
]
# url paths of pages without the shared filters
UNFILTERED_PAGES = {"import", "taxonomy", "users", "actions", "alert_rules"}

allowed = {url for *_, url in PAGES if auth.may_open(user, url)}
navigation = {
    url: st.Page(script, title=t(title), icon=icon, url_path=url, default=url == "overview",
                 visibility="visible" if url in allowed else "hidden")
    for script, title, icon, url in PAGES
}
page = st.navigation(list(navigation.values()))
# The default page's own ``url_path`` is "", so look the chosen page up by identity.
page_path = next(url for url, candidate in navigation.items() if candidate is page)
st.sidebar.caption(t("app.title"))
auth.user_panel(user, current_lang())
if page_path not in allowed:
    sync_query_params(None)
    auth.forbidden(user, page_path)
    st.stop()
first_start_status = st.container()  # above the page: the demo's annotation progress on a first start
if page_path not in UNFILTERED_PAGES:
    with cache.dashboard_render():  # dashboards only read: one rollup guard for the whole render
        sidebar_filters(cache.filter_options())
        page.run()
else:
    sync_query_params(None)
    page.run()
startup.finish_first_start(first_start_status)
