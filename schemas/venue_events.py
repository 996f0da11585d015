"""vn.py events a venue (gateway) puts beyond vn.py's own, and their data: the contract between a venue and the desk.

vn.py's ``BaseGateway.on_event(type, data)`` carries any event type through its
EventEngine; a gateway that knows when its market-data feed goes down, comes
back or ends (a replay's last tick) says so with :data:`EVENT_FEED_STATUS`, so
the desk can mark its groups ``sourceDown`` / ``live`` / ``ended`` instead of
showing frozen prices as live. Defined here, beside the wire schemas, because
both sides use it: the simulator's venue (sim/gateway.py) emits it and the
desk's vn.py bridge (transport/venue/vnpy_bridge.py) reads it, and neither imports
the other.
"""

from __future__ import annotations

from dataclasses import dataclass

EVENT_FEED_STATUS = "eFeedStatus"
"""vn.py event type a gateway puts when its market-data feed goes down, comes back or ends (data: FeedStatus)."""


@dataclass(frozen=True)
class FeedStatus:
    """A gateway's market-data feed state (data of an ``EVENT_FEED_STATUS`` vn.py event).

    Attributes:
        state: ``"live"``, ``"sourceDown"`` or ``"ended"`` (``market.GroupLiveness`` names).
        reason: why, for people: ``"market data disconnected"``.
        ts_ns: when, ns since UNIX epoch.
        gateway_name: the vn.py gateway whose feed it is (``"SIM"``, ``"CTP"``); ``""``: every gateway's.
            The desk marks only the groups of that gateway's contracts.
    """

    state: str
    reason: str
    ts_ns: int
    gateway_name: str = ""


__all__ = ["EVENT_FEED_STATUS", "FeedStatus"]
