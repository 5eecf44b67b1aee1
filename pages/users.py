"""用户 Users (admin only): list users, add one, reset a password, change role and restriction, turn off."""

from __future__ import annotations

import streamlit as st

from components import auth, frame, users_admin
from components.i18n import t
from components.users_admin import Role


def main() -> None:
    frame.require_frame()
    auth.require_role(Role.ADMIN, "users")
    st.title(t("users.title"))
    users_admin.users_admin()


main()
