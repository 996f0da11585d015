"""The root of every error tickstage raises on purpose: :class:`TickstageError`.

Defined here, at the bottom of the floor plan, because every package's errors derive
from it (``actors/errors.py``, ``transport/errors.py`` and the simulator's venue,
``sim/errors.py``) and the venue imports nothing of the desk: like
``schemas/venue_events.py``, it is shared by both sides and owned by neither.
"""

from __future__ import annotations


class TickstageError(Exception):
    """Root of every error tickstage raises on purpose.

    Each package's errors subclass it and the builtin they mean
    (``FrameTooLargeError(TransportError, ValueError)``), so a caller catches
    either the desk's errors as a whole or the builtin.
    """


__all__ = ["TickstageError"]
