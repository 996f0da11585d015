"""Errors of the order path, under the project's root :class:`~actors.errors.TickstageError`.

A risk rejection is not an error: it is a value (orders.capnp ``Rejection``).
"""

from __future__ import annotations

from pathlib import Path

from actors.errors import TickstageError


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


__all__ = ["JournalClosedError", "JournalError", "OrderError"]
