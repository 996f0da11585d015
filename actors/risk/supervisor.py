"""RiskSupervisor (``risk``): one actor per rule instance, ``risk/<rule>/<account>`` and ``risk/<rule>/global``.

one_for_one: a crashed rule restarts alone; while it is down its orders are
refused (the order actor cannot reach it), and while it rebuilds its state it
refuses them itself (fail-closed).
"""

from __future__ import annotations

from actors._supervisor import RestartIntensity, Supervisor


class RiskSupervisor(Supervisor):
    """Supervises the rule actors (one_for_one, 20 restarts in 10 s)."""

    intensity = RestartIntensity(max_restarts=20, within_s=10.0)


__all__ = ["RiskSupervisor"]
