"""KillSwitchRule (``risk/kill_switch/<account>`` and ``risk/kill_switch/global``).

Source: the desk's requirements (a breach trips a kill switch that
cancels the account's open orders and blocks new ones). Scopes: an account
(its own actor), a contract group and the whole desk (both in the global
actor). States: ``active``; ``reduceOnly`` (only closing offsets: an order
with offset ``none`` cannot be proven to reduce a position here and is
refused); ``halted`` (nothing). Setting ``halted`` cancels the scope's open
orders. States live in the :class:`~actors.risk.limits.LimitStore`,
journaled with who, when and why, so a tripped switch stays tripped across
restarts.
"""

from __future__ import annotations

from datetime import datetime, timezone

from thespian.actors import ActorAddress

from actors.risk import GLOBAL_SCOPE
from actors.paths import accounts_path, orders_path
from actors.risk._rule import RiskRule
from actors.risk.events import encode_cancel_open_orders, encode_kill_switch_changed
from actors.risk.limits import KILL_SWITCH_STATES
from actors.risk.rejection import Rejection

_CLOSING = frozenset({"close", "closeToday", "closeYesterday"})
STATE_WORDS = {"active": "trading allowed", "reduceOnly": "reduce-only", "halted": "halted"}
"""What each kill-switch state means to a trader (the words the desk shows)."""


def refusal_reason(scope: str, target: str, state: str, change: dict | None) -> str:
    """Return a refusal's reason naming the switch, its state, who set it, when (UTC) and why.

    ``"account acct-01 is halted by ops1 at 2026-12-04 21:30:01 UTC: fat finger"``; without a
    journaled change (a state from config) only the switch and its state.
    """
    text = f"{scope} {target} is {STATE_WORDS.get(state, state)}"
    if change:
        when = datetime.fromtimestamp(change["ts_ns"] / 1e9, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        text += f" by {change.get('changed_by') or 'unknown'} at {when}"
        if change.get("reason"):
            text += f": {change['reason']}"
    return text


class KillSwitchRule(RiskRule):
    """Refuse orders in a halted scope, and opening orders in a reduce-only one.

    The account instance watches ``("account", <account>)``; the global instance
    watches ``("global", "global")`` and ``("group", <order's group>)``.
    Observed value: the state's rank (0 active, 1 reduceOnly, 2 halted); limit 0.
    """

    rule = "kill_switch"
    defaults = {"limit": 0.0}

    def check(self, order) -> Rejection | None:
        """Refuse under ``halted``; under ``reduceOnly`` refuse all but closing offsets."""
        state_of = self.store.kill_switch
        keys = (("global", GLOBAL_SCOPE), ("group", order.group)) if self.scope == GLOBAL_SCOPE else \
            (("account", self.scope),)
        for scope, target in keys:
            state = state_of(scope, target)
            if state == "active":
                continue
            if state == "halted" or (state == "reduceOnly" and str(order.offset) not in _CLOSING):
                rank = KILL_SWITCH_STATES.index(state)
                return self.rejection("limit", rank, refusal_reason(scope, target, state,
                                                                    self.store.kill_switch_change(scope, target)))
        return None

    def _on_kill_switch_command(self, command, message, sender: ActorAddress) -> None:
        """Set a state (journaled); tell the traders; ``halted`` cancels the scope's open orders."""
        scope, target, state = str(command.scope), command.target, str(command.state)
        if self.scope != GLOBAL_SCOPE and (scope, target) != ("account", self.scope):
            return
        if self.scope == GLOBAL_SCOPE and scope == "account":
            return
        row = self.store.set_kill_switch_nowait(scope, target, state, command.by, command.reason)
        self.log.warning("kill_switch_changed", scope=scope, target=target, state=state,
                         previous=row["previous"], changed_by=command.by, reason=command.reason)
        changed = encode_kill_switch_changed(row, source=self.path)
        for account in self._accounts_in_scope():
            self.send_path(accounts_path(account), changed)
        if state == "halted":
            cancel = encode_cancel_open_orders(target if scope == "group" else "", command.reason,
                                               command.by, source=self.path)
            for account in self._accounts_in_scope():
                self.send_path(orders_path(account), cancel)

    def observed(self) -> float:
        """Rank of the strictest state this instance watches (0 active .. 2 halted)."""
        if self.scope == GLOBAL_SCOPE:
            states = [self.store.kill_switch("global", GLOBAL_SCOPE)] + [
                state for (scope, _), state in self.store.kill_switches().items() if scope == "group"]
        else:
            states = [self.store.kill_switch("account", self.scope)]
        return float(max(KILL_SWITCH_STATES.index(state) for state in states))


__all__ = ["STATE_WORDS", "KillSwitchRule", "refusal_reason"]
