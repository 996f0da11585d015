"""AccountsSupervisor (``accounts``): one AccountActor per strategy account, ``accounts/<account>``.

one_for_one: a restarted account actor rebuilds its positions from the fills
the order bridge routed so far.
"""

from __future__ import annotations

from actors._supervisor import RestartIntensity, Supervisor


class AccountsSupervisor(Supervisor):
    """Supervises the account actors (one_for_one, 10 restarts in 10 s)."""

    intensity = RestartIntensity(max_restarts=10, within_s=10.0)


__all__ = ["AccountsSupervisor"]
