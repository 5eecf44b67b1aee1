"""Users, roles, passwords and data permissions: the pure logic behind sign-in (no Streamlit).

- Users live in a YAML file (``$TINGJIAN_USERS``, else ``data/users.yaml``, which git ignores) holding bcrypt
  hashes only, never a password: ``users: {name: {password_hash, role, restriction, disabled}}`` plus an
  optional ``demo_accounts: false``. ``python cli.py users ...`` and the admin's 用户 page write it.
- Roles are ordered (viewer < analyst < agent < admin); :data:`ROLE_PERMISSIONS` is the one table of what
  each role may do and :data:`PAGE_MIN_ROLE` the one map of which role a page needs.
- A user's restriction is a :class:`data.scope.Scope`; ``analytics.filters.Filters`` carries it.
- Demo accounts (``demo``/``demo`` admin, ``huawei``/``huawei`` viewer restricted to 华为) are built in
  code, hashed at first use; ``TINGJIAN_DEMO_ACCOUNTS=0`` or ``demo_accounts: false`` turns them off.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import NoReturn

import bcrypt
import yaml

from data.config import PROJECT_ROOT
from data.scope import Scope
from data.sign_in_limit import SignInThrottle

USERS_ENV_VAR = "TINGJIAN_USERS"
DEMO_ENV_VAR = "TINGJIAN_DEMO_ACCOUNTS"
DEFAULT_USERS_PATH = PROJECT_ROOT / "data" / "users.yaml"
BCRYPT_ROUNDS = 12
DEMO_BCRYPT_ROUNDS = 10  # the demo passwords are public; hashing them only keeps one code path
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_BYTES = 72  # bcrypt's limit; bcrypt 5 refuses longer input instead of truncating
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,40}$")
HASH_RE = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")


class UsersError(ValueError):
    """A users file or a user change is invalid; the message says which and what to do."""


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    AGENT = "agent"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: object) -> Role:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise UsersError(
                f"unknown role {value!r}; use one of {', '.join(r.value for r in cls)}"
            ) from None


class Permission(StrEnum):
    VIEW_DASHBOARDS = "view_dashboards"
    IMPORT_DATA = "import_data"
    ANNOTATE = "annotate"
    EDIT_TAXONOMY = "edit_taxonomy"
    MANAGE_CASES = "manage_cases"
    MANAGE_RULES = "manage_rules"
    MANAGE_USERS = "manage_users"


_VIEWER = frozenset({Permission.VIEW_DASHBOARDS})
_ANALYST = _VIEWER | {Permission.IMPORT_DATA, Permission.ANNOTATE, Permission.EDIT_TAXONOMY}
_AGENT = _ANALYST | {Permission.MANAGE_CASES}
_ADMIN = _AGENT | {Permission.MANAGE_RULES, Permission.MANAGE_USERS}

# The one table of what each role may do.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.ANALYST: frozenset(_ANALYST),
    Role.AGENT: frozenset(_AGENT),
    Role.ADMIN: frozenset(_ADMIN),
}

# The one map of which role each page (by ``st.Page`` url_path) needs. A page not listed needs admin.
PAGE_MIN_ROLE: Mapping[str, Role] = {
    "overview": Role.VIEWER,
    "nps": Role.VIEWER,
    "drivers": Role.VIEWER,
    "aspects": Role.VIEWER,
    "competitors": Role.VIEWER,
    "quotes": Role.VIEWER,
    "import": Role.ANALYST,
    "taxonomy": Role.ANALYST,
    "actions": Role.AGENT,
    "alert_rules": Role.ADMIN,
    "users": Role.ADMIN,
}


def has_permission(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def may_open_page(role: Role, url_path: str) -> bool:
    """Whether ``role`` may open the page with this url_path (unknown pages need admin: fail closed)."""
    return role.at_least(PAGE_MIN_ROLE.get(url_path, Role.ADMIN))


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    password_hash: str = field(repr=False)  # never shown, never logged
    scope: Scope = field(default_factory=Scope)
    display_name: str = ""
    disabled: bool = False
    is_demo: bool = False

    @property
    def label(self) -> str:
        return self.display_name or self.username

    def can(self, permission: Permission) -> bool:
        return not self.disabled and has_permission(self.role, permission)


@dataclass(frozen=True)
class UsersFile:
    """The users file's content: named users and whether the demo accounts are on."""

    users: Mapping[str, User] = field(default_factory=dict)
    demo_accounts: bool = True


# --- passwords -----------------------------------------------------------------------------------------


def check_password_strength(password: str) -> None:
    """Refuse passwords bcrypt cannot take or that are too short to be one (raises :class:`UsersError`)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsersError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise UsersError(f"the password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt's limit)")


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash (``$2b$...``) of ``password`` with a fresh salt."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise UsersError(f"the password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt's limit)")
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches ``password_hash``; a malformed hash or too long a password: False."""
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user name is unknown, so both failures take about as long."""
    return hash_password("not a password", rounds=BCRYPT_ROUNDS)


# --- demo accounts -------------------------------------------------------------------------------------

DEMO_ACCOUNTS: tuple[tuple[str, Role, Scope, str], ...] = (
    # username (= password), role, restriction, display name
    ("demo", Role.ADMIN, Scope(), "演示管理员"),
    ("huawei", Role.VIEWER, Scope(brands=("华为",)), "华为产品经理（演示）"),
)


@functools.cache
def demo_users() -> Mapping[str, User]:
    """The built-in demo accounts (password = user name), hashed at first use, never stored as text."""
    return {
        name: User(name, role, hash_password(name, DEMO_BCRYPT_ROUNDS), scope, label, is_demo=True)
        for name, role, scope, label in DEMO_ACCOUNTS
    }


def demo_accounts_enabled(users_file: UsersFile) -> bool:
    """Off when ``$TINGJIAN_DEMO_ACCOUNTS`` is 0/false/no/off or the file says ``demo_accounts: false``."""
    env = os.environ.get(DEMO_ENV_VAR, "").strip().lower()
    if env in {"0", "false", "no", "off"}:
        return False
    return users_file.demo_accounts


# --- the users file ------------------------------------------------------------------------------------


def users_path(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """``--users PATH``, else ``$TINGJIAN_USERS``, else ``data/users.yaml``."""
    if cli_value:
        return Path(cli_value).expanduser()
    env_value = os.environ.get(USERS_ENV_VAR)
    if env_value:
        return Path(env_value).expanduser()
    return DEFAULT_USERS_PATH


def validate_username(username: str) -> str:
    name = username.strip()
    if not USERNAME_RE.match(name):
        raise UsersError(
            f"invalid user name {username!r}: use 2–40 letters, digits, Chinese characters, '_', '-' or '.'"
        )
    return name


def _user_from_yaml(path: Path, name: object, raw: object) -> User:
    where = f"{path}: user {name!r}"
    if not isinstance(raw, dict):
        raise UsersError(f"{where}: expected a mapping with password_hash and role")
    if "password" in raw:
        raise UsersError(
            f"{where}: has a plaintext 'password' key; remove it and set the password with "
            f"`python cli.py users set-password {name}` (only bcrypt hashes are stored)"
        )
    unknown = sorted(set(raw) - {"password_hash", "role", "restriction", "disabled", "display_name"})
    if unknown:
        raise UsersError(f"{where}: unknown key(s) {unknown}")
    password_hash = str(raw.get("password_hash", ""))
    if not HASH_RE.match(password_hash):
        raise UsersError(
            f"{where}: password_hash is missing or not a bcrypt hash; reset it with "
            f"`python cli.py users set-password {name}`"
        )
    try:
        username = validate_username(str(name))
        role = Role.parse(raw.get("role", ""))
        scope = Scope.from_dict(raw.get("restriction"))
    except (UsersError, ValueError) as exc:
        raise UsersError(f"{where}: {exc}") from None
    disabled = raw.get("disabled", False)
    if not isinstance(disabled, bool):
        raise UsersError(f"{where}: disabled must be true or false")
    return User(username, role, password_hash, scope, str(raw.get("display_name") or ""), disabled)


def load_users(path: str | os.PathLike[str] | None = None) -> UsersFile:
    """Read the users file; a missing file is an empty one. Raises :class:`UsersError` on bad content."""
    target = users_path(path)
    if not target.exists():
        return UsersFile()
    try:
        raw = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsersError(f"{target}: cannot be read as YAML ({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise UsersError(f"{target}: expected a mapping with 'users:' at the top")
    unknown = sorted(set(raw) - {"users", "demo_accounts"})
    if unknown:
        raise UsersError(f"{target}: unknown top-level key(s) {unknown}; allowed: users, demo_accounts")
    demo = raw.get("demo_accounts", True)
    if not isinstance(demo, bool):
        raise UsersError(f"{target}: demo_accounts must be true or false")
    users_raw = raw.get("users") or {}
    if not isinstance(users_raw, dict):
        raise UsersError(f"{target}: 'users' must be a mapping of user name -> settings")
    users = {}
    for name, entry in users_raw.items():
        user = _user_from_yaml(target, name, entry)
        users[user.username] = user
    return UsersFile(users, demo)


def _user_to_yaml(user: User) -> dict[str, object]:
    out: dict[str, object] = {"password_hash": user.password_hash, "role": user.role.value}
    if user.display_name:
        out["display_name"] = user.display_name
    if not user.scope.is_unrestricted():
        out["restriction"] = user.scope.to_dict()
    if user.disabled:
        out["disabled"] = True
    return out


def save_users(users_file: UsersFile, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the users file atomically (temp file + rename), readable by its owner only."""
    target = users_path(path)
    if not target.parent.exists():
        raise UsersError(f"{target}: the folder {target.parent} does not exist")
    content: dict[str, object] = {}
    if not users_file.demo_accounts:
        content["demo_accounts"] = False
    content["users"] = {
        name: _user_to_yaml(user) for name, user in sorted(users_file.users.items()) if not user.is_demo
    }
    text = "# Tingjian users: bcrypt hashes only. Manage with `python cli.py users --help`.\n"
    text += yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp_name, 0o600)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


# --- changes (pure: return a new UsersFile) --------------------------------------------------------------


def add_user(
    users_file: UsersFile, username: str, password: str, role: Role, scope: Scope | None = None,
    display_name: str = "",
) -> UsersFile:
    name = validate_username(username)
    if name in users_file.users:
        raise UsersError(f"user {name!r} already exists; use set-password, role or restrict to change it")
    check_password_strength(password)
    user = User(name, role, hash_password(password), scope or Scope(), display_name.strip())
    return replace(users_file, users={**users_file.users, name: user})


def _existing(users_file: UsersFile, username: str) -> User:
    user = users_file.users.get(username.strip())
    if user is None:
        known = ", ".join(sorted(users_file.users)) or "none"
        raise UsersError(f"no user {username!r} in the users file (users: {known})")
    return user


def update_user(users_file: UsersFile, username: str, **changes: object) -> UsersFile:
    """Change ``role``, ``scope``, ``disabled`` or ``display_name`` of an existing user."""
    allowed = {"role", "scope", "disabled", "display_name"}
    if set(changes) - allowed:
        raise UsersError(f"cannot change {sorted(set(changes) - allowed)}")
    user = replace(_existing(users_file, username), **changes)  # type: ignore[arg-type]
    updated = {**users_file.users, user.username: user}
    _keep_an_admin(users_file, updated)
    return replace(users_file, users=updated)


def set_password(users_file: UsersFile, username: str, password: str) -> UsersFile:
    check_password_strength(password)
    user = replace(_existing(users_file, username), password_hash=hash_password(password))
    return replace(users_file, users={**users_file.users, user.username: user})


def remove_user(users_file: UsersFile, username: str) -> UsersFile:
    user = _existing(users_file, username)
    updated = {k: v for k, v in users_file.users.items() if k != user.username}
    _keep_an_admin(users_file, updated)
    return replace(users_file, users=updated)


def _keep_an_admin(before: UsersFile, after: Mapping[str, User]) -> None:
    """Refuse a change that leaves a users file that had an active admin without one (a lock-out)."""

    def admins(users: Iterable[User]) -> int:
        return sum(1 for u in users if u.role is Role.ADMIN and not u.disabled)

    if admins(before.users.values()) and not admins(after.values()):
        raise UsersError("this would leave no active admin; make another user admin first")


# --- sign-in ---------------------------------------------------------------------------------------------


class SignInError(Exception):
    """Sign-in refused. ``reason`` is ``invalid`` (unknown user or wrong password), ``disabled`` or
    ``locked`` (too many failed attempts: ``retry_after_s`` says for how long)."""

    def __init__(self, reason: str, retry_after_s: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


def all_users(users_file: UsersFile) -> Mapping[str, User]:
    """The users who may exist: the file's users, plus the demo accounts when on (a file user of the same
    name wins over a demo account)."""
    if not demo_accounts_enabled(users_file):
        return dict(users_file.users)
    return {**demo_users(), **users_file.users}


def find_user(users_file: UsersFile, username: str) -> User | None:
    return all_users(users_file).get(username.strip())


def authenticate(
    users_file: UsersFile, username: str, password: str, throttle: SignInThrottle | None = None
) -> User:
    """The user whose name and password match; raises :class:`SignInError` otherwise.

    An unknown name is checked against a dummy hash so that it costs as long as a wrong password; a disabled
    account is only reported as disabled after its password was right. With a ``throttle``, a name locked
    after too many failures is refused before any password check, and every failure is counted.
    """
    if throttle is not None:
        wait = throttle.seconds_locked(username)
        if wait > 0:
            raise SignInError("locked", wait)
    user = find_user(users_file, username)
    if user is None:
        verify_password(password, _dummy_hash())
        _failed(throttle, username)
    if not verify_password(password, user.password_hash):
        _failed(throttle, username)
    if user.disabled:
        raise SignInError("disabled")
    if throttle is not None:
        throttle.record_success(username)
    return user


def _failed(throttle: SignInThrottle | None, username: str) -> NoReturn:
    locked = throttle.record_failure(username) if throttle is not None else 0.0
    if locked > 0:
        raise SignInError("locked", locked)
    raise SignInError("invalid")
