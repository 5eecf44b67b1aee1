"""The shared sidebar: 中文/English switch and the filters every analysis page reads.

State lives in three places, kept consistent here:
- the widgets' own keys in ``st.session_state`` (what the user sees),
- ``st.session_state[FILTERS_KEY]``: the last :class:`Filters` built, which pages read with
  :func:`current_filters` and which restores the widgets after a page that does not show them,
- the URL query string (``Filters.to_query_params`` plus ``lang``), so a view can be shared as a link.
On a session's first run the widgets start from the URL; values the store does not hold are ignored.

Data permissions: every :class:`Filters` this module hands out carries the signed-in user's scope
(``components.auth.current_scope``); the URL never carries it, so no link can widen it, and the option lists
(``cache.filter_options``) hold only values inside it, so a URL naming another brand is dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import streamlit as st

from analytics.filters import Filters
from analytics.options import FilterOptions
from components.auth import current_scope
from components.i18n import DEFAULT_LANG, LANG_KEY, LANGUAGES, current_lang, register, t
from components.safe_text import escape_markdown

register(
    {
        "sidebar.language": ("语言 Language", "语言 Language"),
        "sidebar.filters": ("筛选", "Filters"),
        "sidebar.dates": ("日期范围", "Date range"),
        "sidebar.brands": ("品牌", "Brands"),
        "sidebar.products": ("型号", "Models"),
        "sidebar.channels": ("渠道", "Channels"),
        "sidebar.datasets": ("数据集", "Datasets"),
        "sidebar.all": ("全部", "All"),
        "sidebar.reset": ("重置筛选", "Reset filters"),
        "sidebar.showing": ("当前：{what}", "Showing: {what}"),
        "sidebar.no_dates": ("数据中没有日期，日期筛选不可用。", "The data has no dates; no date filter."),
    }
)

FILTERS_KEY = "filters"
LANG_PARAM = "lang"
KEY_DATES = "filter_dates"
KEY_DATES_SPAN = "filter_dates_span"  # the data's date span when the date widget was last shown
KEY_BRANDS = "filter_brands"
KEY_PRODUCTS = "filter_products"
KEY_CHANNELS = "filter_channels"
KEY_DATASETS = "filter_datasets"
KEY_RESET = "filter_reset"
# Query parameters this module owns (other query parameters are left alone).
OWNED_PARAMS = ("from", "to", "brands", "products", "channels", "regions", "dataset_ids", LANG_PARAM)


# --- language ----------------------------------------------------------------------------------------


def language_switch() -> str:
    """The 中文/English switch; the choice is kept in ``st.session_state['lang']`` and the URL."""
    if LANG_KEY not in st.session_state or st.session_state[LANG_KEY] not in LANGUAGES:
        wanted = st.query_params.get(LANG_PARAM)
        st.session_state[LANG_KEY] = wanted if wanted in LANGUAGES else DEFAULT_LANG
    st.sidebar.radio(
        t("sidebar.language"),
        options=list(LANGUAGES),
        format_func=lambda code: LANGUAGES[code],
        horizontal=True,
        key=LANG_KEY,
    )
    return current_lang()


# --- filters -----------------------------------------------------------------------------------------


def restrict_to_options(filters: Filters, options: FilterOptions) -> Filters:
    """Drop values the store does not hold and clamp dates to its span (used on URL input)."""
    products = set(options.products_for(()))
    date_from, date_to = filters.date_from, filters.date_to
    if options.date_min is None or options.date_max is None:
        date_from = date_to = None
    else:
        if date_from is not None and not options.date_min <= date_from <= options.date_max:
            date_from = None
        if date_to is not None and not options.date_min <= date_to <= options.date_max:
            date_to = None
        if date_from and date_to and date_from > date_to:
            date_from = date_to = None
    return Filters(
        date_from=date_from,
        date_to=date_to,
        brands=tuple(b for b in filters.brands if b in options.brands),
        products=tuple(p for p in filters.products if p in products),
        channels=tuple(c for c in filters.channels if c in options.channels),
        dataset_ids=tuple(d for d in filters.dataset_ids if d in options.dataset_ids),
    )


def filters_from_widgets(
    dates: Sequence[dt.date] | dt.date | None,
    brands: Iterable[str],
    products: Iterable[str],
    channels: Iterable[str],
    dataset_ids: Iterable[int],
    options: FilterOptions,
) -> Filters:
    """Turn widget values into :class:`Filters`; a date bound equal to the data's own bound means "open"."""
    date_from = date_to = None
    if isinstance(dates, dt.date):
        dates = (dates,)
    if dates:
        start = dates[0]
        end = dates[1] if len(dates) > 1 else None
        date_from = start if start != options.date_min else None
        date_to = end if end is not None and end != options.date_max else None
    return Filters(
        date_from=date_from,
        date_to=date_to,
        brands=tuple(brands),
        products=tuple(products),
        channels=tuple(channels),
        dataset_ids=tuple(dataset_ids),
    )


def fit_dates(
    current: Sequence[dt.date] | None, previous_span: Sequence[dt.date] | None, options: FilterOptions
) -> tuple[dt.date, ...]:
    """The date widget's value for the data's current span.

    "Everything" stays everything when the span grows (after an import) instead of silently hiding the new
    rows; a chosen range is clamped to the span; an empty range, or one outside the span, becomes the span.
    """
    assert options.date_min is not None and options.date_max is not None
    span = (options.date_min, options.date_max)
    if not current or (previous_span is not None and tuple(current) == tuple(previous_span)):
        return span
    first, last = current[0], current[-1]
    if first > span[1] or last < span[0]:
        return span
    start = max(first, span[0])
    return (start,) if len(current) < 2 else (start, min(last, span[1]))


def _seed_widgets(filters: Filters, options: FilterOptions) -> None:
    if options.date_min is not None and options.date_max is not None:
        start = filters.date_from or options.date_min
        st.session_state[KEY_DATES] = (start, filters.date_to or options.date_max)
    st.session_state[KEY_BRANDS] = list(filters.brands)
    st.session_state[KEY_PRODUCTS] = list(filters.products)
    st.session_state[KEY_CHANNELS] = list(filters.channels)
    st.session_state[KEY_DATASETS] = list(filters.dataset_ids)


def _keep_valid(key: str, allowed: Iterable[object]) -> None:
    """Remove selections that are no longer offered (e.g. a dataset was deleted)."""
    allowed_set = set(allowed)
    current = st.session_state.get(key, [])
    kept = [v for v in current if v in allowed_set]
    if kept != current:
        st.session_state[key] = kept


def _reset(options: FilterOptions) -> None:
    _seed_widgets(Filters(), options)


def sidebar_filters(options: FilterOptions) -> Filters:
    """Render the filters in the sidebar and return what they select; syncs the URL."""
    if KEY_BRANDS not in st.session_state:
        saved = st.session_state.get(FILTERS_KEY)
        start = saved if isinstance(saved, Filters) else Filters.from_query_params(st.query_params.to_dict())
        _seed_widgets(restrict_to_options(start, options), options)

    sidebar = st.sidebar
    sidebar.subheader(t("sidebar.filters"))
    dates: Sequence[dt.date] | dt.date | None = None
    if options.date_min is not None and options.date_max is not None:
        st.session_state[KEY_DATES] = fit_dates(
            st.session_state.get(KEY_DATES), st.session_state.get(KEY_DATES_SPAN), options
        )
        st.session_state[KEY_DATES_SPAN] = (options.date_min, options.date_max)
        dates = sidebar.date_input(
            t("sidebar.dates"), min_value=options.date_min, max_value=options.date_max, key=KEY_DATES,
            format="YYYY-MM-DD",
        )
    else:
        sidebar.caption(t("sidebar.no_dates"))
    _keep_valid(KEY_BRANDS, options.brands)
    brands = sidebar.multiselect(
        t("sidebar.brands"), options=list(options.brands), key=KEY_BRANDS, placeholder=t("sidebar.all")
    )
    product_options = options.products_for(brands)
    _keep_valid(KEY_PRODUCTS, product_options)
    products = sidebar.multiselect(
        t("sidebar.products"), options=list(product_options), key=KEY_PRODUCTS, placeholder=t("sidebar.all")
    )
    _keep_valid(KEY_CHANNELS, options.channels)
    channels = sidebar.multiselect(
        t("sidebar.channels"), options=list(options.channels), key=KEY_CHANNELS, placeholder=t("sidebar.all")
    )
    _keep_valid(KEY_DATASETS, options.dataset_ids)
    dataset_ids = sidebar.multiselect(
        t("sidebar.datasets"),
        options=list(options.dataset_ids),
        format_func=options.dataset_label,
        key=KEY_DATASETS,
        placeholder=t("sidebar.all"),
    )
    filters = filters_from_widgets(dates, brands, products, channels, dataset_ids, options).within(
        current_scope()
    )
    sidebar.button(
        t("sidebar.reset"), key=KEY_RESET, on_click=_reset, args=(options,), icon=":material/restart_alt:"
    )
    sidebar.caption(t("sidebar.showing", what=escape_markdown(filters.describe(current_lang()))))
    st.session_state[FILTERS_KEY] = filters
    sync_query_params(filters)
    return filters


def current_filters() -> Filters:
    """The filters chosen in the sidebar (none before the sidebar has run), always within the user's scope."""
    saved = st.session_state.get(FILTERS_KEY)
    return (saved if isinstance(saved, Filters) else Filters()).within(current_scope())


def wanted_query_params(filters: Filters | None, lang: str) -> dict[str, str]:
    """The query parameters this module wants in the URL."""
    wanted = filters.to_query_params() if filters is not None else {}
    if lang != DEFAULT_LANG:
        wanted[LANG_PARAM] = lang
    return wanted


def sync_query_params(filters: Filters | None) -> None:
    """Write the filters (and language) into the URL, touching only the parameters this module owns."""
    wanted = wanted_query_params(filters, current_lang())
    params = st.query_params
    for name in OWNED_PARAMS:
        if name in wanted:
            if params.get(name) != wanted[name]:
                params[name] = wanted[name]
        elif name in params:
            del params[name]
