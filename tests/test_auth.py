"""Users, roles and sign-in: bcrypt hashing, the users file, the CLI, the sign-in form and the role gate."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest
import streamlit.testing.v1.app_test as app_test_module
import yaml
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from cli import app as cli_app
from components import auth
from data.scope import Scope
from data.users import (
    PAGE_MIN_ROLE,
    Permission,
    Role,
    SignInError,
    UsersError,
    UsersFile,
    add_user,
    authenticate,
    demo_accounts_enabled,
    has_permission,
    hash_password,
    load_users,
    may_open_page,
    remove_user,
    save_users,
    update_user,
    verify_password,
)
from tests.app_session import form_sign_in, signed_in
from tests.fixture_store import build_store
from tests.test_app import ServerLikePagesManager

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 60
PASSWORD = "correct horse 1"


@pytest.fixture
def users_file(_isolated_users_file: Path) -> Path:
    """The (not yet existing) users file this test's app and CLI use (``tests/conftest.py``)."""
    return _isolated_users_file


# --- passwords and the users file ----------------------------------------------------------------------


def test_hash_and_verify() -> None:
    first, second = hash_password(PASSWORD, rounds=4), hash_password(PASSWORD, rounds=4)
    assert first.startswith("$2b$04$") and first != second  # a fresh salt each time
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password("correct horse 2", first)
    assert not verify_password(PASSWORD, "not-a-hash") and not verify_password(PASSWORD, "")
    with pytest.raises(UsersError, match="72 bytes"):
        hash_password("长" * 30)  # 90 bytes in UTF-8: bcrypt would silently ignore the tail


def test_authenticate_wrong_password_unknown_user_and_disabled() -> None:
    file = add_user(UsersFile(), "wang", PASSWORD, Role.ANALYST)
    assert authenticate(file, "wang", PASSWORD).role is Role.ANALYST
    for name, password in (("wang", "wrong password"), ("nobody", PASSWORD), ("wang", "")):
        with pytest.raises(SignInError) as refused:
            authenticate(file, name, password)
        assert refused.value.reason == "invalid"
    off = update_user(file, "wang", disabled=True)
    with pytest.raises(SignInError) as refused:
        authenticate(off, "wang", PASSWORD)
    assert refused.value.reason == "disabled"
    with pytest.raises(SignInError) as refused:  # a wrong password does not reveal that the account is off
        authenticate(off, "wang", "wrong password")
    assert refused.value.reason == "invalid"


def test_demo_accounts_and_the_settings_that_turn_them_off(monkeypatch: pytest.MonkeyPatch) -> None:
    demo = authenticate(UsersFile(), "demo", "demo")
    assert demo.role is Role.ADMIN and demo.scope.is_unrestricted()
    huawei = authenticate(UsersFile(), "huawei", "huawei")
    assert huawei.role is Role.VIEWER and huawei.scope == Scope(brands=("华为",))
    with pytest.raises(SignInError):
        authenticate(UsersFile(demo_accounts=False), "demo", "demo")
    monkeypatch.setenv("TINGJIAN_DEMO_ACCOUNTS", "0")
    assert not demo_accounts_enabled(UsersFile())
    with pytest.raises(SignInError):
        authenticate(UsersFile(), "demo", "demo")


def test_users_file_round_trip_holds_only_hashes(users_file: Path) -> None:
    file = add_user(UsersFile(), "li", PASSWORD, Role.ADMIN)
    file = add_user(file, "zhang", PASSWORD, Role.VIEWER, Scope(brands=("华为",), regions=("广东",)), "张")
    save_users(UsersFile(file.users, demo_accounts=False), users_file)
    text = users_file.read_text(encoding="utf-8")
    assert PASSWORD not in text and "password:" not in text
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    raw = yaml.safe_load(text)
    assert raw["demo_accounts"] is False
    hashes = [u["password_hash"] for u in raw["users"].values()]
    assert all(re.fullmatch(r"\$2b\$12\$[./A-Za-z0-9]{53}", h) for h in hashes)
    loaded = load_users(users_file)
    assert loaded.users["zhang"].scope == Scope(brands=("华为",), regions=("广东",))
    assert loaded.users["zhang"].display_name == "张" and not loaded.demo_accounts
    assert "password_hash" not in repr(loaded.users["li"])  # never printed by accident


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("users:\n  wang:\n    password: secret\n    role: admin\n", "plaintext 'password'"),
        ("users:\n  wang:\n    password_hash: abc\n    role: admin\n", "not a bcrypt hash"),
        (f"users:\n  wang:\n    password_hash: '{'$2b$12$' + 'a' * 53}'\n    role: boss\n", "unknown role"),
        (f"users:\n  wang:\n    password_hash: '{'$2b$12$' + 'a' * 53}'\n    role: viewer\n"
         "    restriction: {brand: [华为]}\n", "unknown restriction key"),
        ("users: [1, 2]\n", "'users' must be a mapping"),
        ("users:\n  wang: {role: [\n", "cannot be read as YAML"),
    ],
)
def test_a_bad_users_file_names_the_file_the_user_and_the_fix(
    users_file: Path, content: str, message: str
) -> None:
    users_file.write_text(content, encoding="utf-8")
    with pytest.raises(UsersError, match=re.escape(message)) as refused:
        load_users(users_file)
    assert str(users_file) in str(refused.value)


def test_roles_permissions_and_pages() -> None:
    assert has_permission(Role.VIEWER, Permission.VIEW_DASHBOARDS)
    assert not has_permission(Role.VIEWER, Permission.IMPORT_DATA)
    assert {Permission.IMPORT_DATA, Permission.ANNOTATE, Permission.EDIT_TAXONOMY} <= {
        p for p in Permission if has_permission(Role.ANALYST, p)
    }
    assert not has_permission(Role.ANALYST, Permission.MANAGE_CASES)
    assert has_permission(Role.AGENT, Permission.MANAGE_CASES)
    assert not has_permission(Role.AGENT, Permission.MANAGE_USERS)
    assert all(has_permission(Role.ADMIN, p) for p in Permission)
    assert may_open_page(Role.VIEWER, "quotes") and not may_open_page(Role.VIEWER, "import")
    assert may_open_page(Role.ANALYST, "taxonomy") and not may_open_page(Role.ANALYST, "actions")
    assert may_open_page(Role.AGENT, "actions") and not may_open_page(Role.AGENT, "users")
    assert not may_open_page(Role.AGENT, "some-new-page")  # unknown pages need admin (fail closed)
    assert all(may_open_page(Role.ADMIN, page) for page in PAGE_MIN_ROLE)


def test_no_change_leaves_the_file_without_an_admin() -> None:
    file = add_user(UsersFile(), "li", PASSWORD, Role.ADMIN)
    for change in (
        lambda f: update_user(f, "li", role=Role.VIEWER),
        lambda f: update_user(f, "li", disabled=True),
        lambda f: remove_user(f, "li"),
    ):
        with pytest.raises(UsersError, match="no active admin"):
            change(file)
    with pytest.raises(UsersError, match="already exists"):
        add_user(file, "li", PASSWORD, Role.VIEWER)
    with pytest.raises(UsersError, match="at least 8"):
        add_user(file, "short", "abc", Role.VIEWER)


# --- the CLI -------------------------------------------------------------------------------------------


def test_cli_users_add_list_restrict_set_password_disable_remove(users_file: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(cli_app, ["users", "add", "li", "--role", "admin", "--password-stdin"],
                          input=f"{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    added = runner.invoke(cli_app, ["users", "add", "zhang", "--brand", "华为", "--password-stdin"],
                          input="another pass 2\n")
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli_app, ["users", "list"])
    assert listed.exit_code == 0
    assert re.search(r"li\s+admin\s+active\s+all", listed.output)
    assert re.search(r"zhang\s+viewer\s+active\s+华为", listed.output)
    assert "$2b$" not in listed.output and PASSWORD not in listed.output
    assert runner.invoke(cli_app, ["users", "restrict", "zhang", "--region", "广东"]).exit_code == 0
    assert runner.invoke(cli_app, ["users", "set-password", "zhang", "--password-stdin"],
                         input="third pass 33\n").exit_code == 0
    assert runner.invoke(cli_app, ["users", "disable", "zhang"]).exit_code == 0
    file = load_users(users_file)
    assert file.users["zhang"].scope == Scope(regions=("广东",)) and file.users["zhang"].disabled
    assert verify_password("third pass 33", file.users["zhang"].password_hash)
    text = users_file.read_text(encoding="utf-8")
    assert all(p not in text for p in (PASSWORD, "another pass 2", "third pass 33"))
    assert set(re.findall(r"password_hash: '?(\S{7})", text)) == {"$2b$12$"}
    assert runner.invoke(cli_app, ["users", "remove", "zhang"]).exit_code == 0
    assert set(load_users(users_file).users) == {"li"}


def test_cli_refusals_are_one_clear_line(users_file: Path) -> None:
    runner = CliRunner()
    bad_role = runner.invoke(cli_app, ["users", "add", "wang", "--role", "boss", "--password-stdin"],
                             input="x\n")
    assert bad_role.exit_code == 2 and "unknown role 'boss'" in bad_role.output
    short = runner.invoke(cli_app, ["users", "add", "wang", "--password-stdin"], input="abc\n")
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    missing = runner.invoke(cli_app, ["users", "disable", "ghost"])
    assert missing.exit_code == 2 and "no user 'ghost'" in missing.output
    users_file.write_text("users:\n  wang:\n    password: secret\n", encoding="utf-8")
    broken = runner.invoke(cli_app, ["users", "list"])
    assert broken.exit_code == 2 and "plaintext 'password'" in broken.output
    assert "Traceback" not in bad_role.output + short.output + missing.output + broken.output


# --- nothing plaintext in the repository ---------------------------------------------------------------

CONFIG_SUFFIXES = {".yaml", ".yml", ".toml", ".json", ".ini", ".cfg", ".conf", ".env", ".properties"}
PLAINTEXT_KEY = re.compile(r"""^\s*["']?(password|passwd|pwd|secret)["']?\s*[:=]\s*\S""", re.I | re.M)


def test_no_plaintext_password_in_tracked_config_and_the_users_file_is_ignored() -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot list tracked files")
    tracked = [ROOT / name for name in listed.stdout.decode().split("\0") if name]
    configs = [p for p in tracked if p.suffix.lower() in CONFIG_SUFFIXES or p.name.startswith(".env")]
    assert configs, "no config file tracked: the scan would prove nothing"
    offenders = [
        str(p.relative_to(ROOT)) for p in configs
        if p.is_file() and PLAINTEXT_KEY.search(p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not offenders, f"plaintext password keys in {offenders}"
    assert not [p for p in tracked if p.name == "users.yaml"], "a users file is tracked"
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/users.yaml"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "data/users.yaml must be git-ignored"
    assert PLAINTEXT_KEY.search("users:\n  a:\n    password: hunter2\n")  # the pattern does catch one


# --- the sign-in form and the role gate in the app -------------------------------------------------------


@pytest.fixture(autouse=True)
def server_like_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    ServerLikePagesManager.runs = 0
    monkeypatch.setattr(app_test_module, "PagesManager", ServerLikePagesManager)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "store.duckdb"
    build_store(path)
    return path


@pytest.fixture
def app(store: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("TINGJIAN_DB", str(store))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


sign_in = form_sign_in


def test_the_app_asks_to_sign_in_first(app: AppTest) -> None:
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "听见 · 登录"
    assert at.sidebar.radio(key="lang").value == "zh"  # the language switch is there before sign-in
    assert not at.metric and not at.sidebar.multiselect  # no data before sign-in
    assert any("demo / demo" in i.value for i in at.info)
    sign_in(at, "demo", "wrong")
    assert any("用户名或密码不正确" in e.value for e in at.error)
    assert not at.metric and at.text_input(key=auth.KEY_PASSWORD).value == ""
    sign_in(at, "demo", "demo")
    assert at.title[0].value == "总览" and at.metric
    assert any("演示管理员" in m.value for m in at.sidebar.markdown)
    at.sidebar.button(key=auth.KEY_SIGN_OUT).click().run()
    assert at.title[0].value == "听见 · 登录" and not at.metric


def test_a_disabled_account_cannot_sign_in(app: AppTest, users_file: Path) -> None:
    file = add_user(add_user(UsersFile(), "li", PASSWORD, Role.ADMIN), "wang", PASSWORD, Role.VIEWER)
    save_users(update_user(file, "wang", disabled=True), users_file)
    at = sign_in(app.run(), "wang", PASSWORD)
    assert any("已停用" in e.value for e in at.error) and not at.metric
    # A session of a user who is turned off meanwhile ends at the next run.
    at = signed_in(at, "li").run()
    assert at.title[0].value == "总览"
    save_users(update_user(load_users(users_file), "li", role=Role.ADMIN), users_file)
    save_users(update_user(add_user(load_users(users_file), "zhao", PASSWORD, Role.ADMIN), "li",
                           disabled=True), users_file)
    at.run()
    assert at.title[0].value == "听见 · 登录"


def test_demo_accounts_off_and_no_users_explains_the_cli(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINGJIAN_DEMO_ACCOUNTS", "0")
    at = app.run()
    assert any("python cli.py users add" in w.value for w in at.warning)
    assert not at.text_input  # no form to try
    at = signed_in(app, "demo").run()  # even a session that claims to be demo gets nothing
    assert at.title[0].value == "听见 · 登录" and not at.metric


def test_a_viewer_cannot_open_import_taxonomy_or_users(app: AppTest) -> None:
    at = signed_in(app, "huawei").run()
    assert at.title[0].value == "总览"
    for page in ("import_data", "taxonomy", "users"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
        assert any("不能打开此页面" in e.value for e in at.error), page
        assert not at.title  # the page itself did not run
        assert not at.get("file_uploader")


def test_a_restricted_analyst_may_not_manage_the_whole_store(app: AppTest, users_file: Path) -> None:
    file = add_user(UsersFile(), "li", PASSWORD, Role.ANALYST, Scope(brands=("华为",)))
    save_users(add_user(file, "wu", PASSWORD, Role.ANALYST), users_file)
    at = signed_in(app, "li").run()
    at.switch_page("pages/import_data.py").run()
    assert any("受数据权限限制" in e.value for e in at.error) and not at.get("file_uploader")
    at = signed_in(AppTest.from_file(APP, default_timeout=TIMEOUT), "wu").run()
    at.switch_page("pages/import_data.py").run()
    assert not at.exception and at.title[0].value == "数据导入" and at.get("file_uploader")


def test_the_admin_adds_a_user_and_turns_one_off(app: AppTest, users_file: Path) -> None:
    at = signed_in(app, "demo").run()
    at.switch_page("pages/users.py").run()
    assert not at.exception and at.title[0].value == "用户"
    at.text_input(key="users_new_name").input("chen")
    at.text_input(key="users_new_password").input(PASSWORD)
    at.selectbox(key="users_new_role").set_value(Role.ANALYST)
    at.multiselect(key="users_new_brands").set_value(["华为"])
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("已添加用户 chen" in s.value for s in at.success)
    saved = load_users(users_file).users["chen"]
    assert saved.role is Role.ANALYST and saved.scope == Scope(brands=("华为",))
    assert verify_password(PASSWORD, saved.password_hash)
    assert PASSWORD not in users_file.read_text(encoding="utf-8")
    shown = at.dataframe[0].value
    assert "chen" in shown.iloc[:, 0].tolist() and "$2b$" not in shown.to_csv()
    at.selectbox(key="users_pick").set_value("chen").run()
    at.checkbox(key="users_edit_disabled_chen").check()
    at.button[1].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert load_users(users_file).users["chen"].disabled
    with pytest.raises(SignInError):
        authenticate(load_users(users_file), "chen", PASSWORD)
