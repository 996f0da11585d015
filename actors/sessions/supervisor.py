"""SessionsSupervisor (``sessions``): one child per browser socket, ``session/<id>``.

Sessions are transient children added by transport/edge/ws.py as sockets
authenticate. A restarted aggregator tells this supervisor
(``groupRestarted``), which forwards it to every session so subscribed
ones re-attach and receive a snapshot; the market supervisor's
``groupStatus`` (a group stopped or restarting) goes to every session the same way.

It also fans the order path's pushes out (``accountPush``: order events,
AccountStatus, RiskSummary, risk events of one account) to the sessions that
registered that account (``sessionAccounts``) and to admin sessions: the
same bytes to each.
"""

from __future__ import annotations

from thespian.actors import ActorAddress

from actors._supervisor import Supervisor


class SessionsSupervisor(Supervisor):
    """Supervises the session actors (one_for_one)."""

    def on_start(self, restarts: int) -> None:
        """Start with an empty account index; sessions register as they start (loop thread)."""
        self.by_account: dict[str, dict[str, None]] = {}
        self.admins: dict[str, None] = {}
        self.pushes = self.deliveries = 0
        super().on_start(restarts)

    def _on_session_accounts(self, body, message, sender: ActorAddress) -> None:
        """Index (or forget) the accounts whose pushes a session takes."""
        path = body.sessionPath
        self._forget_session(path)
        if body.attached:
            if body.all:
                self.admins[path] = None
            for account in body.accounts:
                self.by_account.setdefault(account, {})[path] = None

    def _forget_session(self, path: str) -> None:
        # Not ``_forget``: that name is Supervisor's (remove a child's spec and registry entry); shadowing it
        # left every closed session in the registry as ``stopping`` (tests/actors/test_actor_classes.py).
        self.admins.pop(path, None)
        for sessions in self.by_account.values():
            sessions.pop(path, None)

    def _on_account_push(self, push, message, sender: ActorAddress) -> None:
        """Forward one account's push to every session granted it (the bytes unchanged)."""
        self.pushes += 1
        data = self.current_bytes
        targets = list(self.by_account.get(push.account, {})) + [p for p in self.admins
                                                                   if p not in self.by_account.get(push.account, {})]
        for path in targets:
            if self.send_path(path, data):
                self.deliveries += 1
            elif path not in self.runtime.registry or self.runtime.registry.get(path).state.value == "stopped":
                self._forget_session(path)

    def _on_group_status(self, status, message, sender: ActorAddress) -> None:
        """Forward a group's ``stopped``/``restarting`` (from the market supervisor) to every session."""
        for entry in self.runtime.registry.children(self.path):
            self.send_path(entry.path, self.current_bytes)

    def _on_group_restarted(self, group: str, message, sender: ActorAddress) -> None:
        """Forward ``groupRestarted`` to every running session (loop thread)."""
        for entry in self.runtime.registry.children(self.path):
            self.send_path(entry.path, self.current_bytes)


__all__ = ["SessionsSupervisor"]
