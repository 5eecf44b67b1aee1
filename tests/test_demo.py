"""The demo market: determinism, sizes, natural text, ratings that agree with it, and the planted stories."""

from __future__ import annotations

import math
import re
import statistics

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from analytics.metrics import NpsInterval, nps_interval
from data import demo as demo_module
from data import demo_phrases as ph
from data.config import shared_data_dir
from data.demo import (
    BENCHMARK_SURVEY_CHANNEL,
    DATASET_NAMES,
    OUR_SURVEY_CHANNEL,
    DemoFrames,
    build_demo,
    demo_dataset_ids,
    ensure_demo,
    generate_demo_frames,
    remove_demo,
)
from data.demo_catalog import DEMO_PRODUCTS, OUR_BRAND, PRODUCTS_BY_NAME
from data.demo_phrases import ASPECT_KEYWORDS, NEGATIVE, POSITIVE
from data.demo_truth import (
    ASPECT_PATHS,
    DEMO_SPEC_REGIONS,
    DEMO_STORIES,
    LIGHT_BUT_THICK_PRODUCT,
    LOGISTICS_CHANNEL,
    LOGISTICS_MONTH,
    OVERHEATING_PRODUCT,
    SERVICE_BRAND,
    SERVICE_DECLINE_MONTH,
    STORIES_BY_ID,
    latent_quality,
    month_key,
)
from data.products import short_product_name
from data.store import connect

TAXONOMY = (
    "电池/续航", "电池/充电", "电池/发热", "屏幕", "拍照", "性能/流畅度", "外观/手感", "外观/重量",
    "外观/厚度", "信号", "系统", "音效", "价格/性价比", "物流", "客服/售后", "包装",
)


def _pattern(phrases: tuple[str, ...]) -> str:
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))


@pytest.fixture(scope="module")
def frames() -> DemoFrames:
    return generate_demo_frames()


@pytest.fixture(scope="module")
def reviews(frames: DemoFrames) -> pd.DataFrame:
    """Reviews with, per aspect, whether a positive / negative clause of it occurs in the text."""
    r = frames.reviews.copy()
    r["month"] = r["评论时间"].dt.strftime("%Y-%m")
    text = r["评论内容"]
    for aspect in ASPECT_PATHS:
        r[f"+{aspect}"] = text.str.contains(_pattern(POSITIVE[aspect]), regex=True)
        r[f"-{aspect}"] = text.str.contains(_pattern(NEGATIVE[aspect]), regex=True)
    r["n_pos"] = sum(r[f"+{a}"].astype(int) for a in ASPECT_PATHS)
    r["n_neg"] = sum(r[f"-{a}"].astype(int) for a in ASPECT_PATHS)
    return r


@pytest.fixture(scope="module")
def survey(frames: DemoFrames) -> pd.DataFrame:
    s = frames.survey.copy()
    s["month"] = s["回答时间"].dt.strftime("%Y-%m")
    return s


# ---------------------------------------------------------------------------------------------- generator
def test_same_seed_gives_identical_frames_and_another_seed_does_not(frames: DemoFrames) -> None:
    again = generate_demo_frames()
    for name in ("reviews", "survey", "products"):
        pd.testing.assert_frame_equal(getattr(frames, name), getattr(again, name))
    other = generate_demo_frames(seed=1)
    assert not other.reviews["评论内容"].equals(frames.reviews["评论内容"])


def test_sizes_meet_the_issue(frames: DemoFrames, reviews: pd.DataFrame, survey: pd.DataFrame) -> None:
    assert len(frames.reviews) >= 30_000
    assert reviews["month"].nunique() >= 18
    channels = set(frames.reviews["渠道"]) | set(frames.survey["渠道"])
    assert {"京东", "天猫", "微博", OUR_SURVEY_CHANNEL} <= channels and len(channels) >= 4
    assert frames.products["brand"].nunique() >= 6 and len(frames.products) >= 15
    assert {"华为", "小米", "OPPO", "vivo", "荣耀", "Apple"} <= set(frames.reviews["品牌"])
    assert set(frames.reviews["机型"]) == set(PRODUCTS_BY_NAME)
    ours = survey[survey["渠道"] == OUR_SURVEY_CHANNEL]
    assert set(ours["品牌"]) == {OUR_BRAND} and len(ours) >= 3000
    bench = survey[survey["渠道"] == BENCHMARK_SURVEY_CHANNEL]
    assert set(bench["品牌"]) - {OUR_BRAND} == set(frames.products["brand"]) - {OUR_BRAND}
    assert survey["推荐意愿"].between(0, 10).all() and survey["推荐意愿"].notna().all()
    assert ours["门店"].notna().all() and ours["客户编号"].is_unique


def test_dates_respect_the_window_and_each_release(frames: DemoFrames) -> None:
    for frame, column in ((frames.reviews, "评论时间"), (frames.survey, "回答时间")):
        released = frame["机型"].map({p.product: pd.Timestamp(p.release_date) for p in DEMO_PRODUCTS})
        assert (frame[column] >= released).all()
        assert frame[column].min() >= pd.Timestamp("2023-07-01")
        assert frame[column].max() < pd.Timestamp("2025-07-01")


def test_every_phrase_names_its_aspect_with_an_everyday_word() -> None:
    assert tuple(ASPECT_PATHS) == TAXONOMY
    for aspect in TAXONOMY:
        for pools in (POSITIVE, NEGATIVE):
            assert len(pools[aspect]) >= 4, aspect
            for phrase in pools[aspect]:
                assert any(k in phrase for k in ASPECT_KEYWORDS[aspect]), (aspect, phrase)


def test_filler_text_names_no_aspect() -> None:
    keywords = [k for words in ASPECT_KEYWORDS.values() for k in words]
    fillers = (
        ph.CONTEXTS + ph.OPENERS + ph.CLOSERS_POSITIVE + ph.CLOSERS_FIVE_STARS + ph.CLOSERS_NEGATIVE
        + ph.CLOSERS_MIXED + ph.SURVEY_PROMOTER_PREFIX + ph.SURVEY_DETRACTOR_PREFIX + ph.SURVEY_PASSIVE_PREFIX
    )
    for text in fillers:
        assert not [k for k in keywords if k in text], text


def test_every_review_mentions_an_aspect_and_has_one_to_four(reviews: pd.DataFrame) -> None:
    keywords = _pattern(tuple(k for words in ASPECT_KEYWORDS.values() for k in words))
    assert reviews["评论内容"].str.contains(keywords, regex=True).all()
    aspects = sum((reviews[f"+{a}"] | reviews[f"-{a}"]).astype(int) for a in ASPECT_PATHS)
    assert aspects.between(1, 4).all()
    assert set(aspects.unique()) == {1, 2, 3, 4}


def test_text_is_varied_natural_chinese(reviews: pd.DataFrame) -> None:
    text = reviews["评论内容"]
    lengths = text.str.len()
    assert lengths.min() >= 10 and lengths.max() <= 150
    assert lengths.quantile(0.95) >= 50 and lengths.quantile(0.05) <= 20
    assert text.nunique() >= 0.8 * len(text)
    assert 0.03 < text.str.contains("👍|😊|❤️|💯|😡|😤|🙄|👎|😞", regex=True).mean() < 0.25
    assert text.str.contains("不卡|没有发热|不太满意|不烫手|不够", regex=True).mean() > 0.03
    contrast = text.str.contains("，但是|，不过|，可惜|，就是", regex=True)
    assert contrast.mean() > 0.1
    assert (reviews.loc[contrast, "n_pos"] > 0).mean() > 0.9


def test_ratings_agree_with_text_polarity(reviews: pd.DataFrame) -> None:
    weibo = reviews["渠道"] == "微博"
    assert reviews.loc[weibo, "评分"].isna().all()
    rated = reviews[~weibo].copy()
    assert rated["评分"].between(1, 5).all()
    rating = rated["评分"].astype(float)
    all_pos = (rated["n_neg"] == 0) & (rated["n_pos"] > 0)
    all_neg = (rated["n_pos"] == 0) & (rated["n_neg"] > 0)
    assert rating[all_pos].min() >= 4 and rating[all_pos].mean() > 4.5
    assert rating[all_neg].max() <= 2 and rating[all_neg].mean() < 1.6
    balance = (rated["n_pos"] - rated["n_neg"]) / (rated["n_pos"] + rated["n_neg"])
    assert balance.corr(rating, method="spearman") > 0.8
    assert (rating == 5).mean() > (rating == 1).mean()


# ---------------------------------------------------------------------------------------------- stories
def test_overheating_model_is_far_worse_on_heat(reviews: pd.DataFrame) -> None:
    story = STORIES_BY_ID["overheating"]
    after = reviews[reviews["month"] >= story.start_month]
    hot = after["-电池/发热"] & after["评论内容"].str.contains("发热|发烫|烫手", regex=True)
    share = hot.groupby(after["机型"]).mean()
    others = share.drop(OVERHEATING_PRODUCT)
    assert share[OVERHEATING_PRODUCT] > 5 * others.max()
    before = reviews[(reviews["机型"] == OVERHEATING_PRODUCT) & (reviews["month"] < story.start_month)]
    assert len(before) > 200 and before["-电池/发热"].mean() < 2 * others.mean()
    # The same in the truth: the lowest 电池/发热 quality of all models.
    month = "2024-06"
    heat = {p.product: latent_quality(p.product, "电池/发热", month) for p in DEMO_PRODUCTS}
    assert min(heat, key=heat.__getitem__) == OVERHEATING_PRODUCT


def _nps(scores: pd.Series) -> NpsInterval:
    s = scores.astype(int)
    return nps_interval(int((s >= 9).sum()), int(s.between(7, 8).sum()), int((s <= 6).sum()))


def test_service_decline_moves_nps_significantly(survey: pd.DataFrame) -> None:
    for channel in (OUR_SURVEY_CHANNEL, BENCHMARK_SURVEY_CHANNEL):
        ours = survey[(survey["渠道"] == channel) & (survey["品牌"] == SERVICE_BRAND)]
        before = _nps(ours.loc[ours["month"] < SERVICE_DECLINE_MONTH, "推荐意愿"])
        after = _nps(ours.loc[ours["month"] >= SERVICE_DECLINE_MONTH, "推荐意愿"])
        z = (before.nps - after.nps) / math.hypot(before.standard_error, after.standard_error)
        assert before.nps - after.nps > 25, channel
        assert z > 4 and after.high < before.low, channel
    # Competitors' NPS does not fall at that month.
    bench = survey[(survey["渠道"] == BENCHMARK_SURVEY_CHANNEL) & (survey["品牌"] != SERVICE_BRAND)]
    before = _nps(bench.loc[bench["month"] < SERVICE_DECLINE_MONTH, "推荐意愿"])
    after = _nps(bench.loc[bench["month"] >= SERVICE_DECLINE_MONTH, "推荐意愿"])
    assert abs(before.nps - after.nps) < 15


def test_service_decline_shows_in_review_sentiment(reviews: pd.DataFrame) -> None:
    service = reviews[reviews["+客服/售后"] | reviews["-客服/售后"]]
    ours = service[service["品牌"] == SERVICE_BRAND]
    neg_before = ours.loc[ours["month"] < SERVICE_DECLINE_MONTH, "-客服/售后"].mean()
    neg_after = ours.loc[ours["month"] >= SERVICE_DECLINE_MONTH, "-客服/售后"].mean()
    others_after = service.loc[
        (service["品牌"] != SERVICE_BRAND) & (service["month"] >= SERVICE_DECLINE_MONTH), "-客服/售后"
    ].mean()
    assert neg_after > neg_before + 0.4 and neg_after > others_after + 0.3


def test_light_but_thick_model_is_light_and_thick(reviews: pd.DataFrame) -> None:
    p = PRODUCTS_BY_NAME[LIGHT_BUT_THICK_PRODUCT]
    median_thickness = statistics.median(q.thickness_mm for q in DEMO_PRODUCTS)
    assert p.weight_g < statistics.median(q.weight_g for q in DEMO_PRODUCTS)
    assert p.thickness_mm > median_thickness
    thick = sorted((q for q in DEMO_PRODUCTS if q.thickness_mm > median_thickness), key=lambda q: q.weight_g)
    assert thick[0] is p and thick[1].weight_g - p.weight_g >= 5  # clearly the lightest of the thick half
    sums = reviews.groupby("机型")[["-外观/厚度", "+外观/厚度", "+外观/重量", "-外观/重量"]].sum()
    thick_share = sums["-外观/厚度"] / (sums["-外观/厚度"] + sums["+外观/厚度"])
    light_share = sums["+外观/重量"] / (sums["+外观/重量"] + sums["-外观/重量"])
    # Praised for its weight and panned for its thickness: no other model combines the two as strongly.
    assert (light_share + thick_share).idxmax() == LIGHT_BUT_THICK_PRODUCT
    assert thick_share[LIGHT_BUT_THICK_PRODUCT] > thick_share.median() + 0.3
    assert light_share[LIGHT_BUT_THICK_PRODUCT] > light_share.median() + 0.2


def test_double_eleven_logistics_delay_on_one_channel(reviews: pd.DataFrame) -> None:
    tmall = reviews[reviews["渠道"] == LOGISTICS_CHANNEL]
    by_month = tmall.groupby("month")["-物流"].mean()
    assert by_month[LOGISTICS_MONTH] > 5 * by_month.drop(LOGISTICS_MONTH).max() / 2
    jd = reviews[(reviews["渠道"] == "京东") & (reviews["month"] == LOGISTICS_MONTH)]
    assert jd["-物流"].mean() < by_month[LOGISTICS_MONTH] / 4


def test_parameter_maps_have_good_and_bad_regions(reviews: pd.DataFrame) -> None:
    rated = reviews[reviews["评分"].notna()]
    mean_rating = rated.groupby("机型")["评分"].mean()
    looks = [a for a in ASPECT_PATHS if a.startswith("外观/")]
    pos = sum(reviews[f"+{a}"].astype(int) for a in looks).groupby(reviews["机型"]).sum()
    neg = sum(reviews[f"-{a}"].astype(int) for a in looks).groupby(reviews["机型"]).sum()
    looks_score = (pos - neg) / (pos + neg)
    for region in DEMO_SPEC_REGIONS:
        assert len(region.good_products) >= 3 and len(region.bad_products) >= 3
        assert not set(region.good_products) & set(region.bad_products)
        metric = mean_rating if region.metric == "rating" else looks_score
        good, bad = metric[list(region.good_products)], metric[list(region.bad_products)]
        assert good.min() > bad.max(), region.metric
        assert good.mean() - bad.mean() > (0.2 if region.metric == "rating" else 0.5)


def test_stories_and_truth_are_exposed_as_data() -> None:
    assert len({s.id for s in DEMO_STORIES}) == len(DEMO_STORIES) >= 4
    for story in DEMO_STORIES:
        assert story.description_zh and story.description_en
        assert all(path in TAXONOMY for path, _ in story.effects)
        assert story.aspect_path == story.effects[0][0]
    for p in (q for q in DEMO_PRODUCTS if q.brand == SERVICE_BRAND):
        assert latent_quality(p.product, "客服/售后", "2024-12") > 0.5
        assert latent_quality(p.product, "客服/售后", SERVICE_DECLINE_MONTH) < -0.3
    for p in DEMO_PRODUCTS:
        for aspect in TAXONOMY:
            assert -1 <= latent_quality(p.product, aspect, "2024-08", "京东") <= 1
    assert month_key("2024-11-11") == "2024-11"
    with pytest.raises(KeyError, match="unknown aspect path"):
        latent_quality("P60", "电池", "2024-01")
    with pytest.raises(KeyError, match="not a demo product"):
        latent_quality("Nokia 3310", "屏幕", "2024-01")
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_key("Nov 2024")


# ---------------------------------------------------------------------------------------------- catalogue
def test_catalogue_specs_are_sane_and_sourced() -> None:
    assert len(DEMO_PRODUCTS) >= 15 and len({p.brand for p in DEMO_PRODUCTS}) >= 6
    assert {p.brand for p in DEMO_PRODUCTS if p.is_ours} == {OUR_BRAND}
    fields = ("release_date", "launch_price_cny", "weight_g", "thickness_mm", "battery_mah", "screen_in")
    for p in DEMO_PRODUCTS:
        assert 999 <= p.launch_price_cny <= 13_000, p
        assert 140 <= p.weight_g <= 250 and 6.5 <= p.thickness_mm <= 9.5, p
        assert 3000 <= p.battery_mah <= 6000 and 6.0 <= p.screen_in <= 7.0, p
        assert p.release_date.year in (2023, 2024), p
        for name in fields:
            assert p.source_of(name), (p.product, name)
        # Names survive the import engine's product-name normalisation unchanged.
        assert short_product_name(p.product) == p.product


def test_catalogue_provenance_matches_the_shared_files() -> None:
    root = shared_data_dir()
    mobiles_path = root / "mobiles_dataset_2025" / "mobiles_dataset_2025.csv"
    specs_path = root / "gsmarena_specs_melodiw82" / "final_data_2.csv"
    if not (mobiles_path.exists() and specs_path.exists()):
        pytest.skip("spec tables not found: ../shared/data is not beside the checkout")
    mobiles = pd.read_csv(mobiles_path, dtype=str)
    specs = pd.read_csv(specs_path)
    summary_path = root / "gsmarena_summary_ayushmanmalla" / "gsmarena_dataset.csv"
    summary = pd.read_csv(summary_path, dtype=str) if summary_path.exists() else None
    checked = 0
    for p in DEMO_PRODUCTS:
        for _field, note in p.sources:
            for line, value in re.findall(r"M line (\d+) '([^']+)'", note):
                row = mobiles.iloc[int(line) - 2]
                assert value in row.to_list(), (p.product, note, row.to_list())
                checked += 1
            for line, column, value in re.findall(r"G line (\d+) (?:(Diameter|Announced) )?(\d[\d.]*)", note):
                row = specs.iloc[int(line) - 2]
                cols = [column] if column else ["Weight", "battery_capacity", "Display Size"]
                assert any(abs(float(row[c]) - float(value)) < 1e-9 for c in cols), (p.product, note)
                checked += 1
            for line, value in re.findall(r"S line (\d+) '([^']+)'", note):
                if summary is not None:
                    row = summary.iloc[int(line) - 2]
                    assert any(value in str(cell) for cell in row.to_list()), (p.product, note)
                    checked += 1
    assert checked >= 50


# ---------------------------------------------------------------------------------------------- store + CLI
@pytest.fixture(scope="module")
def built() -> tuple[object, list[tuple[float, str]]]:
    con = connect(":memory:")
    calls: list[tuple[float, str]] = []
    assert ensure_demo(con, progress=lambda f, m: calls.append((f, m))) is True
    yield con, calls
    con.close()


def test_build_writes_every_row_through_the_import_engine(built, frames: DemoFrames) -> None:
    con, calls = built
    rows = con.execute(
        "SELECT name, kind, rows_imported, rows_rejected, is_demo FROM datasets ORDER BY dataset_id"
    ).fetchall()
    assert rows == [
        (DATASET_NAMES["products"], "products", len(frames.products), 0, True),
        (DATASET_NAMES["reviews"], "reviews", len(frames.reviews), 0, True),
        (DATASET_NAMES["survey"], "survey", len(frames.survey), 0, True),
    ]
    stored = con.execute("SELECT DISTINCT product FROM feedback").fetchall()
    assert {r[0] for r in stored} == set(PRODUCTS_BY_NAME)
    ours = con.execute("SELECT DISTINCT brand FROM products WHERE is_ours").fetchall()
    assert ours == [(OUR_BRAND,)]
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(calls) >= 5


def test_build_is_idempotent_and_ensure_only_builds_an_empty_store(built) -> None:
    con, _ = built
    before = con.execute("SELECT count(*) FROM feedback").fetchall()[0][0]
    summary = build_demo(con)
    assert summary.built is False and summary.dataset_ids == demo_dataset_ids(con)
    assert ensure_demo(con) is False
    assert con.execute("SELECT count(*) FROM feedback").fetchall()[0][0] == before


@pytest.fixture()
def small_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """A smaller market for tests of the wiring (sizes are tested on the full one above)."""
    monkeypatch.setattr(demo_module, "REVIEW_COUNT", 2_000)
    monkeypatch.setattr(demo_module, "OUR_SURVEY_COUNT", 500)
    monkeypatch.setattr(demo_module, "BENCHMARK_SURVEY_COUNT", 500)


@pytest.mark.usefixtures("small_demo")
def test_remove_demo_deletes_only_demo_datasets() -> None:
    con = connect(":memory:")
    try:
        con.execute("INSERT INTO datasets (name, kind, is_demo) VALUES ('mine', 'reviews', FALSE)")
        con.execute(
            "INSERT INTO feedback (feedback_id, dataset_id, content_hash, text) VALUES (1, 1, 'h', '好评')"
        )
        assert ensure_demo(con) is False  # the store has feedback: no demo at start-up
        assert build_demo(con, seed=3).built is True
        assert remove_demo(con) == 3
        assert con.execute("SELECT count(*) FROM feedback").fetchall()[0][0] == 1
        assert con.execute("SELECT count(*) FROM products").fetchall()[0][0] == 0
    finally:
        con.close()


@pytest.mark.usefixtures("small_demo")
def test_cli_demo_builds_then_does_nothing(tmp_path) -> None:
    from cli import app

    db = str(tmp_path / "demo.duckdb")
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--db", db, "--seed", "5", "--no-annotate"])
    assert first.exit_code == 0, first.output
    assert "reviews: 2000 rows" in first.output and "survey: 1000 rows" in first.output
    assert "18 models of 6 brands" in first.output
    second = runner.invoke(app, ["demo", "--db", db])  # builds nothing, annotates what is pending
    assert second.exit_code == 0 and "nothing done" in second.output
    con = duckdb.connect(db, read_only=True)
    try:
        pending = con.execute(
            "SELECT count(*) FROM feedback f WHERE f.text IS NOT NULL AND f.text <> '' AND NOT EXISTS"
            " (SELECT 1 FROM feedback_sentiment s WHERE s.feedback_id = f.feedback_id)"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert pending == 0
    bad = runner.invoke(app, ["demo", "--db", db, "--seed", "-1"])
    assert bad.exit_code != 0
