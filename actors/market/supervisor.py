"""MarketSupervisor (``market``): one GroupActor per contract group, ``group/<group>``.

Groups are added by the vn.py bridge as contracts appear (one per exchange
product, plus configured watchlists); each restarts one_for_one.
"""

from __future__ import annotations

from actors._supervisor import RestartIntensity, Supervisor


class MarketSupervisor(Supervisor):
    """Supervises the aggregators (one_for_one, 10 restarts in 10 s)."""

    intensity = RestartIntensity(max_restarts=10, within_s=10.0)


__all__ = ["MarketSupervisor"]
