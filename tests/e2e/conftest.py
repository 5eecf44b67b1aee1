"""Fixtures for the real-browser tests: a Streamlit server on a temporary store, and headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``); Playwright's own browser download
is never used. Without Chromium or Playwright the e2e tests skip with the reason. Screenshots and the
server log go to ``test-artifacts/e2e/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = Path(os.environ.get("TINGJIAN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HEALTH_TIMEOUT_S = 60


@dataclass(frozen=True)
class AppServer:
    url: str
    db: Path
    started_at: float  # time.monotonic() when the server process was launched
    health_s: float  # seconds from launch until /_stcore/health answered


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[AppServer]:
    """``streamlit run app.py`` on an empty temporary store (the app builds the demo on first start)."""
    db = tmp_path_factory.mktemp("e2e") / "store.duckdb"
    port = _free_port()
    env = {**os.environ, "TINGJIAN_DB": str(db), "PYTHONUNBUFFERED": "1"}
    log_path = artifacts / "server.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.fileWatcherType",
                "none",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() - started > HEALTH_TIMEOUT_S:
                pytest.fail(
                    f"streamlit did not answer /_stcore/health in {HEALTH_TIMEOUT_S} s; see {log_path}"
                )
            time.sleep(0.2)
        yield AppServer(url=url, db=db, started_at=started, health_s=time.monotonic() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium through Playwright; skips when either is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium fonts-noto-cjk (.ci/run does)"
        )
    executable = str(CHROMIUM) if CHROMIUM.exists() else str(shutil.which("chromium"))
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
