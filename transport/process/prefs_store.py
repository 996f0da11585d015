"""Per-user desk preferences kept in the desk's state folder: layouts, watchlists, settings.

A trader's layouts (panel arrangement, open groups, column choices and sorts),
named personal watchlists and settings (hotkeys, confirmations) follow the
user, not the browser: they live in ``<state>/prefs/<user>.json``, one file per
user, read and written only through :class:`PrefsStore`.

Shape of a user's document (JSON)::

    {"layouts":    {"<name>": {...any JSON object...}},
     "watchlists": {"<name>": {...any JSON object, e.g. {"symbols": ["rb1801.SHFE"]}...}},
     "settings":   {"<name>": {...any JSON object...}}}

Bounds (every one refused with :class:`PrefsError`, never truncated):
:data:`MAX_ITEM_BYTES` per item, :data:`MAX_ITEMS_PER_KIND` items per kind,
:data:`MAX_USER_BYTES` per user, names matching :data:`NAME_PATTERN`, items
nested at most :data:`MAX_DEPTH` deep. The file name is the user's name in
URL-safe base64, so no user name (``../trader1``, ``a/b``) can reach another
user's file or leave the folder.

Durability: a write goes to a temporary file in the same folder, is fsynced,
then renamed over the old file (``os.replace`` is atomic on POSIX) and the
folder is fsynced: after a SIGTERM or a kill -9 the file holds either the old
or the new document, never a torn one. Writes block: call them off the event
loop (:func:`asyncio.to_thread`); a per-user lock keeps two writers of one user
from losing each other's change.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from transport.errors import PrefsError

KINDS = ("layouts", "watchlists", "settings")
"""The kinds of preference a user keeps, each a map of name → JSON object."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
"""A preference's name: 1–64 letters, digits, space, ``_ . -``; starts with a letter or digit."""
MAX_ITEM_BYTES = 32 * 1024
"""Largest JSON encoding of one item, bytes."""
MAX_ITEMS_PER_KIND = 32
"""Most named items of one kind per user."""
MAX_USER_BYTES = 256 * 1024
"""Largest JSON encoding of one user's whole document, bytes."""
MAX_DEPTH = 8
"""Deepest nesting of objects and arrays inside one item."""


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is one of :data:`KINDS`.

    Raises:
        PrefsError: (404 ``badKind``) any other kind.
    """
    if kind not in KINDS:
        raise PrefsError(404, "badKind", f"no preference kind {kind[:64]!r}; kinds are {', '.join(KINDS)}")
    return kind


def check_name(name: str) -> str:
    """Return ``name`` if it matches :data:`NAME_PATTERN`.

    Raises:
        PrefsError: (400 ``badName``) anything else.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise PrefsError(400, "badName", "a name is 1-64 letters, digits, space, '_', '.' or '-', "
                                         "starting with a letter or digit")
    return name


def _depth(value: Any, limit: int) -> int:
    """Return the nesting depth of ``value`` (stops counting past ``limit``)."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return depth
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def check_item(value: Any) -> bytes:
    """Return the JSON encoding of one item after checking its type, depth and size.

    Raises:
        PrefsError: (400 ``wrongType``) not a JSON object, or NaN/Infinity inside; (400 ``tooDeep``) nested past
            :data:`MAX_DEPTH`; (413 ``tooLarge``) encoded past :data:`MAX_ITEM_BYTES`.
    """
    if not isinstance(value, dict):
        raise PrefsError(400, "wrongType", f"a preference is a JSON object, not {type(value).__name__}")
    if _depth(value, MAX_DEPTH) > MAX_DEPTH:
        raise PrefsError(400, "tooDeep", f"a preference nests at most {MAX_DEPTH} levels")
    try:
        encoded = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        raise PrefsError(400, "wrongType", "a preference holds finite numbers only (no NaN or Infinity)") from None
    if len(encoded) > MAX_ITEM_BYTES:
        raise PrefsError(413, "tooLarge", f"a preference is at most {MAX_ITEM_BYTES} bytes, not {len(encoded)}")
    return encoded


class PrefsStore:
    """Every user's preferences in one folder (``<state>/prefs``), one atomic JSON file per user.

    Args:
        folder: where the files live (created on first write).

    Methods block on file I/O: call them from a thread, not the event loop.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _file(self, user: str) -> Path:
        name = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=") or "_"
        return self.folder / f"{name}.json"

    def _lock(self, user: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(user, threading.Lock())

    def document(self, user: str) -> dict[str, dict[str, Any]]:
        """Return ``user``'s whole document: kind → name → item (empty kinds when none kept).

        A file that cannot be read or parsed counts as empty (it is replaced on the next write).
        """
        try:
            data = json.loads(self._file(user).read_text())
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        return {kind: dict(data.get(kind)) if isinstance(data.get(kind), dict) else {} for kind in KINDS}

    def get(self, user: str, kind: str, name: str) -> dict[str, Any]:
        """Return one item.

        Raises:
            PrefsError: bad kind or name; (404 ``notFound``) no such item.
        """
        check_kind(kind)
        check_name(name)
        found = self.document(user)[kind].get(name)
        if found is None:
            raise PrefsError(404, "notFound", f"no {kind[:-1]} named {name!r}")
        return found

    def put(self, user: str, kind: str, name: str, value: Any) -> None:
        """Create or replace one item, durably (returns once the file is renamed and fsynced).

        Raises:
            PrefsError: bad kind, name or item; (409 ``tooMany``) a new name past
                :data:`MAX_ITEMS_PER_KIND`; (413 ``tooLarge``) the user's document past
                :data:`MAX_USER_BYTES`.
        """
        check_kind(kind)
        check_name(name)
        check_item(value)
        with self._lock(user):
            document = self.document(user)
            items = document[kind]
            if name not in items and len(items) >= MAX_ITEMS_PER_KIND:
                raise PrefsError(409, "tooMany", f"at most {MAX_ITEMS_PER_KIND} {kind} per user; delete one first")
            items[name] = value
            self._write(user, document)

    def delete(self, user: str, kind: str, name: str) -> bool:
        """Delete one item durably; return whether it existed.

        Raises:
            PrefsError: bad kind or name.
        """
        check_kind(kind)
        check_name(name)
        with self._lock(user):
            document = self.document(user)
            if document[kind].pop(name, None) is None:
                return False
            self._write(user, document)
            return True

    def _write(self, user: str, document: dict) -> None:
        data = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        if len(data) > MAX_USER_BYTES:
            raise PrefsError(413, "tooLarge", f"a user's preferences are at most {MAX_USER_BYTES} bytes in all; "
                                              "delete some first")
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._file(user)
        descriptor, temporary = tempfile.mkstemp(prefix=".prefs-", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        folder = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


__all__ = ["KINDS", "MAX_DEPTH", "MAX_ITEMS_PER_KIND", "MAX_ITEM_BYTES", "MAX_USER_BYTES", "NAME_PATTERN",
           "PrefsError", "PrefsStore", "check_item", "check_kind", "check_name"]
