"""Errors of the transport boundary (sockets, tokens, vn.py), under TickstageError."""

from __future__ import annotations

from schemas.errors import TickstageError


class TransportError(TickstageError):
    """Root of the transport's errors."""


class AuthError(TransportError, PermissionError):
    """A token was refused.

    Attributes:
        code: the stream ``ErrorCode`` name: ``"unauthenticated"`` or ``"tokenExpired"``.
        reason: the finer cause, for HTTP answers and logs: ``"malformedToken"`` (a claim of
            the wrong type or out of range), ``"lifetimeTooLong"`` (``exp`` past the desk's
            maximum token lifetime), or ``""``.
    """

    def __init__(self, code: str, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class FrameTooLargeError(TransportError, ValueError):
    """A client frame is over the inbound limit.

    Attributes:
        size: frame size, bytes.
        limit: the limit, bytes.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes is over the {limit}-byte limit")
        self.size = size
        self.limit = limit


class FrameRefusedError(TransportError, ValueError):
    """A client frame was refused at the socket server (it never reaches an actor).

    Attributes:
        code: the stream ``ErrorCode`` name, ``"malformed"``, ``"forbidden"`` ...
        correlation: the frame's envelope id when it could be read, else 0.
    """

    def __init__(self, code: str, message: str, correlation: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.correlation = correlation


class ConfigError(TransportError, ValueError):
    """The configuration file or a command-line value is invalid."""


class LedgerUnavailableError(TransportError, ConnectionError):
    """The cluster-wide socket count (transport/cluster/nats_sockets.py) cannot be read now:
    no bucket yet, NATS down or slow.

    Attributes:
        reason: what failed.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"cluster-wide socket count unavailable: {reason}")
        self.reason = reason




class PrefsError(TransportError, ValueError):
    """A user preference refused (transport/process/prefs_store.py): bad kind or name, wrong type, too large.

    Attributes:
        status: the HTTP status it answers (400 bad input, 404 unknown, 409 too many, 413 too large).
        code: a short machine-readable code (``badKind``, ``badName``, ``wrongType``, ``tooLarge``,
            ``tooDeep``, ``tooMany``, ``notFound``).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class JournalStreamError(TransportError, ValueError):
    """A message on the ``ORDERS`` stream (the replicated order journal) that is not a readable order row.

    Attributes:
        reason: what is wrong with it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a replicated order row: {reason}")
        self.reason = reason


__all__ = ["AuthError", "ConfigError", "FrameRefusedError", "FrameTooLargeError", "JournalStreamError",
           "LedgerUnavailableError", "PrefsError", "TransportError"]
