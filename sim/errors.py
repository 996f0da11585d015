"""Errors of the simulator (sim/).

Each error also subclasses the builtin it means and carries its numbers, as
CONVENTIONS.md asks. ``SimError`` derives from :class:`Exception` for now:
the project's shared root ``TickstageError`` is not settled yet, and sim/
must not depend on actors/ to raise its own errors.
"""

from __future__ import annotations

from pathlib import Path


class SimError(Exception):
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


__all__ = ["InstrumentsFormatError", "ReplayFormatError", "SimError", "SimSettingError"]
