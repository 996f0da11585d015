"""Each vn.py gateway's market-data feed state, and what it makes of a group (:class:`FeedStatusBook`).

A desk may run several gateways (a CTP futures account and a SOPT options account). When one of them
drops, only the groups showing its contracts lose their source: a group whose contracts are all on a
gateway that is fine stays ``live``. The book keeps the latest :class:`~schemas.venue_events.FeedStatus`
of each gateway (``""``: a status of every gateway, from a gateway that does not name itself) and gives a
group the worst of its gateways' states (actors/market/liveness.py ``SEVERITY``), its reason naming each
gateway that is not live (``"venue CTP reconnecting"``). Loop thread only (the vn.py bridge's drain).
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.market.liveness import LIVE, SEVERITY
from schemas.venue_events import FeedStatus

EVERY_GATEWAY = ""
"""The gateway name of a status that concerns every gateway."""


class FeedStatusBook:
    """The latest feed status per gateway; a group's status from its gateways'."""

    def __init__(self) -> None:
        self._latest: dict[str, FeedStatus] = {}

    def note(self, status: FeedStatus) -> None:
        """Keep ``status`` as its gateway's latest (a status of every gateway replaces all)."""
        if status.gateway_name == EVERY_GATEWAY:
            self._latest.clear()
        self._latest[status.gateway_name] = status

    def of_group(self, gateways: Iterable[str]) -> FeedStatus | None:
        """Return the status a group of contracts on ``gateways`` should show, None when none was reported.

        The worst state among those gateways' statuses and the every-gateway status (a group with no
        contract yet takes every gateway's); the reasons of all the gateways in that state, joined by
        ``"; "``; the latest of their times. A state nobody reported is presumed live.
        """
        names = set(gateways) or set(self._latest)
        statuses = [self._latest[name] for name in sorted(names | {EVERY_GATEWAY}) if name in self._latest]
        if not statuses:
            return None
        state = max((status.state for status in statuses), key=lambda s: SEVERITY.get(s, 0))
        chosen = [status for status in statuses if status.state == state]
        if state == LIVE:
            chosen = [max(chosen, key=lambda status: status.ts_ns)]
        return FeedStatus(state, "; ".join(status.reason for status in chosen), max(s.ts_ns for s in chosen),
                          chosen[0].gateway_name if len(chosen) == 1 else EVERY_GATEWAY)


__all__ = ["EVERY_GATEWAY", "FeedStatusBook"]
