"""The queries each dashboard page issues on its first render, defined once, for the benchmark.

Each page is a list of steps that call the same ``analytics`` functions with the same arguments as the
page's calls through ``components/cache.py`` (read from ``pages/*.py``, ``components/exec_overview.py`` and
``components/nps_views.py`` with every widget at its default). A step may read what an earlier step of the
same page returned (``ctx``), as the page does (the CEM weights feed the index; the aspect drill-down uses the
heatmap's first cell). Streamlit's ``st.cache_data`` is bypassed: every call is a cold cache.

``FRAME`` is what ``app.py`` runs on every page (the sidebar's filter options).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd

from analytics import aspects, cem_index, drivers, nps, options, overview, parameter_map, quotes
from analytics.filters import Filters

Ctx = dict[str, Any]
Step = tuple[str, Callable[[duckdb.DuckDBPyConnection, Filters, Ctx], object]]

VERBATIM_LIMIT = 200  # components/nps_views.VERBATIM_LIMIT
SEARCH_LIMIT = 200  # pages/quotes.SEARCH_LIMIT
SEARCH_QUERY = "电池 发热"  # a two-term search (every term must occur)
MAP_X, MAP_Y = "weight_g", "thickness_mm"  # pages/competitors.py defaults (index 1 and 2 of PARAMETERS)


def _market(f: Filters) -> Filters:
    return f.with_(brands=(), products=())


def _cem_weights(con: duckdb.DuckDBPyConnection, f: Filters, ctx: Ctx) -> object:
    ctx["weights"] = cem_index.cem_weights(con, _market(f))
    return ctx["weights"]


def _default_period(f: Filters, trend: pd.DataFrame) -> Filters:
    """The period the NPS page's verbatims show first (``nps_views.verbatims``): the newest significant drop,
    else the newest period (``nps.default_verbatim_row``), narrowed as ``nps_views.narrowed`` does."""
    row = nps.default_verbatim_row(trend)
    start = pd.Timestamp(trend.loc[row, "period"]).date()
    end = (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date()
    first = max(start, f.date_from) if f.date_from else start
    last = min(end, f.date_to) if f.date_to else end
    return f.with_(date_from=first, date_to=max(first, last))


def _nps_trend(con: duckdb.DuckDBPyConnection, f: Filters, ctx: Ctx) -> object:
    ctx["trend"] = nps.nps_trend_by(con, f, "month", None)
    return ctx["trend"]


def _verbatims(con: duckdb.DuckDBPyConnection, f: Filters, ctx: Ctx) -> object:
    # An empty trend: the page shows its empty state and returns before the verbatims (pages/nps.py).
    if ctx["trend"].empty:
        return None
    return nps.nps_verbatims(con, _default_period(f, ctx["trend"]), "detractors", VERBATIM_LIMIT)


def _heatmap(con: duckdb.DuckDBPyConnection, f: Filters, ctx: Ctx) -> object:
    cells = aspects.aspect_heatmap(con, f, "product", None)
    ctx["cell"], ctx["aspect"] = f, None
    if not cells.empty:
        top = cells.sort_values("n", ascending=False).iloc[0]
        ctx["cell"] = f.with_(brands=(top["brand"],), products=(top["product"],))
        ctx["aspect"] = str(top["aspect"])
    return cells


def _parameter_map(con: duckdb.DuckDBPyConnection, f: Filters, ctx: Ctx) -> object:
    ctx["map"] = parameter_map.parameter_map(con, f, MAP_X, MAP_Y, "rating")
    return ctx["map"]


def _comparison(con: duckdb.DuckDBPyConnection, f: Filters, ctx: Ctx) -> object:
    # The page picks its default products from the map it drew: the same cached call (same arguments), so
    # in the app it is a st.cache_data hit within the render, not a second query.
    points = ctx["map"].points
    ranked = points.sort_values("n", ascending=False) if not points.empty else points
    ours = [(str(b), str(p)) for b, p, o in zip(ranked.get("brand", []), ranked.get("product", []),
                                               ranked.get("is_ours", []), strict=True) if o][:2]
    others = [(str(b), str(p)) for b, p, o in zip(ranked.get("brand", []), ranked.get("product", []),
                                                 ranked.get("is_ours", []), strict=True) if not o][:1]
    return parameter_map.compare_products(con, f, sorted(ours + others))


FRAME: list[Step] = [("filter_options", lambda con, f, ctx: options.filter_options(con))]

PAGES: dict[str, list[Step]] = {
    "overview": [
        ("overview_kpis", lambda con, f, ctx: overview.overview_kpis(con, f)),
        ("cem_weights", _cem_weights),
        ("cem_index", lambda con, f, ctx: cem_index.cem_index(con, f, by=None, weights=ctx["weights"])),
        ("cem_index_change", lambda con, f, ctx: cem_index.cem_index_change(con, f, weights=ctx["weights"])),
        ("cem_index_brands",
         lambda con, f, ctx: cem_index.cem_index(con, _market(f), by="brand", weights=ctx["weights"])),
        ("nps_trend", lambda con, f, ctx: overview.nps_trend(con, f, "month")),
        ("nps_trend_by", lambda con, f, ctx: nps.nps_trend_by(con, f, "month", None)),
        ("aspect_changes", lambda con, f, ctx: aspects.aspect_changes(con, f)),
        ("volume_by_channel", lambda con, f, ctx: overview.volume_by_channel(con, f, "month")),
    ],
    "nps": [
        ("nps_trend_by", _nps_trend),
        ("nps_verbatims", _verbatims),
    ],
    "aspects": [
        ("aspect_summary", lambda con, f, ctx: aspects.aspect_summary(con, f)),
        ("aspect_heatmap", _heatmap),
        ("aspect_volume_trend", lambda con, f, ctx: aspects.aspect_volume_trend(con, f, "month", None)),
        ("aspect_trend", lambda con, f, ctx: aspects.aspect_trend(con, ctx["cell"], ctx["aspect"], "month")),
        ("typical_quotes",
         lambda con, f, ctx: quotes.typical_quotes(con, ctx["cell"], ctx["aspect"], None, 5)),
    ],
    "competitors": [
        ("aspect_summary", lambda con, f, ctx: aspects.aspect_summary(con, f)),
        ("parameter_map", _parameter_map),
        ("compare_products", _comparison),
    ],
    "quotes": [
        ("aspect_summary", lambda con, f, ctx: aspects.aspect_summary(con, f)),
        ("typical_quotes", lambda con, f, ctx: quotes.typical_quotes(con, f, None, None, 5)),
        ("search_feedback", lambda con, f, ctx: quotes.search_feedback(con, f, SEARCH_QUERY, SEARCH_LIMIT)),
    ],
    "drivers": [
        ("key_drivers", lambda con, f, ctx: drivers.key_drivers(con, f, "auto")),
    ],
}


def filter_variants(con: duckdb.DuckDBPyConnection) -> list[Filters]:
    """Filters a user would pick, from the store's own values: everything, one brand, the last six months,
    two channels, one brand in one year, one province, one model; repetitions cycle through them."""
    brand_rows = con.execute(
        "SELECT brand, product, count(*) AS n FROM feedback WHERE brand IS NOT NULL "
        "GROUP BY ALL ORDER BY n DESC, brand, product"
    ).fetchall()
    channel_rows = con.execute(
        "SELECT channel FROM feedback WHERE channel IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 2"
    ).fetchall()
    region_rows = con.execute(
        "SELECT region FROM feedback WHERE region IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()
    last = con.execute("SELECT max(created_at) FROM feedback").fetchall()[0][0]
    last_day = last.date() if last is not None else dt.date.today()
    variants = [Filters()]
    if brand_rows:
        variants.append(Filters(brands=(brand_rows[0][0],)))
    variants.append(Filters(date_from=last_day - dt.timedelta(days=182), date_to=last_day))
    if channel_rows:
        variants.append(Filters(channels=tuple(r[0] for r in channel_rows)))
    if len(brand_rows) > 3:
        year = last_day.year - 1
        variants.append(Filters(brands=(brand_rows[3][0],), date_from=dt.date(year, 1, 1),
                                date_to=dt.date(year, 12, 31)))
    if region_rows:
        variants.append(Filters(regions=(region_rows[0][0],)))
    if brand_rows:
        variants.append(Filters(brands=(brand_rows[-1][0],), products=(brand_rows[-1][1],)))
    return variants
