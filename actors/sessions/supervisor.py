"""SessionsSupervisor (``sessions``): one child per browser socket, ``session/<id>``.

Sessions are transient children added by transport/ws.py as sockets
authenticate. A restarted aggregator tells this supervisor
(``groupRestarted``), which forwards it to every session so subscribed
ones re-attach and receive a snapshot.
"""

from __future__ import annotations

from thespian.actors import ActorAddress

from actors._supervisor import Supervisor


class SessionsSupervisor(Supervisor):
    """Supervises the session actors (one_for_one)."""

    def _on_group_restarted(self, group: str, message, sender: ActorAddress) -> None:
        """Forward ``groupRestarted`` to every running session (loop thread)."""
        for entry in self.runtime.registry.children(self.path):
            self.send_path(entry.path, self.current_bytes)


__all__ = ["SessionsSupervisor"]
