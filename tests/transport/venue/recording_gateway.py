"""A vn.py gateway outside the ``sim`` package, for the gateway-by-configuration tests: the simulator's
gateway under another module name, counting its connects."""

from __future__ import annotations

from sim.gateway import SimGateway


class RecordingGateway(SimGateway):
    """:class:`sim.gateway.SimGateway` that keeps the settings it was connected with."""

    connects: list[dict] = []

    def connect(self, setting: dict) -> None:
        """Record ``setting``, then connect as the simulator does (vn.py's EventEngine thread or the caller's)."""
        RecordingGateway.connects.append(dict(setting))
        super().connect(setting)
