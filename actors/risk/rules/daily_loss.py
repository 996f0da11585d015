"""DailyLossRule (``risk/daily_loss/<account>``): the day's loss, realized and unrealized.

Source: the desk's requirements (DESIGN §4: daily loss limit; a breach trips
the kill switch that cancels the account's open orders and blocks new ones).
The account actor sends its PnL every status period (``pnlUpdate``).
"""

from __future__ import annotations

from thespian.actors import ActorAddress

from actors.orders.record import Rejection
from actors.risk._rule import RiskRule, rule_path
from actors.risk.events import encode_kill_switch_command


class DailyLossRule(RiskRule):
    """Refuse orders once the day's loss reaches ``limit`` (quote currency), and trip the
    account's kill switch (``halted``) the first time it does."""

    rule = "daily_loss"
    defaults = {"limit": 100_000.0}

    def setup(self) -> None:
        """Start with no loss known and the switch not tripped by this incarnation."""
        self.loss = 0.0
        self.tripped = False

    def check(self, order) -> Rejection | None:
        """Refuse while the day's loss is at or past the limit."""
        if self.loss >= self.limits["limit"]:
            return self.rejection("limit", self.loss, f"today's loss {self.loss:,.0f} reached the "
                                  f"{self.limits['limit']:,.0f} limit")
        return None

    def _on_pnl_update(self, pnl, message, sender: ActorAddress) -> None:
        """Take the account's PnL; on a breach, trip the account's kill switch once."""
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
        """Today's loss, quote currency (negative: a gain)."""
        return self.loss


__all__ = ["DailyLossRule"]
