"""Sign-in, the signed-in user, and the role gate (Streamlit side of ``data.users``).

The session keeps only the user name (``st.session_state[USER_KEY]``); every run looks the user up again in
the users file, so a role change, a new restriction or a disabled account takes effect on the next click.
No password or hash is ever put into session state, shown, or logged.
"""

from __future__ import annotations

import math

import streamlit as st

from components.i18n import LANG_KEY, register, t
from components.safe_text import escape_markdown
from data.scope import Scope
from data.sign_in_limit import SignInThrottle
from data.users import (
    DEMO_ACCOUNTS,
    PAGE_MIN_ROLE,
    Role,
    SignInError,
    User,
    UsersError,
    UsersFile,
    authenticate,
    demo_accounts_enabled,
    find_user,
    load_users,
    may_open_page,
    users_path,
)

register(
    {
        "auth.title": ("听见 · 登录", "Tingjian · Sign in"),
        "auth.username": ("用户名", "User name"),
        "auth.password": ("密码", "Password"),
        "auth.submit": ("登录", "Sign in"),
        "auth.invalid": ("用户名或密码不正确。", "Wrong user name or password."),
        "auth.locked": (
            "登录失败次数过多，此用户名已暂时锁定，请 {minutes} 分钟后再试。忘记密码请联系管理员。",
            "Too many failed sign-ins: this user name is locked for now. Try again in {minutes} min, or ask "
            "an administrator to reset the password.",
        ),
        "auth.disabled": (
            "该账号已停用，请联系管理员。", "This account is turned off; ask an administrator."
        ),
        "auth.demo": (
            "演示账号：**demo / demo**（管理员，可见全部数据）；**huawei / huawei**（只读，仅限品牌 华为）。"
            "设置环境变量 TINGJIAN_DEMO_ACCOUNTS=0 可关闭演示账号。",
            "Demo accounts: **demo / demo** (admin, all data); **huawei / huawei** (viewer, brand 华为 "
            "only). Set TINGJIAN_DEMO_ACCOUNTS=0 to turn them off.",
        ),
        "auth.no_users": (
            "还没有任何用户，演示账号也已关闭。请在服务器上用命令行创建第一个管理员："
            "`python cli.py users add 用户名 --role admin`，然后刷新本页。",
            "There are no users and the demo accounts are off. Create the first admin on the server with "
            "`python cli.py users add NAME --role admin`, then reload this page.",
        ),
        "auth.file_error": (
            "用户文件有误，无法登录：{message}", "The users file is invalid, nobody can sign in: {message}"
        ),
        "auth.signed_in_as": ("当前用户：**{name}**", "Signed in as **{name}**"),
        "auth.role": ("角色：{role}", "Role: {role}"),
        "auth.scope": ("数据权限：{scope}", "Data access: {scope}"),
        "auth.sign_out": ("退出登录", "Sign out"),
        "auth.forbidden": (
            "您的角色（{role}）不能打开此页面（需要：{needed}）。请从左侧导航选择其他页面，或联系管理员。",
            "Your role ({role}) cannot open this page (needs: {needed}). Choose another page on the left or "
            "ask an administrator.",
        ),
        "auth.forbidden_scope": (
            "此页面管理整个数据库（所有品牌的数据集），受数据权限限制的账号不能打开。请联系管理员。",
            "This page manages the whole store (datasets of every brand); accounts with a data restriction "
            "cannot open it. Ask an administrator.",
        ),
        "role.viewer": ("查看者", "Viewer"),
        "role.analyst": ("分析师", "Analyst"),
        "role.agent": ("处理专员", "Agent"),
        "role.admin": ("管理员", "Admin"),
    }
)

USER_KEY = "auth_user"
KEY_FORM = "auth_form"
KEY_USERNAME = "auth_username"
KEY_PASSWORD = "auth_password"
KEY_SIGN_OUT = "auth_sign_out"
# Pages that act on whole datasets (which mix brands): open only to users without a data restriction.
STORE_WIDE_PAGES = frozenset({"import", "taxonomy"})

_loaded: dict[str, tuple[float, UsersFile]] = {}


def role_label(role: Role) -> str:
    return t(f"role.{role.value}")


def users_file() -> UsersFile:
    """The users file (re-read when it changes on disk); a broken file stops the page with the reason."""
    path = users_path()
    try:
        mtime = path.stat().st_mtime if path.exists() else -1.0
        cached = _loaded.get(str(path))
        if cached is not None and cached[0] == mtime:
            return cached[1]
        loaded = load_users(path)
    except (UsersError, OSError) as exc:
        st.error(t("auth.file_error", message=escape_markdown(exc)))
        st.stop()
        raise AssertionError("unreachable") from exc  # st.stop() raises
    _loaded[str(path)] = (mtime, loaded)
    return loaded


def forget_users_file() -> None:
    """Drop the cached users file (after this process wrote it)."""
    _loaded.clear()


def current_user() -> User | None:
    """The signed-in user, or None (also when the account was removed or turned off meanwhile)."""
    name = st.session_state.get(USER_KEY)
    if not isinstance(name, str) or not name:
        return None
    user = find_user(users_file(), name)
    if user is None or user.disabled:
        st.session_state.pop(USER_KEY, None)
        return None
    return user


def current_scope() -> Scope:
    """The signed-in user's data permissions; no row at all when nobody is signed in (fail closed)."""
    user = current_user()
    return user.scope if user is not None else Scope.nothing()


def may_open(user: User, url_path: str) -> bool:
    """Role gate plus the store-wide rule (see :data:`STORE_WIDE_PAGES`)."""
    if not may_open_page(user.role, url_path):
        return False
    return url_path not in STORE_WIDE_PAGES or user.scope.is_unrestricted()


def forbidden(user: User, url_path: str) -> None:
    """The message shown instead of a page the user may not open."""
    if not may_open_page(user.role, url_path):
        needed = PAGE_MIN_ROLE.get(url_path, Role.ADMIN)
        st.error(t("auth.forbidden", role=role_label(user.role), needed=role_label(needed)))
    else:
        st.error(t("auth.forbidden_scope"))


def require_role(role: Role, url_path: str) -> User:
    """For a page: stop with a clear message unless the signed-in user has at least ``role``."""
    user = current_user()
    if user is None or not user.role.at_least(role):
        if user is None:
            st.error(t("auth.invalid"))
        else:
            forbidden(user, url_path)
        st.stop()
    assert user is not None
    return user


@st.cache_resource(show_spinner=False)
def sign_in_throttle() -> SignInThrottle:
    """The process-wide limit on failed sign-ins (one per server process, shared by every session)."""
    return SignInThrottle()


def _sign_in(file: UsersFile) -> None:
    username = str(st.session_state.get(KEY_USERNAME, "")).strip()
    password = str(st.session_state.get(KEY_PASSWORD, ""))
    st.session_state[KEY_PASSWORD] = ""  # never keep the password beyond this callback
    try:
        user = authenticate(file, username, password, sign_in_throttle())
    except SignInError as exc:
        st.session_state["auth_error"] = exc.reason
        st.session_state["auth_retry_min"] = max(1, math.ceil(exc.retry_after_s / 60))
        return
    st.session_state.pop("auth_error", None)
    st.session_state[USER_KEY] = user.username


def sign_in_page() -> None:
    """The sign-in form (the language switch is drawn by the frame before it)."""
    file = users_file()
    st.title(t("auth.title"))
    demo_on = demo_accounts_enabled(file)
    if not demo_on and not file.users:
        st.warning(t("auth.no_users"))
        return
    with st.form(KEY_FORM):
        st.text_input(t("auth.username"), key=KEY_USERNAME)
        st.text_input(t("auth.password"), type="password", key=KEY_PASSWORD)
        st.form_submit_button(t("auth.submit"), on_click=_sign_in, args=(file,), type="primary")
    error = st.session_state.get("auth_error")
    if error == "locked":
        st.error(t("auth.locked", minutes=st.session_state.get("auth_retry_min", 15)))
    elif error:
        st.error(t("auth.disabled" if error == "disabled" else "auth.invalid"))
    if demo_on and any(name not in file.users for name, *_ in DEMO_ACCOUNTS):
        st.info(t("auth.demo"))


def require_sign_in() -> User:
    """The signed-in user; otherwise draw the sign-in form and stop this run."""
    user = current_user()
    if user is None:
        sign_in_page()
        st.stop()
    assert user is not None
    return user


def sign_out() -> None:
    """Forget everything of this session except the language."""
    lang = st.session_state.get(LANG_KEY)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if lang is not None:
        st.session_state[LANG_KEY] = lang


def user_panel(user: User, lang: str) -> None:
    """Sidebar block: who is signed in, the role, the data restriction, and the sign-out button."""
    box = st.sidebar.container(border=True)
    box.markdown(t("auth.signed_in_as", name=escape_markdown(user.label)))
    box.caption(t("auth.role", role=role_label(user.role)))
    box.caption(t("auth.scope", scope=escape_markdown(user.scope.describe(lang))))
    box.button(t("auth.sign_out"), key=KEY_SIGN_OUT, on_click=sign_out, icon=":material/logout:")
