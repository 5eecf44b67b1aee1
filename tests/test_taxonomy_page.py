"""AppTest of the 指标体系 page: view, validate, save, restore, choose a taxonomy per dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import taxonomy_editor as editor
from tests.app_session import signed_in
from tests.fixture_store import build_store
from tests.test_app import server_like_pages  # noqa: F401  (autouse: keeps reruns in st.navigation mode)

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 90


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    store = tmp_path / "store.duckdb"
    build_store(store)
    monkeypatch.setenv("TINGJIAN_DB", str(store))
    monkeypatch.setenv("TINGJIAN_TAXONOMY_DIR", str(tmp_path / "taxonomies"))
    at = signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT)).run()
    at.switch_page("pages/taxonomy.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_view_validate_save_and_restore(page: AppTest, tmp_path: Path) -> None:
    at = page
    assert at.title[0].value == "指标体系"
    assert at.selectbox(key=editor.KEY_PICK).value == "phone"
    aspects = at.dataframe[0].value
    assert "电池/续航" in aspects["指标路径"].tolist()
    assert any("内置版本" in c.value for c in at.caption)

    assert at.text_area(key=editor.KEY_YAML).value.startswith("# Phone and consumer-electronics aspects")
    at.text_area(key=editor.KEY_YAML).set_value("label: 手机\naspects: []\n")
    at.button(key=editor.KEY_VALIDATE).click().run()
    assert any("'aspects' must be a non-empty list" in e.value for e in at.error)
    at.button(key=editor.KEY_SAVE).click().run()
    assert not (tmp_path / "taxonomies" / "phone.yaml").exists()

    original = (ROOT / "models" / "taxonomies" / "phone.yaml").read_text(encoding="utf-8")
    edited = original.replace("label: 手机", "label: 我的手机")
    at.text_area(key=editor.KEY_YAML).set_value(edited)
    at.button(key=editor.KEY_SAVE).click().run()
    assert not at.exception, [e.value for e in at.exception]
    saved = tmp_path / "taxonomies" / "phone.yaml"
    assert saved.read_text(encoding="utf-8") == edited
    at.run()
    assert any("已自定义" in c.value for c in at.caption)
    at.button(key=editor.KEY_RESET).click().run()
    assert not saved.exists()
    assert any("内置版本" in c.value for c in at.caption)


def test_choose_a_taxonomy_for_a_dataset(page: AppTest) -> None:
    at = page
    table = at.dataframe[1].value
    assert set(table["指标体系"]) == {"phone"}
    dataset = at.selectbox(key=editor.KEY_DATASET).value
    at.selectbox(key=editor.KEY_DATASET_TAXONOMY).set_value("hotel")
    at.button(key=editor.KEY_APPLY).click().run()
    assert not at.exception, [e.value for e in at.exception]
    # either analysed (models present) or a clear warning (weights missing); the choice is stored
    assert at.success or any("情感分析未完成" in w.value for w in at.warning)
    at.run()
    table = at.dataframe[1].value
    assert table.loc[table["数据集"] == dataset, "指标体系"].tolist() == ["hotel"]
