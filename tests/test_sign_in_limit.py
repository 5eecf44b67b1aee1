"""The limit on failed sign-ins: the throttle with a fake clock, ``authenticate`` with it, and the form."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data.sign_in_limit import SignInThrottle
from data.users import Role, SignInError, UsersFile, add_user, authenticate, save_users
from tests.app_session import form_sign_in

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PASSWORD = "correct-horse-battery"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: FakeClock) -> SignInThrottle:
    return SignInThrottle(max_failures=3, window_s=60, lockout_s=300, clock=clock)


def test_the_third_failure_in_the_window_locks_the_name_until_the_lockout_ends() -> None:
    clock = FakeClock()
    limit = throttle(clock)
    assert limit.record_failure("Wang ") == 0 and limit.record_failure("wang") == 0
    assert limit.seconds_locked("wang") == 0
    assert limit.record_failure("WANG") == 300  # names are compared stripped and lower-cased
    assert limit.seconds_locked("wang") == 300
    assert limit.seconds_locked("li") == 0  # other names are not affected
    clock.now += 299
    assert limit.seconds_locked("wang") == pytest.approx(1)
    clock.now += 1
    assert limit.seconds_locked("wang") == 0
    assert limit.record_failure("wang") == 0  # the failures before the lock do not count again


def test_failures_older_than_the_window_do_not_count_and_success_clears() -> None:
    clock = FakeClock()
    limit = throttle(clock)
    limit.record_failure("wang")
    limit.record_failure("wang")
    clock.now += 61
    assert limit.record_failure("wang") == 0  # the first two fell out of the window
    limit.record_failure("wang")
    limit.record_success("wang")
    assert limit.record_failure("wang") == 0 and limit.record_failure("wang") == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        SignInThrottle(max_failures=0)


def test_a_locked_name_is_refused_even_with_the_right_password_and_unknown_names_lock_too() -> None:
    clock = FakeClock()
    limit = throttle(clock)
    file = add_user(UsersFile(), "wang", PASSWORD, Role.VIEWER)
    for _ in range(2):
        with pytest.raises(SignInError) as refused:
            authenticate(file, "wang", "wrong", limit)
        assert refused.value.reason == "invalid"
    with pytest.raises(SignInError) as refused:
        authenticate(file, "wang", "wrong", limit)
    assert refused.value.reason == "locked" and refused.value.retry_after_s == 300
    with pytest.raises(SignInError) as refused:
        authenticate(file, "wang", PASSWORD, limit)
    assert refused.value.reason == "locked"
    for _ in range(3):  # an unknown name behaves the same, so a lock reveals nothing
        with pytest.raises(SignInError):
            authenticate(file, "nobody", "x", limit)
    assert limit.seconds_locked("nobody") == 300
    clock.now += 300
    assert authenticate(file, "wang", PASSWORD, limit).username == "wang"


def test_without_a_throttle_nothing_locks() -> None:
    file = add_user(UsersFile(), "wang", PASSWORD, Role.VIEWER)
    for _ in range(10):
        with pytest.raises(SignInError) as refused:
            authenticate(file, "wang", "wrong")
        assert refused.value.reason == "invalid"
    assert authenticate(file, "wang", PASSWORD).username == "wang"


def test_the_form_locks_after_five_failures_and_says_for_how_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_users_file: Path
) -> None:
    save_users(add_user(UsersFile(), "wang", PASSWORD, Role.ADMIN), _isolated_users_file)
    monkeypatch.setenv("TINGJIAN_DB", str(tmp_path / "store.duckdb"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    for _ in range(4):
        form_sign_in(at, "wang", "wrong")
        assert any("用户名或密码不正确" in e.value for e in at.error)
    form_sign_in(at, "wang", "wrong")
    assert any("已暂时锁定" in e.value and "15 分钟" in e.value for e in at.error)
    form_sign_in(at, "wang", PASSWORD)  # the right password does not get through a lock
    assert any("已暂时锁定" in e.value for e in at.error) and not at.metric
    assert at.title[0].value == "听见 · 登录"
