"""Data permissions: a user restricted to 华为 never sees another brand's rows, names or exports.

Three levels: the filter object (``Filters.scope`` is always ANDed in, never read from or written to the URL),
the analytics functions and option lists on the annotated fixture, and AppTest sessions of the demo account
``huawei`` on every dashboard page, whose whole element tree (text, tables, widget options, Plotly figures)
and every CSV/XLSX download are searched for other brands' names and rows.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import streamlit.testing.v1.app_test as app_test_module
from google.protobuf import text_format
from openpyxl import load_workbook
from streamlit.testing.v1 import AppTest

from analytics import aspects, drivers, nps, options, overview, parameter_map, quotes
from analytics.filters import Filters
from components import downloads
from data import export
from data.scope import Scope
from data.store import connect
from tests.analytics_fixture import AnnotatedFixture, annotated_store
from tests.app_session import signed_in
from tests.test_app import ServerLikePagesManager

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 60
TABLES = ("datasets", "feedback", "aspect_mentions", "feedback_sentiment", "products")
HUAWEI = Scope(brands=("华为",))
OTHER_BRANDS = ("小米", "vivo", "苹果")
OTHER_PRODUCTS = ("Redmi K70", "X100 Pro", "Y100", "iPhone 15")
# A review of another brand holding a term (续航) that 华为's reviews use too.
APPLE_TEXT = "苹果专属：信号很差，续航很差"


def add_apple(con) -> None:  # type: ignore[no-untyped-def]
    """A few 苹果 rows (feedback, mention, sentiment, product specs) so a URL can name 苹果."""
    for i in range(3):
        fid = 99_000 + i
        con.execute(
            "INSERT INTO feedback (feedback_id, dataset_id, source_row, content_hash, channel, brand,"
            " product, created_at, rating, text, region) VALUES (?, 1, ?, ?, '京东', '苹果', 'iPhone 15',"
            " TIMESTAMP '2025-03-01 10:00', 2, ?, '广东')",
            [fid, fid, f"apple{i}", f"{APPLE_TEXT}{i}"],
        )
        con.execute(
            "INSERT INTO aspect_mentions VALUES (?, 1, '苹果', 'iPhone 15', '京东',"
            " TIMESTAMP '2025-03-01 10:00', '电池/续航', '电池', '续航', '续航很差', 9, 11, 'negative', 0.9,"
            " 'test-1')",
            [fid],
        )
        con.execute(
            "INSERT INTO feedback_sentiment (feedback_id, dataset_id, text_hash, sentiment, score,"
            " pipeline_version) VALUES (?, 1, ?, 'negative', 0.1, 'test-1')",
            [fid, f"ta{i}"],
        )
    con.execute(
        "INSERT INTO products (brand, product, launch_price_cny, weight_g, thickness_mm, battery_mah,"
        " screen_in) VALUES ('苹果', 'iPhone 15', 5999, 171, 7.8, 3349, 6.1)"
    )


@pytest.fixture(scope="module", params=["base tables", "rollups"])
def memory_store(request: pytest.FixtureRequest) -> Iterator[tuple[object, AnnotatedFixture]]:
    """The annotated fixture plus 苹果 rows; once read from the base tables, once through the rollups."""
    con, fx = annotated_store(n_reviews=300, n_survey=200)
    add_apple(con)
    if request.param == "rollups":
        try:
            from analytics.rollup_source import use_rollups
            from data import rollups
        except ImportError as exc:
            pytest.skip(f"rollups not available: {exc}")
        rollups.rebuild(con)
        assert use_rollups(con), "the rollups were rebuilt but are not used"
    yield con, fx
    con.close()


@pytest.fixture(scope="module")
def store_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AnnotatedFixture]:
    path = tmp_path_factory.mktemp("permissions") / "store.duckdb"
    connect(path).close()
    memory, fx = annotated_store(n_reviews=300, n_survey=200)
    add_apple(memory)
    memory.execute(f"ATTACH '{path}' AS target")
    for table in TABLES:
        memory.execute(f"INSERT INTO target.main.{table} SELECT * FROM memory.main.{table}")
    memory.execute("DETACH target")
    memory.close()
    return path, fx


def other_markers(fx: AnnotatedFixture) -> list[str]:
    """Strings that identify rows of other brands: each row's unique text prefix ``第{i}条：``."""
    others = fx.feedback[fx.feedback["brand"] != "华为"]
    return [str(text).split("：")[0] + "：" for text in others["text"]] + [APPLE_TEXT[:5]]


# --- the filter object ----------------------------------------------------------------------------------


def test_where_always_ands_the_scope_and_the_url_never_carries_it() -> None:
    f = Filters(brands=("小米",), scope=HUAWEI)
    sql, params = f.where(alias="f")
    assert "f.brand IN (SELECT unnest($brands))" in sql and "f.brand IN (SELECT unnest($scope_brands))" in sql
    assert params["scope_brands"] == ["华为"]
    assert "华为" not in json.dumps(f.to_query_params(), ensure_ascii=False)
    back = Filters.from_query_params({**f.to_query_params(), "scope": "小米", "scope_brands": "小米"})
    assert back.scope == Scope()  # a URL cannot set (or widen) a scope
    assert f.with_(brands=()).scope == HUAWEI and f.with_(date_from=None).scope == HUAWEI


def test_within_only_narrows_and_disjoint_scopes_match_nothing() -> None:
    assert Filters().within(HUAWEI).scope == HUAWEI
    assert Filters(scope=HUAWEI).within(Scope()).scope == HUAWEI
    both = Filters(scope=Scope(brands=("华为", "小米"))).within(Scope(brands=("小米", "vivo")))
    assert both.scope.brands == ("小米",)
    nothing = Filters(scope=HUAWEI).within(Scope(brands=("小米",)))
    assert nothing.scope.deny_all and nothing.where()[0] == "FALSE"
    assert Scope.nothing().intersect(Scope()).deny_all


def test_regions_on_tables_without_a_region_column_become_a_semi_join() -> None:
    sql, params = Filters(scope=Scope(regions=("广东",))).where(alias="m", region_column=False)
    assert "m.region" not in sql and "FROM feedback WHERE region IN (SELECT unnest($scope_regions))" in sql
    assert params == {"scope_regions": ["广东"]}


# --- analytics and option lists --------------------------------------------------------------------------


def test_sidebar_options_hold_only_the_scope(memory_store) -> None:
    con, fx = memory_store
    everything = options.filter_options(con)
    assert set(OTHER_BRANDS) <= set(everything.brands)
    scoped = options.filter_options(con, HUAWEI)
    assert scoped.brands == ("华为",)
    assert {b for b, _ in scoped.products} == {"华为"}
    assert not set(OTHER_PRODUCTS) & {p for _, p in scoped.products}
    huawei_regions = set(fx.feedback.loc[fx.feedback["brand"] == "华为", "region"])
    assert set(scoped.regions) == huawei_regions
    assert options.filter_options(con, Scope.nothing()).brands == ()


def test_every_analytics_query_stays_inside_the_scope(memory_store) -> None:
    con, fx = memory_store
    f = Filters(scope=HUAWEI)
    huawei = fx.feedback[fx.feedback["brand"] == "华为"]
    assert overview.overview_kpis(con, f).feedback == len(huawei)
    for rows in ("brand", "product", "channel"):
        heat = aspects.aspect_heatmap(con, f, rows)
        if "brand" in heat.columns:
            assert set(heat["brand"]) == {"华为"}
    mentions = fx.mentions[fx.mentions["brand"] == "华为"]
    assert int(aspects.aspect_summary(con, f)["n"].sum()) == len(mentions)
    assert set(nps.nps_trend_by(con, f, "month", "brand")["segment"].dropna()) <= {"华为"}
    pmap = parameter_map.parameter_map(con, f, "weight_g", "thickness_mm")
    assert set(pmap.points["brand"]) == {"华为"}
    wanted = [("华为", "Mate 60"), ("小米", "14"), ("苹果", "iPhone 15")]
    unscoped = parameter_map.compare_products(con, Filters(), wanted)
    assert set(unscoped.specs["brand"]) == {"华为", "小米", "苹果"}  # the check below can fail
    compared = parameter_map.compare_products(con, f, wanted)
    for frame in (compared.specs, compared.aspects, compared.nps, compared.rating):
        assert set(frame["brand"]) <= {"华为"}, frame
    typical = quotes.typical_quotes(con, f, k=10)
    assert set(typical.quotes["brand"]) == {"华为"}
    assert quotes.search_feedback(con, Filters(), "专属").n_matching == 3  # only 苹果's reviews hold it
    assert quotes.search_feedback(con, f, "专属").n_matching == 0
    hits = quotes.search_feedback(con, f, "续航")
    assert hits.n_matching > 0 and set(hits.rows["brand"]) == {"华为"}
    assert 0 < drivers.key_drivers(con, f).n <= len(huawei)
    # A sidebar brand outside the scope selects nothing, not that brand.
    assert overview.overview_kpis(con, Filters(brands=("小米",), scope=HUAWEI)).feedback == 0
    assert quotes.search_feedback(con, Filters(brands=("苹果",), scope=HUAWEI), "专属").n_matching == 0


def test_a_region_scope_reaches_aspect_mentions(memory_store) -> None:
    con, fx = memory_store
    f = Filters(scope=Scope(regions=("广东",)))
    ids = set(fx.feedback.loc[fx.feedback["region"] == "广东", "feedback_id"]) | {99_000, 99_001, 99_002}
    expected = int(fx.mentions["feedback_id"].isin(ids).sum()) + 3
    assert int(aspects.aspect_summary(con, f)["n"].sum()) == expected


# --- AppTest sessions of the 华为-only demo account ------------------------------------------------------


@pytest.fixture(autouse=True)
def server_like_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    ServerLikePagesManager.runs = 0
    monkeypatch.setattr(app_test_module, "PagesManager", ServerLikePagesManager)


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bytes]]:
    """Every CSV/XLSX the UI hands to a download button during the test, as bytes."""
    captured: list[tuple[str, bytes]] = []

    def recorder(kind: str, real):  # type: ignore[no-untyped-def]
        def wrapped(frame: pd.DataFrame, *args: object, **kwargs: object) -> bytes:
            data = real(frame, *args, **kwargs)
            captured.append((kind, data))
            return data

        return wrapped

    monkeypatch.setattr(downloads, "csv_bytes", recorder("csv", export.csv_bytes))
    monkeypatch.setattr(downloads, "xlsx_bytes", recorder("xlsx", export.xlsx_bytes))
    return captured


@pytest.fixture
def app(store_file, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("TINGJIAN_DB", str(store_file[0]))
    return signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT), "huawei")


def tree_text(node: object) -> str:
    """Everything an AppTest element tree shows: text, widget options, table cells, figure data."""
    parts: list[str] = []
    kind = getattr(node, "type", "")
    value = getattr(node, "value", None) if kind in {"arrow_data_frame", "table"} else None
    if isinstance(value, pd.DataFrame):
        parts.append(value.to_csv())
    proto = getattr(node, "proto", None)
    if getattr(node, "type", "") == "plotly_chart" and proto is not None:
        parts.append(json.dumps(json.loads(proto.spec), ensure_ascii=False))
    elif proto is not None and hasattr(proto, "DESCRIPTOR"):
        parts.append(text_format.MessageToString(proto, as_utf8=True))
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        parts.extend(tree_text(child) for child in children.values())
    return "\n".join(parts)


def assert_only_huawei(at: AppTest, fx: AnnotatedFixture, where: str) -> str:
    assert not at.exception, [e.value for e in at.exception]
    text = tree_text(at._tree)
    assert "华为" in text, f"{where}: the page shows no 华为 data at all"
    leaked = [name for name in (*OTHER_BRANDS, *OTHER_PRODUCTS) if name in text]
    assert not leaked, f"{where}: shows {leaked}"
    rows = [m for m in other_markers(fx) if m in text]
    assert not rows, f"{where}: shows rows of other brands {rows[:5]}"
    return text


def assert_exports_only_huawei(captured: list[tuple[str, bytes]], fx: AnnotatedFixture) -> None:
    assert captured, "no export was produced"
    markers = other_markers(fx)
    for kind, data in captured:
        if kind == "csv":
            table = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str)
        else:
            sheet = load_workbook(io.BytesIO(data)).active
            values = list(sheet.values)
            table = pd.DataFrame(values[1:], columns=values[0], dtype=str)
        flat = table.to_csv()
        assert not [n for n in (*OTHER_BRANDS, *OTHER_PRODUCTS) if n in flat], (kind, flat[:500])
        assert not [m for m in markers if m in flat], (kind, flat[:500])
        brand_columns = [c for c in table.columns if str(c) in {"brand", "品牌"}]
        for column in brand_columns:
            assert set(table[column].dropna()) <= {"华为"}, (kind, column)


PAGE_CONTROLS: dict[str, dict[str, object]] = {
    "overview": {},
    "nps": {"nps_split": "brand"},
    "drivers": {},
    "aspects": {"aspects_rows": "brand"},
    "competitors": {},
    "quotes": {},
}


@pytest.mark.parametrize("page", list(PAGE_CONTROLS))
def test_a_restricted_user_sees_only_huawei_on_every_page(app: AppTest, store_file, page: str) -> None:
    _, fx = store_file
    at = app.run()
    at.switch_page(f"pages/{page}.py").run()
    assert_only_huawei(at, fx, page)
    assert at.sidebar.multiselect(key="filter_brands").options == ["华为"]
    for key, value in PAGE_CONTROLS[page].items():
        at.session_state[key] = value
    if PAGE_CONTROLS[page]:
        at.run()
        assert_only_huawei(at, fx, f"{page} with {PAGE_CONTROLS[page]}")


def test_search_for_another_brands_words_finds_nothing_and_exports_only_huawei(
    app: AppTest, store_file, exports: list[tuple[str, bytes]]
) -> None:
    _, fx = store_file
    at = app.run()
    at.switch_page("pages/quotes.py").run()
    assert_only_huawei(at, fx, "quotes typical")
    at.session_state["quotes_mode"] = "search"
    at.run()
    at.text_input(key="quotes_query").input("专属").run()  # a word only 苹果's reviews contain
    assert any("没有包含" in i.value for i in at.info)
    at.text_input(key="quotes_query").input("续航").run()  # a word every brand's reviews contain
    text = assert_only_huawei(at, fx, "quotes search 续航")
    assert "续航" in text and not any("没有包含" in i.value for i in at.info)
    assert_exports_only_huawei(exports, fx)
    assert {kind for kind, _ in exports} == {"csv", "xlsx"}


def test_every_download_of_the_dashboards_holds_only_huawei(
    app: AppTest, store_file, exports: list[tuple[str, bytes]]
) -> None:
    _, fx = store_file
    at = app.run()
    for page in ("nps", "drivers", "quotes"):
        at.switch_page(f"pages/{page}.py").run()
        assert_only_huawei(at, fx, page)
    assert len(exports) >= 3
    assert_exports_only_huawei(exports, fx)


def test_a_url_naming_another_brand_shows_nothing_of_it(app: AppTest, store_file) -> None:
    _, fx = store_file
    app.query_params = {"brands": "苹果"}
    at = app.switch_page("pages/overview.py").run()
    assert_only_huawei(at, fx, "overview?brands=苹果")
    assert at.sidebar.multiselect(key="filter_brands").value == []
    at.switch_page("pages/quotes.py").run()
    at.session_state["quotes_mode"] = "search"
    at.run()
    at.text_input(key="quotes_query").input("专属").run()
    assert_only_huawei(at, fx, "quotes?brands=苹果")
    assert any("没有包含" in i.value for i in at.info)


def test_an_unrestricted_user_does_see_the_other_brands(store_file, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks above can fail: the same tree for the admin demo account holds the other brands."""
    monkeypatch.setenv("TINGJIAN_DB", str(store_file[0]))
    at = signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT), "demo").run()
    at.switch_page("pages/aspects.py").run()
    at.session_state["aspects_rows"] = "brand"
    at.run()
    text = tree_text(at._tree)
    assert all(name in text for name in OTHER_BRANDS)
    assert set(at.sidebar.multiselect(key="filter_brands").options) >= {"华为", *OTHER_BRANDS}
