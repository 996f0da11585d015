"""Errors of the simulator (sim/).

Each error also subclasses the builtin it means and carries its numbers, as
the project's errors do. ``SimError`` derives from the project's root
:class:`schemas.errors.TickstageError` (the venue imports nothing of the desk).
"""

from __future__ import annotations

from pathlib import Path

from schemas.errors import TickstageError


class SimError(TickstageError):
    """Root of every error the simulator raises on purpose."""


class ReplayFormatError(SimError, ValueError):
    """A recorded tick file has a bad header or row.

    Attributes:
        path: the file read.
        line: 1-based physical line number in the (decompressed) file; the
            header is line 1.
        reason: what was wrong, e.g. ``"could not convert 'x' to float in LastPrice"``.
    """

    def __init__(self, path: str | Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


class InstrumentsFormatError(SimError, ValueError):
    """The instruments reference file has a bad header or row.

    Attributes:
        path: the file read.
        line: 1-based line number; the header is line 1.
        reason: what was wrong.
    """

    def __init__(self, path: str | Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


class SimSettingError(SimError, ValueError):
    """A gateway setting is out of range or of the wrong type.

    Attributes:
        key: the setting's key, e.g. ``"speed"``.
        value: the value given.
        reason: what was wrong.
    """

    def __init__(self, key: str, value: object, reason: str) -> None:
        super().__init__(f"setting {key}={value!r}: {reason}")
        self.key = key
        self.value = value
        self.reason = reason


class TapeFormatError(SimError, ValueError):
    """A tape (sim/tape.py) is not a tape, is truncated, or holds an undecodable record.

    Attributes:
        path: the file read.
        offset: byte offset of the bad record (0: the file as a whole).
        reason: what was wrong.
    """

    def __init__(self, path: str | Path, offset: int, reason: str) -> None:
        super().__init__(f"{path}@{offset}: {reason}")
        self.path = str(path)
        self.offset = offset
        self.reason = reason


class ScenarioError(SimError, ValueError):
    """A scenario file (sim/harness/scenario.py) is unreadable or names an unknown kind, key or value.

    Attributes:
        path: the scenario file.
        where: the table or fault in error, ``"fault[3]"``.
        reason: what was wrong.
    """

    def __init__(self, path: str | Path, where: str, reason: str) -> None:
        super().__init__(f"{path}: {where}: {reason}")
        self.path = str(path)
        self.where = where
        self.reason = reason


class SimNotConnectedError(SimError, ConnectionError):
    """The simulator gateway was asked about its venue before ``connect`` (or after ``close``).

    Attributes:
        gateway_name: the gateway asked.
    """

    def __init__(self, gateway_name: str) -> None:
        super().__init__(f"simulator gateway {gateway_name} is not connected to a venue")
        self.gateway_name = gateway_name


class NatsServerError(SimError, RuntimeError):
    """A scenario run's nats-server binary is missing, or the server did not come up in time.

    Attributes:
        url: the server's client URL (empty when it never had one).
    """

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url


__all__ = [
    "InstrumentsFormatError", "NatsServerError", "ReplayFormatError", "ScenarioError", "SimError", "SimNotConnectedError",
    "SimSettingError", "TapeFormatError",
]  # fmt: skip
