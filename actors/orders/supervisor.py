"""OrdersSupervisor (``orders``): one OrderActor per strategy account, ``orders/<account>``.

one_for_one: a crashed order actor restarts alone and rebuilds from the journal.
"""

from __future__ import annotations

from actors._supervisor import RestartIntensity, Supervisor


class OrdersSupervisor(Supervisor):
    """Supervises the order actors (one_for_one, 10 restarts in 10 s)."""

    intensity = RestartIntensity(max_restarts=10, within_s=10.0)


__all__ = ["OrdersSupervisor"]
