"""The users file: edits, hostile input, a corrupted file on disk, and `tickstage users` as a real process."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from argon2 import PasswordHasher

from transport.signin.users import MAX_NAME_CHARS, UsersFile, UsersFileError

CHEAP = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
"""Argon2 parameters cheap enough for tests (the desk's default is argon2-cffi's RFC 9106 low-memory profile)."""
PYTHON = [sys.executable, "-m", "transport.process.cli"]


def test_add_when_valid_then_file_is_0600_holds_a_hash_and_authenticates(tmp_path):
    """A user added is written with mode 0600, an Argon2id hash (never the password), and signs in."""
    users = UsersFile(tmp_path / "users.json", CHEAP)
    users.add("ann", "correct horse", "trader", ["acct-01"], ["rb", "IF"])
    text = (tmp_path / "users.json").read_text()
    assert "correct horse" not in text and "$argon2id$" in text
    assert stat.S_IMODE(os.stat(tmp_path / "users.json").st_mode) == 0o600
    again = UsersFile(tmp_path / "users.json")
    user = again.authenticate("ann", "correct horse")
    assert user is not None and user.accounts == ("acct-01",) and user.groups == ("rb", "IF")
    assert again.authenticate("ann", "wrong horse!") is None
    assert again.authenticate("nobody", "correct horse") is None


@pytest.mark.parametrize(("name", "role", "accounts", "password", "reason"), [
    ("", "trader", [], "long enough", "empty"),
    ("x" * (MAX_NAME_CHARS + 1), "trader", [], "long enough", "at most"),
    ("x" * 100_000, "trader", [], "long enough", "at most"),
    ("ann smith", "trader", [], "long enough", "letters"),
    ("ann\n", "trader", [], "long enough", "letters"),
    ("ann", "root", [], "long enough", "role"),
    ("ann", "trader", ["acct 01"], "long enough", "accounts"),
    ("ann", "trader", ["a"] * 1000, "long enough", "accounts"),
    ("ann", "trader", [], "short", "password"),
    ("ann", "trader", [], "p" * 5000, "password"),
])
def test_add_when_input_hostile_then_value_error_and_file_untouched(tmp_path, name, role, accounts, password, reason):
    """Empty or huge names, bad roles, accounts or passwords are refused with a reason; nothing is written."""
    users = UsersFile(tmp_path / "users.json", CHEAP)
    with pytest.raises(ValueError, match=reason):
        users.add(name, password, role, accounts)
    assert not (tmp_path / "users.json").exists()


def test_add_when_user_exists_then_refused_and_passwd_changes_the_password(tmp_path):
    """A second add of a name is refused; passwd replaces the hash; remove forgets the user."""
    users = UsersFile(tmp_path / "users.json", CHEAP)
    users.add("ann", "first password")
    with pytest.raises(ValueError, match="exists"):
        users.add("ann", "other password")
    users.set_password("ann", "second password")
    reread = UsersFile(tmp_path / "users.json")
    assert reread.authenticate("ann", "first password") is None
    assert reread.authenticate("ann", "second password") is not None
    reread.remove("ann")
    assert UsersFile(tmp_path / "users.json").users() == []
    with pytest.raises(KeyError):
        reread.remove("ann")


@pytest.mark.parametrize("content", [
    b"{not json", b"", b"\xff\xfe garbage", b"[]", b'{"version": 2, "users": {}}', b'{"version": 1, "users": []}',
    b'{"version": 1, "users": {"ann": "x"}}',
    b'{"version": 1, "users": {"ann": {"role": "god", "password": "$argon2id$x"}}}',
    b'{"version": 1, "users": {"ann": {"role": "trader", "password": "plain-text"}}}',
    b'{"version": 1, "users": {"bad name": {"password": "$argon2id$x"}}}',
    b'{"version": 1, "users": {"ann": {"password": "$argon2id$x", "accounts": "acct-01"}}}',
    b"[" * 100_000,
])
def test_read_when_file_corrupted_then_users_file_error_naming_the_file(tmp_path, content):
    """A corrupted or hostile users file is refused with a UsersFileError naming it, never another exception."""
    path = tmp_path / "users.json"
    path.write_bytes(content)
    with pytest.raises(UsersFileError, match="users.json"):
        UsersFile(path)
    assert path.read_bytes() == content


def test_authenticate_when_stored_hash_is_damaged_then_refused_not_raised(tmp_path):
    """A hash damaged on disk (still $argon2-prefixed) makes sign-in fail, never raise."""
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"version": 1, "users": {"ann": {"role": "trader", "password": "$argon2id$v=19$xx"}}}))
    assert UsersFile(path).authenticate("ann", "anything at all") is None


def test_users_cli_when_add_with_password_stdin_then_list_shows_user_without_hash(tmp_path):
    """`tickstage users add --password-stdin` then `list` (real processes): the user, no hash, no password."""
    env = {**os.environ, "TICKSTAGE_STATE_DIR": str(tmp_path)}
    added = subprocess.run([*PYTHON, "users", "add", "ann", "--role", "admin", "--accounts", "acct-01,acct-02",
                            "--password-stdin"], input="a good password\n", env=env, capture_output=True,
                           text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    listed = subprocess.run([*PYTHON, "users", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(listed.stdout) == {"name": "ann", "role": "admin", "accounts": ["acct-01", "acct-02"],
                                         "groups": None, "ent": None}
    assert "argon2" not in listed.stdout
    refused = subprocess.run([*PYTHON, "users", "add", "", "--password-stdin"], input="a good password\n", env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "empty" in refused.stderr
    (tmp_path / "users.json").write_text("{broken")
    broken = subprocess.run([*PYTHON, "users", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2 and "users.json" in broken.stderr and "Traceback" not in broken.stderr


def test_users_cli_when_add_with_ent_then_kept_in_the_file_and_a_malformed_one_refused(tmp_path):
    """`tickstage users add --ent JSON` keeps the user's market data entitlements (the tokens' ent claim);
    JSON of the wrong shape is refused with exit 2 and nothing is written."""
    env = {**os.environ, "TICKSTAGE_STATE_DIR": str(tmp_path)}
    added = subprocess.run([*PYTHON, "users", "add", "bob", "--ent", '{"CFFEX": ["l1"], "*": ["l1", "oi"]}',
                            "--password-stdin"], input="a good password\n", env=env, capture_output=True,
                           text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    assert UsersFile(tmp_path / "users.json").get("bob").entitlements.as_dict() == {"*": ["l1", "oi"],
                                                                                   "CFFEX": ["l1"]}
    refused = subprocess.run([*PYTHON, "users", "add", "eve", "--ent", '["l1"]', "--password-stdin"],
                             input="a good password\n", env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "ent" in refused.stderr
    assert UsersFile(tmp_path / "users.json").get("eve") is None
