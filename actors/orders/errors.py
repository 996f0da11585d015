"""Errors of the order path, under the project's root :class:`~actors.errors.TickstageError`.

A risk rejection is not an error: it is a value (orders.capnp ``Rejection``).
"""

from __future__ import annotations

from pathlib import Path

from schemas.errors import TickstageError


class OrderError(TickstageError):
    """Root of the order path's errors."""


class JournalError(OrderError, OSError):
    """The order journal cannot be opened or written.

    Attributes:
        path: the SQLite file.
        reason: what failed.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"order journal {path}: {reason}")
        self.path = str(path)
        self.reason = reason


class JournalClosedError(OrderError, RuntimeError):
    """A write was queued after the journal was closed."""


class JournalRowError(OrderError, ValueError):
    """A journal row that cannot be read back as what its table holds (recovery quarantines it).

    Attributes:
        table: ``"orders"``, ``"limit_changes"`` or ``"kill_switch_changes"``.
        column: the offending column.
        value: its stored value (repr shortened to 80 characters in the message).
        reason: what is wrong with it.
    """

    def __init__(self, table: str, column: str, value: object, reason: str) -> None:
        super().__init__(f"{table}.{column} = {repr(value)[:80]}: {reason}")
        self.table = table
        self.column = column
        self.value = value
        self.reason = reason


class VenueUnavailableError(OrderError, ConnectionError):
    """The venue cannot be asked now (vn.py not running, gateway not connected): ask again later.

    Attributes:
        gateway_name: the vn.py gateway asked.
        reason: why it cannot be asked.
    """

    def __init__(self, gateway_name: str, reason: str) -> None:
        super().__init__(f"gateway {gateway_name}: {reason}")
        self.gateway_name = gateway_name
        self.reason = reason


__all__ = ["JournalClosedError", "JournalError", "JournalRowError", "OrderError", "VenueUnavailableError"]
