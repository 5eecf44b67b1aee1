"""AppTests of 体验指标 (aspects), 竞品对比 (competitors) and 客户原声 (quotes), plus their pure helpers.

The store is the annotated analytics fixture (tests/analytics_fixture.py: 6 products, 5 aspects, sentiment
and aspect mentions) copied into a DuckDB file, so the pages see annotations without running the NLP.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
import streamlit.testing.v1.app_test as app_test_module
from openpyxl import load_workbook
from streamlit.testing.v1 import AppTest

from analytics.filters import Filters
from components.charts_aspects import heatmap_figure, keep_rows, row_keys_by_label
from components.quote_view import highlight_markdown
from data.store import connect
from tests.analytics_fixture import AnnotatedFixture, annotated_store
from tests.app_session import signed_in
from tests.test_app import ServerLikePagesManager, plotly_values

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 60
TABLES = ("datasets", "feedback", "aspect_mentions", "feedback_sentiment", "products")


@pytest.fixture(autouse=True)
def server_like_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    ServerLikePagesManager.runs = 0
    monkeypatch.setattr(app_test_module, "PagesManager", ServerLikePagesManager)


@pytest.fixture(scope="module")
def annotated_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AnnotatedFixture]:
    """The annotated fixture written into a store file (schema from ``connect``, rows copied over)."""
    path = tmp_path_factory.mktemp("product_pages") / "annotated.duckdb"
    connect(path).close()
    memory, fx = annotated_store(n_reviews=300, n_survey=200)
    memory.execute(f"ATTACH '{path}' AS target")
    for table in TABLES:
        memory.execute(f"INSERT INTO target.main.{table} SELECT * FROM memory.main.{table}")
    # One review of a brand without any aspect mention (for the empty state).
    memory.execute(
        "INSERT INTO target.main.feedback (feedback_id, dataset_id, source_row, content_hash, brand, product,"
        " created_at, rating, text) VALUES (99999, 1, 99999, 'h-oppo', 'OPPO', 'Find X7',"
        " TIMESTAMP '2025-03-01 10:00', 4, '还行')"
    )
    memory.execute("DETACH target")
    memory.close()
    return path, fx


@pytest.fixture
def app(annotated_db, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("TINGJIAN_DB", str(annotated_db[0]))
    return signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT))


def open_page(at: AppTest, page: str) -> AppTest:
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_spec(at: AppTest, key: str) -> dict:
    """The Plotly figure of the chart with element key ``key``."""
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key)]
    assert charts, f"no chart {key!r}; charts: {[c.proto.id for c in at.get('plotly_chart')]}"
    return json.loads(charts[0].proto.spec)


def chart_keys(at: AppTest) -> list[str]:
    return [c.proto.id for c in at.get("plotly_chart")]


def markdown_texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


# --- pure helpers ---------------------------------------------------------------------------------------


def test_highlight_escapes_the_text_and_wraps_only_the_spans() -> None:
    text = "续航[点我](http://x) <b>很差</b>，屏幕*好*"
    spans = [
        {"start": 0, "end": 2, "term": "续航", "polarity": "negative"},
        {"start": text.index("屏幕"), "end": text.index("屏幕") + 2, "term": "屏幕", "polarity": "positive"},
        {"start": 1, "end": 3, "term": "航[", "polarity": "neutral"},  # overlaps the first: skipped
    ]
    out = highlight_markdown(text, spans)
    assert out.startswith(":red-background[**续航**]")
    assert ":green-background[**屏幕**]" in out
    assert "\\[点我\\]\\(http\\:" in out and "\\<b\\>" in out and "\\*好\\*" in out
    assert "gray-background" not in out
    # Spaces inside the text survive piecewise escaping.
    assert highlight_markdown("a b c", [{"start": 2, "end": 3}]) == "a :orange-background[**b**] c"


def test_heatmap_rows_and_selected_cell() -> None:
    con, _ = annotated_store(n_reviews=200, n_survey=0)
    from analytics.aspects import aspect_heatmap

    cells = aspect_heatmap(con, Filters(), "product")
    labels = row_keys_by_label(cells, ("brand", "product"))
    assert len(labels) == 6 and all(len(k) == 2 for k in labels.values())
    first = next(iter(labels))
    fig = heatmap_figure(cells, ("brand", "product"), "zh", (first, "电池"))
    heat = fig.data[0]
    assert heat.type == "heatmap" and heat.zmid == 0 and heat.zmin == -100
    # The cell text is the volume: it sums to all mentions.
    total = sum(int(v.rstrip("*").replace(",", "")) for row in heat.text for v in row if v)
    assert total == int(cells["n"].sum())
    assert fig.data[-1].marker.symbol == "square-open"  # the selection outline
    con.close()


def test_rows_without_a_key_are_shown_but_not_drillable() -> None:
    cells = pd.DataFrame(
        {"channel": ["京东", None, "天猫"], "aspect": ["电池"] * 3, "n": [40, 5, 30],
         "net": [0.0, -60.0, -33.0], "low": [-10.0, -90.0, -50.0], "high": [10.0, 0.0, -10.0]}
    )
    labels = row_keys_by_label(cells, ("channel",), "zh", limit=1)
    assert labels == {"京东": ("京东",)}  # the largest complete row only
    kept = keep_rows(cells, ("channel",), labels)
    assert list(heatmap_figure(kept, ("channel",)).data[0].y) == ["京东", "（未标注）"]


# --- 体验指标 ---------------------------------------------------------------------------------------------


def test_aspects_page_drill_down_follows_the_selected_cell(app: AppTest, annotated_db) -> None:
    _, fx = annotated_db
    at = open_page(app, "aspects")
    assert at.title[0].value == "体验指标"
    keys = chart_keys(at)
    assert len(keys) == 3, keys  # heatmap, volume trend, cell trend
    # Drive the drill-down through the accessible selectboxes: vivo X100 Pro × 电池 (its heat is bad).
    at.selectbox(key="aspects_cell_row").set_value("vivo · X100 Pro").run()
    at.selectbox(key="aspects_cell_aspect").set_value("电池").run()
    assert not at.exception, [e.value for e in at.exception]
    texts = markdown_texts(at)
    assert any("vivo · X100 Pro × 电池" in m and "走势" in m for m in texts)
    # The cell trend's n bars sum to the cell's dated mentions in the fixture.
    m = fx.mentions
    cell = m[(m["product"] == "X100 Pro") & (m["aspect_path"].str.startswith("电池"))]
    trend = chart_spec(at, "aspects_cell_trend")
    bars = next(trace for trace in trend["data"] if trace["type"] == "bar")
    assert sum(plotly_values(bars["y"])) == len(cell)
    # Quotes of that cell: every card names X100 Pro and highlights a battery term.
    cards = [c.value for c in at.caption if "X100 Pro" in c.value]
    assert cards
    quote_texts = [q for q in texts if "-background[**" in q]
    assert quote_texts and all(("续航" in q or "发热" in q) for q in quote_texts)
    # Negative only: every highlighted battery term is red.
    at.segmented_control(key="aspects_polarity").set_value("negative").run()
    quote_texts = [q for q in markdown_texts(at) if "-background[**" in q]
    assert quote_texts and all(":red-background[**" in q for q in quote_texts)


def test_aspects_page_rows_and_expand_change_the_heatmap(app: AppTest) -> None:
    at = open_page(app, "aspects")

    def heatmap() -> dict:
        return chart_spec(at, "aspects_heatmap")

    before = heatmap()["data"][0]
    assert len(before["y"]) == 6 and "电池" in before["x"]
    at.segmented_control(key="aspects_rows").set_value("brand").run()
    assert sorted(heatmap()["data"][0]["y"]) == sorted(["华为", "小米", "vivo"])
    at.selectbox(key="aspects_level").set_value("电池").run()
    assert not at.exception
    assert sorted(heatmap()["data"][0]["x"]) == ["电池/发热", "电池/续航"]
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Aspects"


def test_aspects_page_without_mentions_explains(app: AppTest) -> None:
    app.query_params = {"brands": "OPPO"}
    at = open_page(app, "aspects")
    assert at.sidebar.multiselect(key="filter_brands").value == ["OPPO"]
    assert not chart_keys(at)
    assert any("没有指标提及" in w.value for w in at.warning)


# --- 竞品对比 ---------------------------------------------------------------------------------------------


def test_competitor_map_marks_our_products(app: AppTest) -> None:
    at = open_page(app, "competitors")
    assert at.title[0].value == "竞品对比"
    # The comparison starts with our most reviewed products and the most reviewed competitor.
    default_pick = at.multiselect(key="competitors_pick").value
    assert [b for b, _ in default_pick[:2]] == ["华为", "华为"] and default_pick[2][0] != "华为"
    spec = chart_spec(at, "competitors_map")
    traces = {trace.get("name"): trace for trace in spec["data"]}
    ours = traces["我方产品"]
    assert ours["marker"]["symbol"] == "star"
    assert sorted(ours["text"]) == ["华为 Mate 60", "华为 nova 12"]
    assert len(traces["竞品"]["text"]) == 4
    surface = next(trace for trace in spec["data"] if trace["type"] == "heatmap")
    assert surface["coloraxis"] == "coloraxis"
    layout_axis = spec["layout"]["coloraxis"]
    assert layout_axis["cmin"] < layout_axis["cmid"] < layout_axis["cmax"]
    assert "中心值" in layout_axis["colorbar"]["title"]["text"]
    # Another parameter changes the map's x values.
    x_before = plotly_values(ours["x"])
    at.selectbox(key="competitors_x").set_value("launch_price_cny").run()
    assert not at.exception
    spec = chart_spec(at, "competitors_map")
    ours_after = next(trace for trace in spec["data"] if trace.get("name") == "我方产品")
    assert sorted(plotly_values(ours_after["x"])) == [2499.0, 5999.0] != sorted(x_before)
    # An aspect metric works too.
    at.selectbox(key="competitors_metric").set_value("aspect:电池").run()
    assert not at.exception
    assert "电池 净情感" in json.dumps(chart_spec(at, "competitors_map"), ensure_ascii=False)


def test_competitor_comparison_shows_specs_aspects_and_nps(app: AppTest) -> None:
    at = open_page(app, "competitors")
    at.multiselect(key="competitors_pick").set_value([("华为", "Mate 60"), ("vivo", "X100 Pro")]).run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [d.value for d in at.dataframe]
    spec_table = next(t for t in tables if "华为 Mate 60 ★" in t.columns)
    assert "vivo X100 Pro" in spec_table.columns
    scores = next(t for t in tables if "NPS" in t.columns)
    assert len(scores) == 2 and scores["NPS"].notna().all()
    assert len(spec_table) == 5  # price, weight, thickness, battery, screen
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not at.exception and at.title[0].value == "Competitors"


# --- 客户原声 ---------------------------------------------------------------------------------------------


def test_quotes_page_typical_quotes_and_export(app: AppTest) -> None:
    at = open_page(app, "quotes")
    assert at.title[0].value == "客户原声"
    at.selectbox(key="quotes_aspect").set_value("拍照").run()
    at.segmented_control(key="quotes_polarity").set_value("negative").run()
    assert not at.exception
    quotes = [m for m in markdown_texts(at) if "-background[**" in m]
    assert len(quotes) == 5 and all(":red-background[**拍照**]" in q for q in quotes)
    assert len(set(quotes)) == 5
    at.number_input(key="quotes_k").set_value(3).run()
    assert len([m for m in markdown_texts(at) if "-background[**" in m]) == 3
    downloads = at.get("download_button")
    assert len(downloads) == 2  # CSV and Excel


def test_quotes_page_search_for_a_chinese_word(app: AppTest, annotated_db) -> None:
    _, fx = annotated_db
    at = open_page(app, "quotes")
    at.segmented_control(key="quotes_mode").set_value("search").run()
    at.text_input(key="quotes_query").input("发热很差").run()
    assert not at.exception, [e.value for e in at.exception]
    expected = fx.feedback[fx.feedback["text"].str.contains("发热很差")]
    assert len(expected) > 0
    assert any(f"找到 {len(expected):,} 条" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "原文" in d.value.columns)
    assert len(table) == min(len(expected), 200)
    assert table["原文"].str.contains("发热很差").all()
    assert any(":orange-background[**发热很差**]" in m for m in markdown_texts(at))
    assert len(at.get("download_button")) == 2
    at.text_input(key="quotes_query").input("不存在的词").run()
    assert any("没有包含" in i.value for i in at.info)
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not at.exception and at.title[0].value == "Customer quotes"


def test_quotes_page_search_with_more_hits_than_shown_counts_on_request(app: AppTest, annotated_db) -> None:
    _, fx = annotated_db
    expected = int(fx.feedback["text"].str.contains("很", na=False).sum())
    assert expected > 200  # more than the page shows: the search does not count them by itself
    at = open_page(app, "quotes")
    at.segmented_control(key="quotes_mode").set_value("search").run()
    at.text_input(key="quotes_query").input("很").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("显示最新 200 条，可能还有更多" in c.value for c in at.caption)
    assert not any("共 " in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "原文" in d.value.columns)
    assert len(table) == 200
    at.button(key="quotes_count").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"共 {expected:,} 条匹配，显示最新的 200 条" in c.value for c in at.caption)
    at.sidebar.radio(key="lang").set_value("en").run()  # the count stays for the same search
    assert any(f"{expected:,} match in all" in c.value for c in at.caption)
    assert all(b.key != "quotes_count" for b in at.button)
    at.text_input(key="quotes_query").input("很好").run()  # a new search is not counted until asked
    assert any("there may be more" in c.value for c in at.caption)
    assert any(b.key == "quotes_count" for b in at.button)


def test_quote_export_files_are_readable() -> None:
    from analytics.quotes import search_feedback
    from components.downloads import csv_bytes
    from components.quote_view import export_table
    from data.export import xlsx_bytes

    con, _ = annotated_store(n_reviews=200, n_survey=0)
    rows = search_feedback(con, Filters(), "续航").rows
    con.close()
    flat = export_table(rows)
    assert "命中词" in flat.columns and "原文" in flat.columns
    back = pd.read_csv(io.BytesIO(csv_bytes(flat)), encoding="utf-8-sig")
    assert len(back) == len(rows) and back["命中词"].str.contains("续航").all()
    sheet = load_workbook(io.BytesIO(xlsx_bytes(flat))).active
    assert sheet.max_row == len(rows) + 1

