"""The admin's user management (pages/users.py): list users, add one, reset a password, change role and
data restriction, turn an account off or on. Every change is written to the users file at once through
``data.users``; no password or hash is ever shown."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from components import auth, cache
from components.i18n import current_lang, register, t
from components.safe_text import escape_markdown
from data.scope import Scope
from data.users import (
    Role,
    UsersError,
    UsersFile,
    add_user,
    demo_accounts_enabled,
    save_users,
    set_password,
    update_user,
    users_path,
)

register(
    {
        "users.title": ("用户", "Users"),
        "users.file": ("用户文件：{path}（只保存 bcrypt 哈希）", "Users file: {path} (bcrypt hashes only)"),
        "users.demo_on": (
            "演示账号 demo、huawei 已开启。正式使用前请设置 TINGJIAN_DEMO_ACCOUNTS=0，或在用户文件中写入 "
            "`demo_accounts: false`。",
            "The demo accounts demo and huawei are on. Before real use set TINGJIAN_DEMO_ACCOUNTS=0 or write "
            "`demo_accounts: false` in the users file.",
        ),
        "users.none": ("用户文件中还没有用户。", "The users file has no users yet."),
        "users.col.username": ("用户名", "User name"),
        "users.col.display_name": ("显示名", "Display name"),
        "users.col.role": ("角色", "Role"),
        "users.col.scope": ("数据权限", "Data access"),
        "users.col.status": ("状态", "Status"),
        "users.active": ("启用", "active"),
        "users.off": ("已停用", "off"),
        "users.add": ("添加用户", "Add a user"),
        "users.edit": ("修改用户", "Change a user"),
        "users.username": ("用户名", "User name"),
        "users.display_name": ("显示名（可选）", "Display name (optional)"),
        "users.password": ("密码（至少 8 个字符）", "Password (at least 8 characters)"),
        "users.role": ("角色", "Role"),
        "users.brands": ("限定品牌（空 = 不限）", "Brands only (empty = all)"),
        "users.products": ("限定型号（空 = 不限）", "Models only (empty = all)"),
        "users.regions": ("限定地区（空 = 不限）", "Regions only (empty = all)"),
        "users.pick_or_type": ("选择或输入", "Choose or type"),
        "users.save_new": ("添加", "Add"),
        "users.pick": ("选择用户", "User"),
        "users.new_password": ("新密码（留空 = 不改）", "New password (empty = keep)"),
        "users.disabled": ("停用此账号", "Turn this account off"),
        "users.save": ("保存修改", "Save changes"),
        "users.added": ("已添加用户 {name}。", "Added the user {name}."),
        "users.saved": ("已保存用户 {name}。", "Saved the user {name}."),
        "users.failed": ("未保存：{message}", "Not saved: {message}"),
    }
)

KEY_ADD_FORM = "users_add_form"
KEY_EDIT_FORM = "users_edit_form"
KEY_PICK = "users_pick"
KEY_MESSAGE = "users_message"


def _write(change: Callable[[UsersFile], UsersFile], success: str) -> None:
    """Apply ``change`` to the users file as it is on disk now, save it, and remember the outcome."""
    try:
        updated = change(auth.users_file())
        save_users(updated)
    except (UsersError, OSError) as exc:
        st.session_state[KEY_MESSAGE] = ("error", t("users.failed", message=escape_markdown(exc)))
        return
    auth.forget_users_file()
    st.session_state[KEY_MESSAGE] = ("success", success)


def _scope_inputs(prefix: str, scope: Scope) -> Scope:
    """Multiselects for brands, models and regions; names the store does not hold yet may be typed in."""
    options = cache.filter_options()
    products = sorted({p for _, p in options.products})
    cols = st.columns(3)
    brands = cols[0].multiselect(t("users.brands"), sorted({*options.brands, *scope.brands}),
                                 default=list(scope.brands), accept_new_options=True,
                                 placeholder=t("users.pick_or_type"), key=f"{prefix}_brands")
    models = cols[1].multiselect(t("users.products"), sorted({*products, *scope.products}),
                                 default=list(scope.products), accept_new_options=True,
                                 placeholder=t("users.pick_or_type"), key=f"{prefix}_products")
    regions = cols[2].multiselect(t("users.regions"), sorted({*options.regions, *scope.regions}),
                                  default=list(scope.regions), accept_new_options=True,
                                  placeholder=t("users.pick_or_type"), key=f"{prefix}_regions")
    return Scope(brands=tuple(brands), products=tuple(models), regions=tuple(regions))


def users_table(file: UsersFile) -> None:
    lang = current_lang()
    rows = [
        {
            t("users.col.username"): user.username,
            t("users.col.display_name"): user.display_name,
            t("users.col.role"): auth.role_label(user.role),
            t("users.col.scope"): user.scope.describe(lang),
            t("users.col.status"): t("users.off") if user.disabled else t("users.active"),
        }
        for user in sorted(file.users.values(), key=lambda u: u.username)
    ]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="users_table")
    else:
        st.info(t("users.none"))


def add_user_form() -> None:
    st.subheader(t("users.add"))
    with st.form(KEY_ADD_FORM, clear_on_submit=True):
        cols = st.columns(2)
        username = cols[0].text_input(t("users.username"), key="users_new_name")
        display = cols[1].text_input(t("users.display_name"), key="users_new_display")
        cols = st.columns(2)
        password = cols[0].text_input(t("users.password"), type="password", key="users_new_password")
        role = cols[1].selectbox(t("users.role"), list(Role), format_func=auth.role_label,
                                 key="users_new_role")
        scope = _scope_inputs("users_new", Scope())
        if st.form_submit_button(t("users.save_new"), type="primary"):
            _write(lambda f: add_user(f, username, password, Role(role), scope, display),
                   t("users.added", name=escape_markdown(username.strip())))
            st.rerun()


def edit_user_form(file: UsersFile) -> None:
    if not file.users:
        return
    st.subheader(t("users.edit"))
    name = st.selectbox(t("users.pick"), sorted(file.users), key=KEY_PICK)
    user = file.users[name]
    with st.form(f"{KEY_EDIT_FORM}_{name}"):
        cols = st.columns(2)
        role = cols[0].selectbox(t("users.role"), list(Role), index=list(Role).index(user.role),
                                 format_func=auth.role_label, key=f"users_edit_role_{name}")
        display = cols[1].text_input(t("users.display_name"), value=user.display_name,
                                     key=f"users_edit_display_{name}")
        scope = _scope_inputs(f"users_edit_{name}", user.scope)
        password = st.text_input(t("users.new_password"), type="password", key=f"users_edit_password_{name}")
        disabled = st.checkbox(t("users.disabled"), value=user.disabled, key=f"users_edit_disabled_{name}")
        if st.form_submit_button(t("users.save"), type="primary"):

            def change(f: UsersFile) -> UsersFile:
                f = update_user(f, name, role=Role(role), scope=scope, disabled=disabled,
                                display_name=display.strip())
                return set_password(f, name, password) if password else f

            _write(change, t("users.saved", name=escape_markdown(name)))
            st.rerun()


def users_admin() -> None:
    """The whole page body (the caller has checked the admin role)."""
    file = auth.users_file()
    st.caption(t("users.file", path=escape_markdown(users_path())))
    if demo_accounts_enabled(file):
        st.warning(t("users.demo_on"))
    message = st.session_state.pop(KEY_MESSAGE, None)
    if message is not None:
        (st.error if message[0] == "error" else st.success)(message[1])
    users_table(file)
    add_user_form()
    edit_user_form(file)
