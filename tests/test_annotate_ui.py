"""The import page annotates what it imports (real models), and a re-import costs no model call."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data.store import connect
from tests.app_session import signed_in
from tests.fixture_store import build_store
from tests.test_app import server_like_pages  # noqa: F401  (autouse: keeps reruns in st.navigation mode)

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
CSV = (
    "评论内容,评分,购买时间,手机型号,平台\n"
    "屏幕很清楚，但是续航太差了,3,2025-03-01 10:00,华为 Mate 60,京东\n"
    "拍照好看，物流很快,5,2025-03-02,Apple iPhone 15,天猫\n"
    "电池不耐用，发热严重,1,2025-03-04,华为 Mate 60,京东\n"
)


def _models_or_skip() -> None:
    try:
        from models.annotate import load_annotator

        load_annotator("phone")
    except Exception as exc:  # weights not trained/committed
        pytest.skip(f"real models not available: {type(exc).__name__}: {str(exc)[:200]}")


#: The same reviews posted again on another day and channel: new rows, known texts.
CSV_LATER = CSV.replace("2025-03-0", "2025-04-0").replace("京东", "抖音")


def import_file(at: AppTest, name: str, content: str) -> AppTest:
    at.file_uploader(key="import_file").set_value((name, content.encode("utf-8"), "text/csv")).run()
    at.text_input(key="import_name").set_value(name.removesuffix(".csv")).run()
    at.button(key="import_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("情感分析未完成" in w.value for w in at.warning), [w.value for w in at.warning]
    return at


def test_import_page_annotates_and_reimport_uses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _models_or_skip()
    from models.annotate import load_annotator

    store = tmp_path / "store.duckdb"
    build_store(store)
    monkeypatch.setenv("TINGJIAN_DB", str(store))
    at = signed_in(AppTest.from_file(APP, default_timeout=120)).run()
    at.switch_page("pages/import_data.py").run()
    annotator = load_annotator("phone")
    import_file(at, "first.csv", CSV)
    scored_after_first = annotator.texts_scored

    # the same file again: every row is a duplicate, nothing to annotate, no model call
    import_file(at, "first.csv", CSV)
    assert annotator.texts_scored == scored_after_first
    # the same reviews posted again (new rows in a new dataset): annotated from the cache
    import_file(at, "second.csv", CSV_LATER)
    assert annotator.texts_scored == scored_after_first

    con = connect(store)  # same process: DuckDB shares the open database
    rows = con.execute(
        """
        SELECT d.name, count(DISTINCT s.feedback_id), count(m.aspect_path)
        FROM datasets d JOIN feedback_sentiment s USING (dataset_id)
        LEFT JOIN aspect_mentions m USING (feedback_id)
        WHERE d.name IN ('first', 'second') GROUP BY d.name ORDER BY d.name
        """
    ).fetchall()
    polarity = dict(
        con.execute(
            "SELECT aspect_path, polarity FROM aspect_mentions m JOIN datasets d USING (dataset_id)"
            " WHERE d.name = 'second' AND m.clause IN ('屏幕很清楚', '但是续航太差了')"
        ).fetchall()
    )
    con.close()
    assert rows[0][1] == rows[1][1] == 3
    assert rows[0][2] == rows[1][2] > 0
    assert polarity == {"屏幕": "positive", "电池/续航": "negative"}
