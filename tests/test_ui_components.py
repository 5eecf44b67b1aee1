"""UI building blocks without a running app: CSV export safety, chart honesty, sidebar state helpers, and
the import flow's logic (read, map, preview, import) on small uploaded files."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import pandas as pd
import pytest

from analytics.filters import Filters
from analytics.metrics import nps_interval
from analytics.options import DatasetOption, FilterOptions
from analytics.overview import nps_trend, volume_by_channel
from components import charts, import_flow
from components.downloads import csv_bytes
from components.safe_text import escape_markdown
from components.sidebar import filters_from_widgets, fit_dates, restrict_to_options, wanted_query_params
from data.export import neutralise_cell
from data.ingest import rejected_rows
from data.store import connect
from tests.fixture_store import fill

# --- downloads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["=1+1", "+86 138", "-2", "@SUM(A1)", "\tx", "\r=cmd"])
def test_formula_cells_are_neutralised(value: str) -> None:
    assert neutralise_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["好评", "a=b", "", 3, -2.5, None])
def test_other_cells_are_left_alone(value: object) -> None:
    assert neutralise_cell(value) == value


def test_csv_bytes_has_bom_and_round_trips_chinese() -> None:
    frame = pd.DataFrame({"reason": ["评分超出范围 (11)", "=HYPERLINK(\"x\")"], "source_row": [3, 7]})
    data = csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert back["reason"].tolist() == ["评分超出范围 (11)", "'=HYPERLINK(\"x\")"]
    assert back["source_row"].tolist() == [3, 7]  # numbers are not touched
    assert frame["reason"].iloc[1].startswith("=")  # the caller's frame is not mutated


# --- text from files shown as text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("[点击领奖](http://x.cn)", r"\[点击领奖\]\(http\://x\.cn\)"),
        ("**华为** :red[差评] $x$", r"\*\*华为\*\* \:red\[差评\] \$x\$"),
        ("评论.csv\n第二行", r"评论\.csv 第二行"),
        ("小米", "小米"),
    ],
)
def test_escape_markdown(raw: str, shown: str) -> None:
    assert escape_markdown(raw) == shown


# --- charts ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store():
    con = connect(":memory:")
    fixture = fill(con)
    yield con, fixture
    con.close()


def test_nps_trend_figure_shows_band_and_n(store) -> None:
    con, _ = store
    trend = nps_trend(con, Filters())
    fig = charts.nps_trend_figure(trend, "zh")
    names = [trace.name for trace in fig.data]
    assert "95% 置信区间" in names and "NPS" in names
    line = next(trace for trace in fig.data if trace.name == "NPS")
    assert list(line.y) == pytest.approx(trend["nps"].tolist())
    assert [c[2] for c in line.customdata] == trend["n"].tolist()  # n on hover for every point
    bars = [trace for trace in fig.data if trace.type == "bar"]
    assert list(bars[0].y) == trend["n"].tolist()
    assert fig.layout.yaxis.title.text.startswith("NPS") and fig.layout.yaxis.range == (-100, 100)
    assert fig.layout.yaxis2.title.text == "回答数 n"
    assert fig.layout.xaxis2.title.text == "时间"
    english = charts.nps_trend_figure(trend, "en")
    assert english.layout.xaxis2.title.text == "Period"


def test_small_samples_are_drawn_hollow() -> None:
    trend = pd.DataFrame(
        {"period": pd.to_datetime(["2025-01-01", "2025-02-01"]), "n": [5, 300], "promoters": [3, 150],
         "passives": [1, 100], "detractors": [1, 50], "nps": [40.0, 33.3], "low": [-10.0, 27.0],
         "high": [75.0, 39.0], "small_sample": [True, False]}
    )
    line = next(t for t in charts.nps_trend_figure(trend).data if t.name == "NPS")
    assert list(line.marker.color) == ["white", charts.NPS_COLOR]
    assert "样本少于 30" in line.customdata[0][3] and line.customdata[1][3] == ""


def test_channel_volume_figure_labels_missing_channel(store) -> None:
    con, _ = store
    volume = volume_by_channel(con, Filters())
    fig = charts.channel_volume_figure(volume, "zh")
    names = [trace.name for trace in fig.data]
    assert any(name.startswith("（未标注渠道）") for name in names)
    assert sum(sum(trace.y) for trace in fig.data) == int(volume["n"].sum())
    assert fig.layout.barmode == "stack" and fig.layout.yaxis.title.text == "评论数"


def test_nps_mix_figure_shares() -> None:
    fig = charts.nps_mix_figure(nps_interval(50, 30, 20), "en")
    assert [trace.x[0] for trace in fig.data] == pytest.approx([50.0, 30.0, 20.0])
    assert fig.data[0].name.startswith("Promoters")
    empty = charts.nps_mix_figure(nps_interval(0, 0, 0))
    assert all(trace.x[0] == 0 for trace in empty.data)


# --- sidebar helpers -------------------------------------------------------------------------------------

OPTIONS = FilterOptions(
    date_min=dt.date(2025, 1, 1),
    date_max=dt.date(2025, 6, 30),
    brands=("Apple", "华为"),
    products=(("Apple", "iPhone 15"), ("华为", "Mate 60")),
    channels=("京东", "天猫"),
    datasets=(DatasetOption(1, "评论", "reviews", False), DatasetOption(2, "问卷", "survey", False)),
)


def test_restrict_to_options_drops_unknown_values_and_bad_dates() -> None:
    wanted = Filters(
        date_from=dt.date(2024, 1, 1), date_to=dt.date(2025, 3, 1), brands=("华为", "诺基亚"),
        products=("Mate 60", "X"), channels=("拼多多",), dataset_ids=(2, 9),
    )
    got = restrict_to_options(wanted, OPTIONS)
    expected = Filters(date_to=dt.date(2025, 3, 1), brands=("华为",), products=("Mate 60",), dataset_ids=(2,))
    assert got == expected


def test_filters_from_widgets_treats_full_span_as_open() -> None:
    full = filters_from_widgets((OPTIONS.date_min, OPTIONS.date_max), [], [], [], [], OPTIONS)
    assert full == Filters()
    february = (dt.date(2025, 2, 1), dt.date(2025, 2, 28))
    part = filters_from_widgets(february, ["华为"], [], ["京东"], [1], OPTIONS)
    assert part == Filters(date_from=dt.date(2025, 2, 1), date_to=dt.date(2025, 2, 28), brands=("华为",),
                           channels=("京东",), dataset_ids=(1,))
    # While the user is picking a range the widget holds only the start date.
    picking = filters_from_widgets((dt.date(2025, 2, 1),), [], [], [], [], OPTIONS)
    assert picking == Filters(date_from=dt.date(2025, 2, 1))


def test_fit_dates_keeps_everything_everything_and_clamps_ranges() -> None:
    span = (OPTIONS.date_min, OPTIONS.date_max)
    old_span = (dt.date(2025, 2, 1), dt.date(2025, 6, 30))
    # "All dates" over the old span becomes all dates over the new, larger span (an import added January).
    assert fit_dates(old_span, old_span, OPTIONS) == span
    assert fit_dates(None, None, OPTIONS) == span
    chosen = (dt.date(2025, 3, 1), dt.date(2025, 3, 31))
    assert fit_dates(chosen, old_span, OPTIONS) == chosen
    assert fit_dates((dt.date(2024, 12, 1), dt.date(2025, 1, 31)), None, OPTIONS) == (
        dt.date(2025, 1, 1), dt.date(2025, 1, 31),
    )
    assert fit_dates((dt.date(2024, 1, 1), dt.date(2024, 2, 1)), None, OPTIONS) == span
    assert fit_dates((dt.date(2025, 3, 1),), None, OPTIONS) == (dt.date(2025, 3, 1),)


def test_query_params_round_trip_with_language() -> None:
    f = Filters(date_from=dt.date(2025, 2, 1), brands=("华为", "Apple"), dataset_ids=(2,))
    params = wanted_query_params(f, "en")
    assert params["lang"] == "en" and params["brands"] == "Apple~华为"
    assert Filters.from_query_params(params) == f
    assert "lang" not in wanted_query_params(f, "zh")


# --- import flow -----------------------------------------------------------------------------------------

CSV = (
    "评论内容,评分,购买时间,手机型号,平台\n"
    "屏幕很清楚，续航一般,4,2025-03-01 10:00,华为 Mate 60,京东\n"
    "拍照好看,5,2025-03-02,Apple iPhone 15,天猫\n"
    ",3,2025-03-03,华为 Mate 60,京东\n"
    "电池太差了,11,2025-03-04,华为 Mate 60,京东\n"
)


def test_load_upload_detects_gbk_and_suggests_mapping() -> None:
    upload = import_flow.load_upload(CSV.encode("gbk"), "评论.csv")
    assert upload.refused is None and upload.table is not None
    assert upload.table.encoding.lower() in {"gbk", "gb18030", "gb2312"}
    assert upload.table.frame["评论内容"].iloc[0] == "屏幕很清楚，续航一般"
    assert import_flow.default_name(upload.filename) == "评论"


def test_load_upload_refuses_random_bytes_with_a_message() -> None:
    upload = import_flow.load_upload(bytes(range(256)) * 20, "noise.csv")
    assert upload.table is None
    assert upload.refused and "noise.csv" in upload.refused


def test_mapped_preview_and_required_fields() -> None:
    upload = import_flow.load_upload(CSV.encode("utf-8"), "评论.csv")
    assert upload.table is not None
    mapping = {"text": "评论内容", "rating": "评分", "product": "手机型号", "brand": ""}
    preview = import_flow.mapped_preview(upload.table.frame, mapping, rows=2)
    assert list(preview.columns) == ["text", "rating", "product"]
    assert preview["text"].tolist() == ["屏幕很清楚，续航一般", "拍照好看"]
    assert import_flow.missing_required(mapping, "reviews") == []
    assert import_flow.missing_required({"brand": "手机型号"}, "reviews") == [("text", "rating", "nps_score")]
    assert import_flow.missing_required({"brand": "x"}, "products") == [("product",)]


def test_run_import_imports_rejects_and_skips_duplicates() -> None:
    con = connect(":memory:")
    upload = import_flow.load_upload(CSV.encode("utf-8-sig"), "评论.csv")
    mapping = {"text": "评论内容", "rating": "评分", "created_at": "购买时间", "product": "手机型号",
               "channel": "平台"}
    steps: list[tuple[float, str]] = []
    result = import_flow.run_import(con, upload, name="评论", kind="reviews", mapping=mapping,
                                    progress=lambda f, m: steps.append((f, m)))
    assert (result.rows_read, result.imported, result.rejected, result.duplicates) == (4, 2, 2, 0)
    assert steps and steps[-1][0] == 1.0
    rejected = rejected_rows(con, result.dataset_id)
    assert sorted(rejected["source_row"].tolist()) == [3, 4]
    assert csv_bytes(rejected).startswith(b"\xef\xbb\xbf")
    again = import_flow.run_import(con, upload, name="评论", kind="reviews", mapping=mapping)
    assert (again.imported, again.duplicates) == (0, 2)
    assert con.execute("SELECT count(*) FROM feedback").fetchall()[0][0] == 2
    con.close()


def test_run_import_refuses_a_mapping_without_text_or_score() -> None:
    from data.readers import FileRefused

    con = connect(":memory:")
    upload = import_flow.load_upload(CSV.encode("utf-8"), "评论.csv")
    with pytest.raises(FileRefused, match=r"评论\.csv"):
        import_flow.run_import(con, upload, name="评论", kind="reviews", mapping={"brand": "手机型号"})
    assert con.execute("SELECT count(*) FROM datasets").fetchall()[0][0] == 0
    con.close()



def test_run_import_of_a_utf8_csv_stores_what_the_pandas_path_stores() -> None:
    """The page imports plain UTF-8 CSV through ``ingest_file`` (SQL fast path); an upload without its raw
    bytes takes ``ingest_loaded`` (pandas). Same rows, hashes, rejections and source file name."""
    upload = import_flow.load_upload(CSV.encode("utf-8"), "评论.csv")
    assert upload.data
    pandas_only = dataclasses.replace(upload, data=b"")
    mapping = {"text": "评论内容", "rating": "评分", "created_at": "购买时间", "product": "手机型号",
               "channel": "平台"}
    stored = []
    for candidate in (upload, pandas_only):
        con = connect(":memory:")
        import_flow.run_import(con, candidate, name="评论", kind="reviews", mapping=mapping)
        stored.append((
            con.execute("SELECT feedback_id, content_hash, text, rating, created_at, product, channel, extra"
                        " FROM feedback ORDER BY feedback_id").fetchall(),
            con.execute("SELECT source_row, column_name, reason FROM rejected_rows ORDER BY 1, 2").fetchall(),
            con.execute("SELECT source_file, rows_read, rows_imported FROM datasets").fetchall(),
        ))
        con.close()
    assert stored[0] == stored[1]
    assert stored[0][2] == [("评论.csv", 4, 2)]
