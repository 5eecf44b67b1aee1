"""The planted stories of the demo market are visible through the dashboards' analytics.

Builds the demo into a temporary store, annotates it with the shipped NLP pipeline and asserts each story
with the functions the pages use. Slow (≈ 3 minutes on 2 cores: annotation of ~42k texts).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics.aspects import aspect_changes, aspect_heatmap, aspect_trend
from analytics.filters import Filters
from analytics.nps import nps_trend_by
from analytics.parameter_map import parameter_map
from data.demo import build_demo
from data.demo_truth import (
    DEMO_SPEC_REGIONS,
    LOGISTICS_CHANNEL,
    LOGISTICS_MONTH,
    OVERHEATING_PRODUCT,
    SERVICE_BRAND,
    SERVICE_DECLINE_MONTH,
    STORIES_BY_ID,
)
from data.store import connect
from tests.app_session import signed_in
from tests.test_app import APP, assert_ok, plotly_charts, server_like_pages  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory):
    from models.annotation_store import annotate_dataset

    path: Path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    con = connect(path)
    build_demo(con)
    summary = annotate_dataset(con)
    assert summary.feedback_annotated > 30_000
    yield con
    con.close()


def test_overheating_product_has_the_lowest_heat_score(demo_store) -> None:
    frame = aspect_heatmap(demo_store, Filters(), rows="product", parent="电池")
    heat = frame[(frame["aspect"] == "电池/发热") & ~frame["small_sample"]]
    assert heat.sort_values("net").iloc[0]["product"] == OVERHEATING_PRODUCT


def test_service_decline_is_flagged_significant(demo_store) -> None:
    trend = nps_trend_by(demo_store, Filters(brands=(SERVICE_BRAND,)), "month")
    decline = trend[trend["period"] == pd.Timestamp(f"{SERVICE_DECLINE_MONTH}-01")].iloc[0]
    assert decline["significant"] and decline["change"] < -20
    before = trend[trend["period"] < pd.Timestamp(f"{SERVICE_DECLINE_MONTH}-01")]
    assert not before["significant"].tail(6).any()  # nothing before it looks like it
    start = dt.date.fromisoformat(f"{SERVICE_DECLINE_MONTH}-01")
    changes = aspect_changes(
        demo_store, Filters(brands=(SERVICE_BRAND,), date_from=start, date_to=dt.date(2025, 6, 30))
    ).set_index("aspect")
    service = STORIES_BY_ID["service_decline"].aspect_path.split("/")[0]
    assert changes.loc[service, "significant"] and changes.loc[service, "change"] < -20
    assert changes["change"].idxmin() == service  # the aspect that worsened most


def test_double11_logistics_delays(demo_store) -> None:
    trend = aspect_trend(demo_store, Filters(channels=(LOGISTICS_CHANNEL,)), "物流").set_index("period")
    month = pd.Timestamp(f"{LOGISTICS_MONTH}-01")
    assert trend["net"].idxmin() == month
    previous = trend.loc[: month - pd.Timedelta(days=1)].iloc[-1]
    assert trend.loc[month, "high"] < previous["low"]


@pytest.mark.parametrize("region", DEMO_SPEC_REGIONS, ids=lambda r: f"{r.x}-{r.y}")
def test_parameter_map_colours_planted_regions(demo_store, region) -> None:
    pmap = parameter_map(demo_store, Filters(), region.x, region.y, region.metric)
    points = pmap.points.set_index("product")
    for name in region.good_products:
        assert pmap.value_at(points.loc[name, "x"], points.loc[name, "y"]) > pmap.centre, name
    for name in region.bad_products:
        assert pmap.value_at(points.loc[name, "x"], points.loc[name, "y"]) < pmap.centre, name


# --- every page on the real, annotated demo market ---------------------------------------------------------

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
PAGE_FILES = sorted(p.name for p in PAGES_DIR.glob("*.py") if p.name != "__init__.py")
CHART_PAGES = {"overview.py", "nps.py", "aspects.py", "competitors.py", "drivers.py"}


@pytest.mark.parametrize("page_file", PAGE_FILES)
def test_every_page_runs_on_the_demo_market(
    demo_store, page_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = demo_store.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    monkeypatch.setenv("TINGJIAN_DB", path.fetchall()[0][0])
    at = signed_in(AppTest.from_file(APP, default_timeout=120)).run()
    at.switch_page(f"pages/{page_file}").run()
    assert_ok(at)
    if page_file in CHART_PAGES:
        assert plotly_charts(at), f"pages/{page_file} shows no chart on the demo market"
