"""The real corpora in ../shared/data import as they are, with no manual editing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from data.config import shared_data_dir
from data.ingest import ingest_file, rejected_rows
from data.store import connect

JD = "jd_phone_reviews_yulezhang/tmp_test_data.csv"
SHOPPING = "online_shopping_10_cats/online_shopping_10_cats.csv"
BOTANIC = "nps_botanic_garden_centres_fr/nps.csv"
MELODIW = "gsmarena_specs_melodiw82/final_data_2.csv"
AYUSHMAN = "gsmarena_summary_ayushmanmalla/gsmarena_dataset.csv"


def _real(relative: str) -> Path:
    path = shared_data_dir() / relative
    if not path.exists():
        pytest.skip(f"{relative} not found: ../shared/data is not beside the checkout")
    return path


def _reference(relative: str) -> pd.DataFrame:
    return pd.read_csv(_real(relative), dtype=str, keep_default_na=False)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(":memory:")
    yield connection
    connection.close()


def _texts(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT text FROM feedback ORDER BY source_row").fetchall()]


def test_jd_all_rows_land_once_and_reimport_adds_none(con: duckdb.DuckDBPyConnection) -> None:
    path = _real(JD)
    first = ingest_file(con, path)
    assert (first.kind, first.rows_read, first.imported, first.rejected) == ("reviews", 4722, 4722, 0)
    second = ingest_file(con, path)
    assert (second.imported, second.duplicates) == (0, 4722)
    assert con.execute("SELECT count(*), count(DISTINCT content_hash) FROM feedback").fetchall() == [
        (4722, 4722)
    ]
    reference = _reference(JD)
    assert reference["评论内容"].duplicated().sum() == 3  # repeated texts in different rows, all kept
    by_product = dict(
        con.execute("SELECT brand || ' ' || product, count(*) FROM feedback GROUP BY ALL").fetchall()
    )
    assert by_product == {
        "Apple iPhone 11": 500,
        "荣耀 V30 PRO": 500,
        "荣耀 20青春版": 500,
        "荣耀 9X": 500,
        "华为 P30": 500,
        "荣耀 20S": 500,
        "华为 Mate 30 5G": 500,
        "小米 Redmi Note8": 500,
        "Apple iPhone XS Max": 373,
        "荣耀 8X": 194,
        "Apple iPhone XR": 155,
    }
    dates = pd.to_datetime(reference["购买时间"], format="%Y/%m/%d %H:%M")
    assert con.execute(
        "SELECT min(created_at), max(created_at), min(rating), max(rating) FROM feedback"
    ).fetchall() == [(dates.min(), dates.max(), 5, 5)]
    assert _texts(con) == reference["评论内容"].str.strip().tolist()


def test_jd_gb18030_copy_gives_identical_text(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    source = _real(JD)
    copy = tmp_path / "jd_gb18030.csv"
    copy.write_bytes(source.read_text(encoding="utf-8").encode("gb18030"))
    result = ingest_file(con, copy)
    assert result.imported == 4722 and result.encoding in {"gbk", "gb18030"}
    gb_texts = _texts(con)
    other = connect(":memory:")
    try:
        ingest_file(other, source)
        assert gb_texts == _texts(other)
        assert sum("\n" in t for t in gb_texts) == 1802
    finally:
        other.close()
    # Importing the original after its GB18030 copy adds nothing: same content, same hashes.
    assert ingest_file(con, source).imported == 0


def test_online_shopping(con: duckdb.DuckDBPyConnection) -> None:
    reference = _reference(SHOPPING)
    result = ingest_file(con, _real(SHOPPING))
    empty = int((reference["review"].str.strip() == "").sum())
    assert (result.rows_read, result.imported, result.rejected) == (55_978, 55_978 - empty, empty)
    per_cat = dict(con.execute("SELECT extra->>'cat', count(*) FROM feedback GROUP BY ALL").fetchall())
    expected = reference[reference["review"].str.strip() != ""]["cat"].value_counts().to_dict()
    assert per_cat == expected


def test_botanic_nps_survey(con: duckdb.DuckDBPyConnection) -> None:
    reference = pd.read_csv(_real(BOTANIC), dtype=str, keep_default_na=False)
    result = ingest_file(con, _real(BOTANIC), name="botanic")
    assert result.kind == "survey"
    nothing = (reference["nps"] == "NA") & (reference["explication"] == "NA")
    assert (result.rows_read, result.imported, result.rejected) == (
        13_954,
        int((~nothing).sum()),
        int(nothing.sum()),
    )
    stored = dict(con.execute("SELECT nps_score, count(*) FROM feedback GROUP BY ALL").fetchall())
    kept = reference[~nothing]
    expected = {(None if v == "NA" else int(v)): n for v, n in kept["nps"].value_counts().items()}
    assert stored == expected
    # One customer typed "na" as a comment: a missing-value marker like the file's own NA.
    commented = ~reference["explication"].str.strip().str.lower().isin({"na", ""})
    assert con.execute("SELECT count(text) FROM feedback").fetchall()[0][0] == int(commented.sum()) == 3838
    assert "既没有推荐分也没有文字" in rejected_rows(con, result.dataset_id)["reason"].iloc[0]


def test_gsmarena_melodiw82_into_products(con: duckdb.DuckDBPyConnection) -> None:
    result = ingest_file(con, _real(MELODIW))
    assert result.kind == "products"
    assert result.imported + result.rejected + result.duplicates == 4698
    assert result.rejected < 10
    row = con.execute(
        "SELECT release_date, weight_g, thickness_mm, battery_mah, screen_in, launch_price_cny,"
        " extra->>'Price' FROM products WHERE brand = 'TCL' AND product = '1b (2022)'"
    ).fetchall()
    assert row == [(pd.Timestamp("2022-01-01").date(), 172.0, 10.0, 3000.0, 5.5, None, "100.0")]
    assert con.execute("SELECT count(launch_price_cny) FROM products").fetchall()[0][0] == 0
    again = ingest_file(con, _real(MELODIW))
    assert again.imported == 0


def test_gsmarena_ayushmanmalla_into_products(con: duckdb.DuckDBPyConnection) -> None:
    result = ingest_file(con, _real(AYUSHMAN))
    assert result.kind == "products"
    assert result.imported + result.rejected + result.duplicates == 12_261
    assert result.imported > 12_000
    brands = dict(con.execute("SELECT brand, count(*) FROM products GROUP BY ALL").fetchall())
    for brand in ("OPPO", "vivo", "荣耀", "realme", "一加", "华为", "小米", "Apple", "三星"):
        assert brands.get(brand, 0) > 30, brand
    row = con.execute(
        "SELECT release_date, battery_mah, screen_in FROM products"
        " WHERE brand = '荣耀' AND product = '90 Pro'"
    ).fetchall()
    assert row == [(pd.Timestamp("2023-05-01").date(), 5000.0, 6.78)]
