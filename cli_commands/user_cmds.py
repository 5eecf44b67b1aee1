"""``users``: manage the users file (``$TINGJIAN_USERS`` or ``data/users.yaml``): add, list, set-password,
role, restrict, disable, enable, remove.

Passwords are read with ``getpass`` (asked twice, never echoed) or, for scripts, from one line of standard
input with ``--password-stdin``; only their bcrypt hash is written. No command prints a hash.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from cli_commands.common import fail
from data.scope import Scope
from data.users import (
    Role,
    UsersError,
    UsersFile,
    add_user,
    demo_accounts_enabled,
    load_users,
    remove_user,
    save_users,
    set_password,
    update_user,
    users_path,
)

UsersOption = Annotated[
    str | None,
    typer.Option(
        "--users", help="Users file (default: $TINGJIAN_USERS, else data/users.yaml).", show_default=False
    ),
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from one line of standard input.")
]
RoleOption = Annotated[str, typer.Option("--role", help="viewer, analyst, agent or admin.")]
ListOption = Annotated[list[str] | None, typer.Option(help="Repeat for several; empty means no restriction.")]

users_app = typer.Typer(help="Users, roles and data permissions (the users file).", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Repeat the password: ")
        except (EOFError, KeyboardInterrupt):
            fail("no password entered")
        if password != again:
            fail("the two passwords differ; nothing changed")
    if not password:
        fail("empty password; nothing changed")
    return password


def _load(path: str | None) -> UsersFile:
    try:
        return load_users(path)
    except UsersError as exc:
        fail(str(exc))


def _change(path: str | None, change: Callable[[UsersFile], UsersFile], done: str) -> None:
    try:
        target = save_users(change(_load(path)), path)
    except (UsersError, OSError) as exc:
        fail(str(exc))
    print(f"{done} ({target})")


def _role(value: str) -> Role:
    try:
        return Role.parse(value)
    except UsersError as exc:
        fail(str(exc))


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="The new user's name.")],
    role: RoleOption = "viewer",
    brand: ListOption = None,
    product: ListOption = None,
    region: ListOption = None,
    display_name: Annotated[str, typer.Option("--display-name", help="Name shown in the app.")] = "",
    password_stdin: PasswordStdin = False,
    users: UsersOption = None,
) -> None:
    """Add a user; the password is asked for (or read with --password-stdin) and stored as a bcrypt hash."""
    chosen = _role(role)
    scope = Scope(brands=tuple(brand or ()), products=tuple(product or ()), regions=tuple(region or ()))
    _load(users)  # a broken file fails before the password is asked
    password = _read_password(password_stdin)
    _change(users, lambda f: add_user(f, username, password, chosen, scope, display_name),
            f"added {username} ({chosen.value}, access: {scope.describe('en')})")


@users_app.command("list")
def list_users(users: UsersOption = None) -> None:
    """List the users: name, role, data access, status (never a hash)."""
    file = _load(users)
    path = users_path(users)
    print(f"users file: {path}{'' if path.exists() else ' (does not exist yet)'}")
    print(f"demo accounts: {'on' if demo_accounts_enabled(file) else 'off'}")
    if not file.users:
        print("no users in the file; add the first admin with: python cli.py users add NAME --role admin")
        return
    print(f"{'user':<20} {'role':<8} {'status':<8} access")
    for user in sorted(file.users.values(), key=lambda u: u.username):
        status = "off" if user.disabled else "active"
        print(f"{user.username:<20} {user.role.value:<8} {status:<8} {user.scope.describe('en')}")


@users_app.command("set-password")
def set_password_cmd(
    username: Annotated[str, typer.Argument(help="The user.")],
    password_stdin: PasswordStdin = False,
    users: UsersOption = None,
) -> None:
    """Set a new password (stored as a bcrypt hash)."""
    _load(users)
    password = _read_password(password_stdin)
    _change(users, lambda f: set_password(f, username, password), f"password of {username} changed")


@users_app.command("role")
def role_cmd(
    username: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[str, typer.Argument(help="viewer, analyst, agent or admin.")],
    users: UsersOption = None,
) -> None:
    """Change a user's role."""
    chosen = _role(role)
    _change(users, lambda f: update_user(f, username, role=chosen), f"{username} is now {chosen.value}")


@users_app.command("restrict")
def restrict(
    username: Annotated[str, typer.Argument(help="The user.")],
    brand: ListOption = None,
    product: ListOption = None,
    region: ListOption = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every restriction.")] = False,
    users: UsersOption = None,
) -> None:
    """Restrict a user to brands, models and/or regions (replaces the previous restriction)."""
    scope = Scope(brands=tuple(brand or ()), products=tuple(product or ()), regions=tuple(region or ()))
    if not clear and scope.is_unrestricted():
        fail("name at least one --brand, --product or --region, or pass --clear to remove the restriction")
    if clear and not scope.is_unrestricted():
        fail("--clear cannot be combined with --brand, --product or --region")
    _change(users, lambda f: update_user(f, username, scope=scope),
            f"{username} may now see: {scope.describe('en')}")


@users_app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="The user.")], users: UsersOption = None) -> None:
    """Turn an account off (it can no longer sign in; open sessions end at their next click)."""
    _change(users, lambda f: update_user(f, username, disabled=True), f"{username} turned off")


@users_app.command("enable")
def enable(username: Annotated[str, typer.Argument(help="The user.")], users: UsersOption = None) -> None:
    """Turn an account back on."""
    _change(users, lambda f: update_user(f, username, disabled=False), f"{username} turned on")


@users_app.command("remove")
def remove(username: Annotated[str, typer.Argument(help="The user.")], users: UsersOption = None) -> None:
    """Delete a user from the users file."""
    _change(users, lambda f: remove_user(f, username), f"removed {username}")


@users_app.command("demo-accounts")
def demo_accounts(
    state: Annotated[str, typer.Argument(help="on or off")], users: UsersOption = None
) -> None:
    """Turn the built-in demo accounts on or off in the users file (TINGJIAN_DEMO_ACCOUNTS=0 also turns
    them off)."""
    if state not in {"on", "off"}:
        fail(f"expected 'on' or 'off', got {state!r}")
    _change(users, lambda f: UsersFile(f.users, state == "on"), f"demo accounts {state} in the users file")


def register(app: typer.Typer, *rest: typer.Typer) -> None:
    """Add the ``users`` group to the main CLI."""
    app.add_typer(users_app, name="users")
