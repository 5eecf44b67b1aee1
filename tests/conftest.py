"""Test isolation for sign-in: every test sees an empty users file of its own and the demo accounts on,
whatever ``data/users.yaml`` or ``$TINGJIAN_DEMO_ACCOUNTS`` of the machine say, and no failed sign-in of an
earlier test counts against it (the limit is process-wide, like the server's)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

# Tests call the cached wrappers of components/cache.py outside a Streamlit server; Streamlit then logs
# "No runtime found, using MemoryCacheStorageManager" once per wrapper, which buries CI output.
logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def _isolated_users_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.yaml"
    monkeypatch.setenv("TINGJIAN_USERS", str(path))
    monkeypatch.delenv("TINGJIAN_DEMO_ACCOUNTS", raising=False)
    from components.auth import sign_in_throttle  # imported here: Streamlit loads only once a test runs

    sign_in_throttle.clear()
    return path
