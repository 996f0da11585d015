"""The desk's users file: who may sign in, with which role, accounts, groups and entitlements.

A JSON document (``<state_dir>/users.json`` unless ``[issuer] users_file``
says otherwise), written atomically with mode 0600::

    {"version": 1, "users": {"ann": {"role": "trader", "accounts": ["acct-01"],
                                      "groups": null, "ent": {"CFFEX": ["l1"], "*": ["l1", "oi", "depth"]},
                                      "password": "$argon2id$v=19$..."}}}

``ent`` (optional; absent or null: every field) becomes the tokens' ``ent`` claim:
market data field classes per exchange (actors/market/entitlements.py).

Passwords are stored only as Argon2id hashes (argon2-cffi's
``PasswordHasher``, its RFC 9106 low-memory defaults). A name is 1 to
:data:`MAX_NAME_CHARS` characters of ``A-Z a-z 0-9 . _ @ -``; accounts and
groups follow the token claim limits (transport/signin/auth.py). Nothing read from
the file is trusted: a corrupted, truncated or hostile file is refused with
a :class:`UsersFileError` naming the file and the fault, never a traceback
from deep inside (and a refused file is never overwritten).

Edited by ``tickstage users add|remove|list|passwd`` (transport/process/cli.py);
read by the embedded issuer (transport/signin/issuer.py).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from actors.market.entitlements import EVERYTHING, Entitlements
from transport.signin.auth import MAX_CLAIM_CHARS, MAX_CLAIM_ITEMS, ROLES
from transport.errors import ConfigError

FILE_VERSION = 1
MAX_NAME_CHARS = 64
"""Longest user name."""
MAX_PASSWORD_CHARS = 1024
"""Longest password taken (longer is refused before hashing: no hashing-cost attack)."""
MIN_PASSWORD_CHARS = 8
"""Shortest password ``tickstage users add|passwd`` accepts."""
MAX_USERS = 10_000
"""Most users in one file."""
MAX_FILE_BYTES = 16 * 1024 * 1024
"""Largest users file read."""
_NAME = re.compile(r"[A-Za-z0-9._@-]+")


class UsersFileError(ConfigError):
    """The users file is unreadable, corrupted, or an edit of it is invalid.

    Attributes:
        path: the users file.
    """

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"users file {path}: {message}")
        self.path = str(path)


@dataclass(frozen=True)
class User:
    """One user of the desk.

    Attributes:
        name: the user name (the tokens' ``sub``).
        role: ``"trader"`` or ``"admin"``.
        accounts: account ids the user may trade (``accounts`` claim).
        groups: market groups the user may subscribe to; ``None``: every group.
        password_hash: the Argon2id hash (PHC string), never the password.
        entitlements: market data fields the user may receive per exchange (``ent`` claim).
    """

    name: str
    role: str
    accounts: tuple[str, ...] = ()
    groups: tuple[str, ...] | None = None
    password_hash: str = ""
    entitlements: Entitlements = EVERYTHING

    def public(self) -> dict:
        """Return the user as JSON-ready fields without the hash (``tickstage users list``)."""
        return {"name": self.name, "role": self.role, "accounts": list(self.accounts),
                "groups": None if self.groups is None else list(self.groups), "ent": self.entitlements.as_dict()}


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid user name.

    Raises:
        ValueError: not a string, empty, longer than :data:`MAX_NAME_CHARS`, or
            with a character outside ``A-Z a-z 0-9 . _ @ -``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("a user name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a user name is at most {MAX_NAME_CHARS} characters, not {len(name)}")
    if not _NAME.fullmatch(name):
        raise ValueError("a user name may hold only letters, digits and . _ @ -")
    return name


def _check_role(role: object) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {str(role)[:32]!r}")
    return role  # type: ignore[return-value]


def _check_items(items: object, what: str) -> tuple[str, ...]:
    if not isinstance(items, (list, tuple)) or len(items) > MAX_CLAIM_ITEMS:
        raise ValueError(f"{what} must be a list of at most {MAX_CLAIM_ITEMS} names")
    for item in items:
        if not isinstance(item, str) or not 0 < len(item) <= MAX_CLAIM_CHARS or not _NAME.fullmatch(item):
            raise ValueError(f"each of {what} is 1..{MAX_CLAIM_CHARS} characters of letters, digits and . _ @ -")
    return tuple(dict.fromkeys(items))


def check_password(password: object) -> str:
    """Return ``password`` if a new password may be set to it.

    Raises:
        ValueError: not a string, shorter than :data:`MIN_PASSWORD_CHARS` or
            longer than :data:`MAX_PASSWORD_CHARS` characters.
    """
    if not isinstance(password, str) or not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValueError(f"a password is {MIN_PASSWORD_CHARS}..{MAX_PASSWORD_CHARS} characters")
    return password


class UsersFile:
    """The users file at ``path``: read whole, edited, written atomically (mode 0600).

    Args:
        path: the JSON file; it need not exist yet (no users).
        hasher: the Argon2 ``PasswordHasher`` (tests may pass cheaper parameters).

    Raises:
        UsersFileError: the file exists but is unreadable or invalid.
    """

    def __init__(self, path: Path | str, hasher: PasswordHasher | None = None) -> None:
        self.path = Path(path)
        self.hasher = hasher or PasswordHasher()
        self._users: dict[str, User] = self._read()
        self._dummy_hash = ""

    # -- reading -----------------------------------------------------------

    def _read(self) -> dict[str, User]:
        path = self.path
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise UsersFileError(path, f"larger than {MAX_FILE_BYTES} bytes")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise UsersFileError(path, f"cannot be read ({type(exc).__name__})") from None
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            raise UsersFileError(path, "is not valid JSON (corrupted?); fix or remove it") from None
        if not isinstance(document, dict) or document.get("version") != FILE_VERSION:
            raise UsersFileError(path, f'is not a version-{FILE_VERSION} users file ({{"version": 1, "users": {{}}}})')
        entries = document.get("users")
        if not isinstance(entries, dict) or len(entries) > MAX_USERS:
            raise UsersFileError(path, f'"users" must be an object of at most {MAX_USERS} users')
        users = {}
        for name, entry in entries.items():
            try:
                users[name] = _user(name, entry)
            except ValueError as exc:
                raise UsersFileError(path, f"user {str(name)[:MAX_NAME_CHARS]!r}: {exc}") from None
        return users

    # -- queries -----------------------------------------------------------

    def users(self) -> list[User]:
        """Return every user, by name."""
        return [self._users[name] for name in sorted(self._users)]

    def get(self, name: str) -> User | None:
        """Return the user called ``name``, or ``None``."""
        return self._users.get(name) if isinstance(name, str) else None

    def authenticate(self, name: str, password: str) -> User | None:
        """Return the user if ``password`` is theirs, else ``None`` (blocking: ~50 ms of Argon2).

        An unknown user costs one Argon2 verification too, of a dummy hash, so
        the answer time does not tell which names exist (no user enumeration).
        Source: OWASP Authentication Cheat Sheet, "authentication responses".
        """
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
            return None
        user = self.get(name)
        if user is None:
            if not self._dummy_hash:
                self._dummy_hash = self.hasher.hash("tickstage-no-such-user")
            _verify(self.hasher, self._dummy_hash, password)
            return None
        return user if _verify(self.hasher, user.password_hash, password) else None

    # -- edits (tickstage users ...) ---------------------------------------------

    def add(self, name: str, password: str, role: str = "trader", accounts: list[str] | tuple[str, ...] = (),
            groups: list[str] | tuple[str, ...] | None = None,
            entitlements: dict[str, list[str]] | None = None) -> User:
        """Add user ``name`` and write the file.

        Args:
            entitlements: the ``ent`` claim (exchange or ``"*"`` → field classes); ``None``: every field.

        Raises:
            ValueError: invalid name, role, accounts, groups, entitlements or password, or the user exists.
            UsersFileError: the file cannot be written.
        """
        check_name(name)
        if name in self._users:
            raise ValueError(f"user {name!r} exists (use passwd to change the password)")
        if len(self._users) >= MAX_USERS:
            raise ValueError(f"at most {MAX_USERS} users")
        user = User(name, _check_role(role), _check_items(list(accounts), "accounts"),
                    None if groups is None else _check_items(list(groups), "groups"),
                    self.hasher.hash(check_password(password)), Entitlements.from_claim(entitlements))
        self._users[name] = user
        self._write()
        return user

    def remove(self, name: str) -> None:
        """Remove user ``name`` and write the file.

        Raises:
            KeyError: no such user.
            UsersFileError: the file cannot be written.
        """
        if self._users.pop(name, None) is None:
            raise KeyError(f"no user {name[:MAX_NAME_CHARS]!r}")
        self._write()

    def set_password(self, name: str, password: str) -> None:
        """Replace the password of ``name`` and write the file.

        Raises:
            KeyError: no such user.
            ValueError: invalid password.
            UsersFileError: the file cannot be written.
        """
        user = self._users.get(name)
        if user is None:
            raise KeyError(f"no user {name[:MAX_NAME_CHARS]!r}")
        self._users[name] = User(user.name, user.role, user.accounts, user.groups,
                                 self.hasher.hash(check_password(password)), user.entitlements)
        self._write()

    def _write(self) -> None:
        document = {"version": FILE_VERSION, "users": {
            u.name: {**{k: v for k, v in u.public().items() if k != "name"}, "password": u.password_hash}
            for u in self.users()}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_private(self.path, json.dumps(document, indent=1) + "\n")
        except OSError as exc:
            raise UsersFileError(self.path, f"cannot be written ({exc.strerror})") from None


def _user(name: object, entry: object) -> User:
    check_name(name)
    if not isinstance(entry, dict):
        raise ValueError("must be an object")
    password = entry.get("password")
    if not isinstance(password, str) or not password.startswith("$argon2") or len(password) > 512:
        raise ValueError("password must be an Argon2 hash")
    groups = entry.get("groups")
    return User(name, _check_role(entry.get("role", "trader")), _check_items(entry.get("accounts", []), "accounts"),
                None if groups is None else _check_items(groups, "groups"), password,
                Entitlements.from_claim(entry.get("ent")))


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, readable and writable by its owner only (0600).

    Raises:
        OSError: the folder is not writable.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


__all__ = ["MAX_NAME_CHARS", "MAX_PASSWORD_CHARS", "MIN_PASSWORD_CHARS", "User", "UsersFile",
           "UsersFileError", "check_name", "check_password", "write_private"]
