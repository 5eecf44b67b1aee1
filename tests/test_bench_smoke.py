"""The benchmark harness: the synthetic store is faithful to the schema and the demo's mix, the page
queries run, and a tiny ``python cli.py bench`` run reports every figure with sane values.

No wall-clock assertion: timings only have to be positive numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from analytics.filters import Filters
from analytics.parameter_map import compare_products
from bench.generate import build_store, export_review_files
from bench.page_queries import FRAME, PAGES, filter_variants
from bench.run import _percentile
from cli import app
from data.store import connect

ROOT = Path(__file__).resolve().parent.parent
PAGE_NAMES = {"frame", "overview", "nps", "aspects", "competitors", "quotes", "drivers"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "bench.duckdb"
    summary = build_store(path, 3000, seed=7)
    assert summary.feedback == 3000
    return path


def test_store_follows_the_schema_and_the_demo_mix(store: Path) -> None:
    con = duckdb.connect(str(store), read_only=True)
    try:
        spans_wrong, mentions = con.execute(
            "SELECT count(*) FILTER (WHERE substr(f.text, m.span_start + 1, m.span_end - m.span_start)"
            " <> m.term), count(*) FROM aspect_mentions m JOIN feedback f USING (dataset_id, feedback_id)"
        ).fetchall()[0]
        texts = con.execute("SELECT count(*) FROM feedback WHERE text IS NOT NULL").fetchall()[0][0]
        annotated = con.execute("SELECT count(*) FROM feedback_sentiment").fetchall()[0][0]
        kinds = dict(con.execute(
            "SELECT d.kind, count(*) FROM feedback f JOIN datasets d USING (dataset_id) GROUP BY 1"
        ).fetchall())
        hashes = con.execute("SELECT count(DISTINCT content_hash), count(DISTINCT feedback_id) FROM feedback"
                             ).fetchall()[0]
        rows_ok = con.execute(
            "SELECT bool_and(n = mx AND mn = 1) FROM (SELECT count(*) n, max(source_row) mx,"
            " min(source_row) mn FROM feedback GROUP BY dataset_id)"
        ).fetchall()[0][0]
        recorded = con.execute("SELECT sum(rows_imported) FROM datasets WHERE kind <> 'products'"
                               ).fetchall()[0][0]
        products = con.execute("SELECT count(*) FROM products").fetchall()[0][0]
        our_survey_brands = con.execute(
            "SELECT list(DISTINCT brand) FROM feedback WHERE channel = '售后回访问卷'").fetchall()[0][0]
        unrated_weibo = con.execute(
            "SELECT count(*) FILTER (WHERE rating IS NOT NULL) FROM feedback WHERE channel = '微博'"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert spans_wrong == 0 and mentions > 0
    assert annotated == texts
    assert 2.3 <= mentions / texts <= 2.8  # demo: 107,340 mentions for 41,897 texts = 2.56
    assert 0.72 <= kinds["reviews"] / 3000 <= 0.82 and kinds["survey"] + kinds["reviews"] == 3000
    assert hashes == (3000, 3000)
    assert rows_ok and recorded == 3000
    assert products == 18 and our_survey_brands == ["华为"] and unrated_weibo == 0


def test_generation_is_seeded(tmp_path: Path, store: Path) -> None:
    again = tmp_path / "again.duckdb"
    build_store(again, 3000, seed=7)
    query = "SELECT feedback_id, text, rating, nps_score, brand FROM feedback ORDER BY feedback_id LIMIT 50"
    first = duckdb.connect(str(store), read_only=True)
    second = duckdb.connect(str(again), read_only=True)
    try:
        assert first.execute(query).fetchall() == second.execute(query).fetchall()
    finally:
        first.close()
        second.close()
    with pytest.raises(FileExistsError):
        build_store(again, 10, seed=7)


def test_review_files_import_through_the_engine(tmp_path: Path, store: Path) -> None:
    from data.ingest import ingest_file

    files = export_review_files(store, tmp_path, limit=500)
    assert files["rows"] == 500
    con = connect(tmp_path / "imported.duckdb")
    try:
        for fmt in ("csv", "parquet"):
            result = ingest_file(con, files[fmt], name=f"bench {fmt}", kind="reviews")
            assert (result.imported + result.duplicates, result.rejected) == (500, 0)
    finally:
        con.close()


def test_every_page_query_runs_on_every_filter(store: Path) -> None:
    con = connect(store)
    try:
        variants = filter_variants(con)
        assert len(variants) >= 6 and Filters() in variants
        for f in variants:
            for steps in (FRAME, *PAGES.values()):
                ctx: dict[str, object] = {}
                for _, call in steps:
                    call(con.cursor(), f, ctx)
    finally:
        con.close()
    assert set(PAGES) | {"frame"} == PAGE_NAMES


def test_compare_products_without_nps_answers_keeps_columns(store: Path) -> None:
    # Found by the benchmark: with no NPS answer in the selection, compare_products raised KeyError 'n'.
    con = connect(store)
    try:
        result = compare_products(con, Filters(channels=("京东",)), [("华为", "P60"), ("小米", "14 Pro")])
    finally:
        con.close()
    assert result.nps.empty and {"n", "nps", "small_sample"} <= set(result.nps.columns)
    assert not result.rating.empty


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert _percentile(values, 95) == 19.0 and _percentile(values, 50) == 10.0
    assert _percentile([3.0], 95) == 3.0


def test_cli_refuses_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    too_small = runner.invoke(app, ["bench", "--reviews", "10"])
    assert too_small.exit_code != 0
    missing = runner.invoke(app, ["bench", "--reviews", "100", "--app-db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2 and "no such store file" in missing.output


def test_bench_command_smoke(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "cli.py", "bench", "--reviews", "2000", "--json", "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("import_rows_per_s", "query_p95_ms", "pandas_ratio", "peak_rss_mb", "app_first_render_s"):
        assert isinstance(report[key], int | float) and report[key] > 0, key
    assert report["feedback_rows"] == 2000 and report["pandas_agrees"] is True
    assert report["rollups_used"] is True and report["generate"]["build_rollups_s"] is not None
    assert set(report["pages"]) == PAGE_NAMES
    for page in report["pages"].values():
        assert 0 < page["p50_ms"] <= page["p95_ms"] <= page["max_ms"]
        assert page["pandas_p50_ms"] > 0 and page["queries"]
    worst = max(p["p95_ms"] for p in report["pages"].values())
    assert report["query_p95_ms"] == worst
    assert report["pandas_ratio"] == min(p["pandas_ratio"] for p in report["pages"].values())
    assert 50 < report["peak_rss_mb"] < 8000
    assert report["import"]["csv"]["imported"] == report["generate"]["rows"]


def test_text_present_matches_trim_on_edge_cases() -> None:
    from analytics.filters import text_present

    con = duckdb.connect(":memory:")
    spaces = [chr(c) for c in (0x20, 0xA0, 0x1680, 0x2000, 0x2005, 0x200A, 0x202F, 0x205F, 0x3000)]
    values = [None, "", " ", "   ", "a", " a", "a ", " a ", "\t", "\n", "　", "好评", " 好评 ", "\t好 ",
              "".join(spaces), "".join(spaces) + "x", "x" + "".join(spaces), "\u200b", "\ufeff"]
    con.execute("CREATE TABLE f (i INTEGER, text VARCHAR)")
    con.executemany("INSERT INTO f VALUES (?, ?)", list(enumerate(values)))
    fast = con.execute(f"SELECT i FROM f WHERE {text_present('f')} ORDER BY i").fetchall()
    slow = con.execute(
        "SELECT i FROM f WHERE text IS NOT NULL AND length(trim(text)) > 0 ORDER BY i"
    ).fetchall()
    assert fast == slow and len(fast) == 13
    with pytest.raises(ValueError):
        text_present("f; DROP TABLE f")


def test_search_without_lower_finds_the_same_rows(store: Path) -> None:
    from analytics.quotes import _caseless, search_feedback

    assert _caseless("电池") and _caseless("5") and not _caseless("5g") and not _caseless("\u0307")
    con = connect(store)
    try:
        for query in ("电池 发热", "5g", "续航"):
            result = search_feedback(con, Filters(), query, limit=10_000)
            terms = query.lower().split()
            expected = con.execute(
                "SELECT count(*) FROM feedback WHERE text IS NOT NULL AND "
                + " AND ".join("contains(lower(text), ?)" for _ in terms), terms
            ).fetchall()[0][0]
            assert result.n_matching == expected and expected > 0
    finally:
        con.close()
