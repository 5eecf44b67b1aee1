"""Real-browser test (issue 7.5): Chromium drives ``streamlit run app.py`` on a fresh store.

One scenario, in order (each step needs the previous one): sign in with the demo account; the first start
builds the demo and shows the overview; a sidebar filter changes the numbers and the URL; every page renders
without an exception; a CSV with hostile text is imported through the upload widget and appears in the
overview; no script from the data ever runs (no dialog opens). Screenshots of every step go to
``test-artifacts/e2e/``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.app_session import browser_sign_in
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e

FIRST_START_TIMEOUT_MS = 150_000
STEP_TIMEOUT_MS = 60_000


def _pick_option(page: object, widget_key: str, option: str, attempts: int = 3) -> None:
    """Open a multiselect and click one option; retried because a rerun (the first start's annotation
    progress redraws the page) can close the open dropdown before the option is clicked."""
    for _ in range(attempts):
        page.locator(f".st-key-{widget_key}").get_by_role("combobox").click()  # type: ignore[attr-defined]
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=15_000)  # type: ignore[attr-defined]
            return
        except PlaywrightTimeoutError:  # try again with the page redrawn
            page.keyboard.press("Escape")  # type: ignore[attr-defined]
    raise AssertionError(f"option {option!r} of {widget_key} could not be picked in {attempts} attempts")
UPLOAD_ROWS = [
    ("<script>alert('xss')</script>屏幕很好", "5", "2025-05-01", "华为", "Mate 60"),
    ('=HYPERLINK("http://evil.example","领奖")续航一般', "3", "2025-05-02", "小米", "14 Pro"),
    ("<img src=x onerror=alert(1)>拍照清晰", "4", "2025-05-03", "华为", "P70"),
    ("评分超出范围的一行", "11", "2025-05-04", "华为", "P70"),
]
UPLOAD_NAME = "e2e_upload"


def _metric_value(page: object, label: str) -> str:
    metric = page.get_by_test_id("stMetric").filter(has_text=label).first  # type: ignore[attr-defined]
    return metric.get_by_test_id("stMetricValue").inner_text().strip()


def _as_int(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def _assert_no_exception(page: object, where: str) -> None:
    exceptions = page.get_by_test_id("stException")  # type: ignore[attr-defined]
    assert exceptions.count() == 0, f"{where}: {exceptions.first.inner_text()[:500]}"


def _wait_path(page: object, path: str) -> None:
    """Wait for a client-side navigation (no load event) to reach ``path``."""
    page.wait_for_function(  # type: ignore[attr-defined]
        "(path) => location.pathname.replace(/\\/$/, '') === path.replace(/\\/$/, '')", arg=path
    )


def _settle(page: object) -> None:
    """Let the page's script run draw its charts. (Streamlit's "running" indicator cannot be awaited: on
    a first start the demo's annotation keeps running at the end of each script run.)"""
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    page.wait_for_timeout(1_500)  # type: ignore[attr-defined]


def test_every_page_filter_and_upload(
    app_server: AppServer, browser: object, artifacts: Path, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")  # type: ignore[attr-defined]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_default_timeout(STEP_TIMEOUT_MS)

    # 1. First start: the app builds the demo market, then the overview shows its KPIs.
    page.goto(app_server.url + "/")
    browser_sign_in(page, "demo")
    page.get_by_test_id("stMetric").filter(has_text="反馈总数").first.wait_for(timeout=FIRST_START_TIMEOUT_MS)
    first_start_s = time.monotonic() - app_server.started_at
    print(f"health after {app_server.health_s:.1f} s; overview with the demo after {first_start_s:.1f} s")
    total_before = _as_int(_metric_value(page, "反馈总数"))
    datasets_before = _as_int(_metric_value(page, "数据集"))
    assert total_before > 10_000 and datasets_before >= 1
    _assert_no_exception(page, "overview")
    page.screenshot(path=str(artifacts / "01_overview_first_start.png"), full_page=True)

    # 2. A sidebar filter: brand 华为 narrows the numbers and lands in the URL.
    _pick_option(page, "filter_brands", "华为")
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"brands=%E5%8D%8E%E4%B8%BA|brands=华为"))
    page.wait_for_function(
        "(before) => { const m = [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
        ".find(e => e.innerText.includes('反馈总数')); if (!m) return false;"
        " const v = parseInt(m.querySelector('[data-testid=\"stMetricValue\"]')"
        ".innerText.replace(/\\D/g, ''));"
        " return v > 0 && v < before; }",
        arg=total_before,
    )
    _assert_no_exception(page, "overview filtered")
    page.screenshot(path=str(artifacts / "02_overview_brand_filter.png"), full_page=True)

    # 3. Every page in the navigation (read from the sidebar, so pages added later are covered too).
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    pages = [
        (links.nth(i).inner_text().split("\n")[-1].strip(), links.nth(i).get_attribute("href") or "")
        for i in range(links.count())
    ]
    assert len(pages) >= 3, pages
    visited = []
    for number, (label, href) in enumerate(pages, start=3):
        path = urlsplit(href).path
        url_path = path.strip("/") or "home"
        page.get_by_test_id("stSidebarNav").get_by_role("link").nth(number - 3).click()
        _wait_path(page, path)
        page.get_by_test_id("stMain").get_by_role("heading").first.wait_for()
        _settle(page)
        _assert_no_exception(page, f"page {label} ({url_path})")
        page.screenshot(path=str(artifacts / f"{number:02d}_page_{url_path}.png"), full_page=True)
        visited.append(url_path)
    print(f"visited pages: {visited}")
    assert "import" in visited

    page.get_by_test_id("stSidebarNav").get_by_role("link").filter(has_text="数据导入").click()
    _wait_path(page, "/import")
    # 4. Import a CSV with hostile text through the upload widget.
    upload = tmp_path / f"{UPLOAD_NAME}.csv"
    pd.DataFrame(UPLOAD_ROWS, columns=["评论内容", "评分", "购买时间", "品牌", "型号"]).to_csv(
        upload, index=False, encoding="utf-8-sig"
    )
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
    button = page.locator(".st-key-import_button button")
    button.wait_for()
    page.wait_for_function(
        "() => { const b = document.querySelector('.st-key-import_button button'); return b && !b.disabled; }"
    )
    page.screenshot(path=str(artifacts / "90_import_form.png"), full_page=True)
    button.click()
    page.get_by_test_id("stMetric").filter(has_text="已导入").first.wait_for()
    assert _as_int(_metric_value(page, "已导入")) == 3
    assert _as_int(_metric_value(page, "被拒绝")) == 1
    _assert_no_exception(page, "import")
    page.screenshot(path=str(artifacts / "91_import_result.png"), full_page=True)

    # 5. The overview counts the new dataset (filters reset to see everything).
    page.get_by_test_id("stSidebarNav").get_by_text("总览", exact=True).click()
    page.get_by_test_id("stMetric").filter(has_text="反馈总数").first.wait_for()
    page.locator(".st-key-filter_reset button").click()
    page.wait_for_function(
        "([total, datasets]) => { const value = (label) => { const m = [...document.querySelectorAll("
        "'[data-testid=\"stMetric\"]')].find(e => e.innerText.includes(label)); return m ? parseInt("
        "m.querySelector('[data-testid=\"stMetricValue\"]').innerText.replace(/\\D/g, '')) : -1; };"
        " return value('反馈总数') === total && value('数据集') === datasets; }",
        arg=[total_before + 3, datasets_before + 1],
    )
    assert "brands=" not in page.url
    assert _as_int(_metric_value(page, "反馈总数")) == total_before + 3
    _assert_no_exception(page, "overview after import")
    page.screenshot(path=str(artifacts / "92_overview_after_import.png"), full_page=True)

    assert not dialogs, f"text from the data ran as script: {dialogs}"
    page.close()
