"""Signing in for UI tests: one helper for ``AppTest`` sessions and one for the real browser.

``signed_in(at)`` puts the user name into the session state the sign-in form would set
(``components.auth.USER_KEY``), so a test starts on the app's pages instead of the sign-in form; the user is
still looked up in the users file (or the demo accounts) on every run, exactly as after a real sign-in.
``tests/conftest.py`` points ``$TINGJIAN_USERS`` at an empty temporary file for every test and clears
``$TINGJIAN_DEMO_ACCOUNTS``, so the demo accounts ``demo`` (admin) and ``huawei`` (华为 only) exist.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from components.auth import KEY_PASSWORD, KEY_USERNAME, USER_KEY


def signed_in(at: AppTest, user: str = "demo") -> AppTest:
    """``at`` with ``user`` signed in (for the next ``run``); returns ``at`` for chaining."""
    at.session_state[USER_KEY] = user
    return at


def form_sign_in(at: AppTest, user: str, password: str) -> AppTest:
    """Type ``user`` and ``password`` into the sign-in form of ``at`` and submit it (no exception allowed)."""
    at.text_input(key=KEY_USERNAME).input(user)
    at.text_input(key=KEY_PASSWORD).input(password)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def browser_sign_in(page: object, user: str = "demo", password: str | None = None) -> None:
    """Fill and submit the sign-in form in a Playwright ``page`` (the demo passwords equal the names)."""
    form = page.get_by_test_id("stForm")  # type: ignore[attr-defined]
    form.get_by_label("用户名", exact=True).fill(user)
    form.get_by_label("密码", exact=True).fill(password if password is not None else user)
    form.get_by_role("button", name="登录").click()
