"""MarketSupervisor (``market``): one GroupActor per contract group, ``group/<group>``.

Groups are added by the vn.py bridge as contracts appear (one per exchange
product, plus configured watchlists); each restarts one_for_one.

A stopped or restarting group cannot say so itself: when one of its
``group/<g>`` children goes down the supervisor tells the sessions supervisor
(``groupStatus`` ``stopped`` or ``restarting``), which tells every session;
the group's next incarnation answers the sessions' re-attach with its own
status (``live``).
"""

from __future__ import annotations

import time

from actors._envelope import encode_actor_message
from actors._registry import ActorState
from actors._supervisor import RestartIntensity, Supervisor
from actors.market.liveness import RESTARTING, STOPPED
from actors.paths import group_of_child

SESSIONS_PATH = "sessions"
"""Where liveness changes of the groups go (the sessions supervisor fans them out)."""


class MarketSupervisor(Supervisor):
    """Supervises the aggregators (one_for_one, 10 restarts in 10 s)."""

    intensity = RestartIntensity(max_restarts=10, within_s=10.0)

    def on_child_down(self, name: str, state: ActorState) -> None:
        """Tell the sessions a group is ``stopped`` or ``restarting`` (loop thread)."""
        group = group_of_child(name)
        if group is None:
            return
        if state is ActorState.RESTARTING:
            liveness, reason = RESTARTING, f"{self.path}/{name} is restarting"
        else:
            liveness, reason = STOPPED, f"{self.path}/{name} was stopped"
        self.send_path(SESSIONS_PATH, encode_actor_message("groupStatus", {
            "group": group, "state": liveness, "reason": reason, "sinceTsNs": time.time_ns()}, source=self.path))


__all__ = ["MarketSupervisor"]
