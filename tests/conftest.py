"""Test isolation for sign-in: every test sees an empty users file of its own and the demo accounts on,
whatever ``data/users.yaml`` or ``$TINGJIAN_DEMO_ACCOUNTS`` of the machine say."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_users_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.yaml"
    monkeypatch.setenv("TINGJIAN_USERS", str(path))
    monkeypatch.delenv("TINGJIAN_DEMO_ACCOUNTS", raising=False)
    return path
