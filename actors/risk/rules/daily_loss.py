"""DailyLossRule (``risk/daily_loss/<account>``): the day's loss, realized and unrealized.

Source: the desk's requirements (daily loss limit; a breach trips
the kill switch that cancels the account's open orders and blocks new ones).
The account actor sends its PnL every status period (``pnlUpdate``), computed
from the account's fills marked to the latest prices.

A (re)started instance knows no PnL: it asks the account actor for it at
once (``riskResyncRequest``) and refuses every order (fail-closed) until a
PnL arrives in which every contract held is marked, so a restart never
approves orders against a loss of 0 that it merely forgot.
"""

from __future__ import annotations

import math

from thespian.actors import ActorAddress

from actors.risk import GLOBAL_SCOPE
from actors.paths import accounts_path, rule_path
from actors.risk._rule import RiskRule
from actors.risk.events import encode_kill_switch_command
from actors.risk.rejection import Rejection


class DailyLossRule(RiskRule):
    """Refuse orders once the day's loss reaches ``limit`` (quote currency), and trip the
    account's kill switch (``halted``) the first time it does; refuse while the loss is unknown."""

    rule = "daily_loss"
    defaults = {"limit": 100_000.0}

    def setup(self) -> None:
        """Start with the loss unknown and ask the account actor for its PnL (loop thread)."""
        self.loss: float | None = None
        self.tripped = False
        if self.scope != GLOBAL_SCOPE:
            from actors._envelope import encode_actor_message

            self.send_path(accounts_path(self.scope), encode_actor_message("riskResyncRequest", self.path,
                                                                          source=self.path))

    def check(self, order) -> Rejection | None:
        """Refuse while the day's loss is unknown, or at or past the limit."""
        if self.loss is None:
            return self.rejection("limit", math.nan, f"{self.rule} has no PnL of {self.scope} yet (it is rebuilding "
                                  "from the account's fills and marks after a start): refused (fail-closed)")
        if self.loss >= self.limits["limit"]:
            return self.rejection("limit", self.loss, f"today's loss {self.loss:,.0f} reached the "
                                  f"{self.limits['limit']:,.0f} limit")
        return None

    def _on_pnl_update(self, pnl, message, sender: ActorAddress) -> None:
        """Take the account's PnL; on a breach, trip the account's kill switch once."""
        if not pnl.marked and self.loss is None:
            return   # a contract held has no price yet: the loss is not known, keep refusing
        self.loss = -(pnl.realizedPnl + pnl.unrealizedPnl)
        if self.loss >= self.limits["limit"] and not self.tripped:
            self.tripped = True
            reason = f"daily loss {self.loss:,.0f} reached the {self.limits['limit']:,.0f} limit"
            self.log.warning("daily_loss_breached", loss=self.loss, limit=self.limits["limit"])
            self._report(self.scope, "", self.rejection("limit", self.loss, reason), severity="critical")
            self.send_path(rule_path("kill_switch", self.scope), encode_kill_switch_command(
                "account", self.scope, "halted", self.rule, reason, source=self.path))
        elif self.loss < self.limits["limit"]:
            self.tripped = False

    def observed(self) -> float:
        """Today's loss, quote currency (negative: a gain; NaN: not known yet)."""
        return math.nan if self.loss is None else self.loss


__all__ = ["DailyLossRule"]
