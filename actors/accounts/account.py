"""AccountActor (``accounts/<account>``): positions, PnL, balance and risk status of one account.

Positions come from the account's fills (``vnpyTrade`` from the
order bridge), each vt_tradeid once (CTP replays the day's trades on every
reconnect). PnL is marked to market every status period from the latest last
prices of the contracts held — read from the market port (the bridge's
latest rows), so the account subscribes to nothing per tick.

A strategy account's figures are its own, from its own positions: margin =
Σ price × multiplier × lots × margin ratio (:meth:`PositionBook.margin`;
the contract's CTP margin ratios from the market port), balance = its
allocated capital + realized + unrealized PnL, available = balance − margin.
A strategy account maps to 1–2 real accounts that other strategy accounts
may share; the real accounts' balance, available funds and margin (the
gateway's ``vnpyAccount`` events) are shown apart, as ``realBalance``,
``realAvailable`` and ``realMargin``, never as the strategy account's.

Every ``status_interval_s`` (1 s) it sends ``AccountStatus`` and
``RiskSummary`` to the sessions granted the account (through the sessions
supervisor's fan-out), its PnL to ``risk/daily_loss/<account>``, and polls
its rules and order actor for their status. Risk events, limit changes and
kill-switch changes from the rules are forwarded to the same sessions.
A restarted account actor rebuilds from the fills the bridge routed so far.
Every handler runs on the loop thread.
"""

from __future__ import annotations

import math
import time
from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor
from actors._envelope import encode_actor_message
from actors.accounts.positions import PositionBook
from actors._envelope import new_server_message
from actors.orders.codec import encode_account_push
from actors.orders.ports import MarketPort, OrderPort
from actors.paths import orders_path, rule_path
from actors.risk.events import encode_pnl_update

NAN = math.nan


class AccountActor(TickstageActor):
    """Positions, PnL, balance and the 1 s status of one strategy account.

    Context args:
        account (str), trader (str), real (tuple[str, ...]): gateway names of its real accounts.
        capital (float): funds allocated to the account, quote currency (default 0).
        market (MarketPort): reference data and last prices.
        port (OrderPort-like): ``trades_for(account)`` and ``account_data(gateway)`` for a restart.
        rules (tuple[str, ...]): rule actor paths polled for ``ruleStatus``.
        status_interval_s (float): default 1.0.
        sessions_path (str): default ``"sessions"``.
    """

    def on_start(self, restarts: int) -> None:
        """Rebuild from the fills and account data routed so far; start the status timer."""
        args = self.context.args
        self.account: str = args["account"]
        self.trader: str = args.get("trader", "")
        self.real: tuple[str, ...] = tuple(args.get("real", ("SIM",)))
        self.capital: float = float(args.get("capital", 0.0))
        self.market: MarketPort = args["market"]
        self.port: OrderPort = args["port"]
        self.rule_paths: tuple[str, ...] = tuple(args.get("rules", ()))
        self.interval_s: float = args.get("status_interval_s", 1.0)
        self.sessions_path: str = args.get("sessions_path", "sessions")
        self.book = PositionBook()
        self.balances: dict[str, tuple[float, float, float]] = {}
        self.rule_status: dict[tuple[str, str], tuple[Any, int]] = {}
        self.counts = {"open": 0, "unknownOutcomes": 0, "rejections": 0, "orders": 0}
        self.kill_switch = "active"
        self.statuses_sent = self.events_forwarded = 0
        for trade in self.port.trades_for(self.account):
            self._apply(trade.vt_tradeid, trade.vt_symbol, trade.direction, trade.offset, trade.price, trade.volume)
        for gateway in self.real:
            data = self.port.account_data(gateway)
            if data is not None:
                self.balances[gateway] = data
        self._arm()

    def _arm(self) -> None:
        self.runtime.call_later(self.interval_s, self.myAddress, encode_actor_message(
            "timer", {"name": "status", "generation": 0}, source=self.path))

    # -- inputs ------------------------------------------------------------------------------

    def _apply(self, vt_tradeid: str, vt_symbol: str, direction: str, offset: str, price: float,
               volume: float) -> bool:
        quote = self.market.quote(vt_symbol)
        multiplier = quote.multiplier if quote is not None and quote.multiplier > 0 else 1.0
        return self.book.apply(vt_tradeid, vt_symbol, direction, offset, price, volume, multiplier)

    def _on_vnpy_trade(self, trade, message, sender: ActorAddress) -> None:
        """Apply one fill to the positions (once per vt_tradeid)."""
        self._apply(trade.vtTradeId, trade.vtSymbol, str(trade.direction), str(trade.offset), trade.price,
                    trade.volumeLots)

    def _on_vnpy_account(self, data, message, sender: ActorAddress) -> None:
        """Keep the latest balance of one real account."""
        self.balances[data.gatewayName] = (data.balance, data.frozen, data.available)

    def _on_rule_status(self, status, message, sender: ActorAddress) -> None:
        """Keep a rule's latest status for the next RiskSummary."""
        self.rule_status[(status.rule, status.scope)] = (status.as_builder(), time.monotonic_ns())
        if status.rule == "kill_switch" and status.scope == self.account:
            self.kill_switch = ("active", "reduceOnly", "halted")[int(min(2, max(0, status.observed)))]

    def _on_order_counts(self, counts, message, sender: ActorAddress) -> None:
        """Keep the order actor's counts."""
        self.counts = {"open": counts.open, "unknownOutcomes": counts.unknownOutcomes,
                       "rejections": counts.rejections, "orders": counts.orders}

    def _on_risk_event(self, event, message, sender: ActorAddress) -> None:
        """Forward a rule's risk event to the trader's sessions."""
        self._forward("riskEvent", event)

    def _on_limit_change(self, change, message, sender: ActorAddress) -> None:
        """Forward a limit change to the trader's sessions."""
        self._forward("limitChanged", change)

    def _on_kill_switch_changed(self, change, message, sender: ActorAddress) -> None:
        """Forward a kill-switch change; remember the account's own state."""
        if str(change.scope) == "account" and change.target == self.account:
            self.kill_switch = str(change.state)
        self._forward("killSwitchChanged", change)

    def _forward(self, member: str, reader) -> None:
        self.events_forwarded += 1
        server, _ = new_server_message(member, 0, self.path)
        setattr(server, member, reader)
        self._push(server.to_bytes())

    # -- every status period ---------------------------------------------------------------------

    def _on_timer(self, timer, message, sender: ActorAddress) -> None:
        """Publish AccountStatus and RiskSummary, send the PnL to daily_loss, poll the rules."""
        if timer.name != "status":
            return
        self._arm()
        marks = {symbol: self._mark(symbol) for symbol in self.book.symbols()}
        unrealized = self.book.unrealized(lambda symbol: marks[symbol])
        realized = self.book.realized
        self._push(self._status_bytes(marks, realized, unrealized))
        self._push(self._summary_bytes())
        self.statuses_sent += 1
        self.send_path(rule_path("daily_loss", self.account), self._pnl_bytes(marks, realized, unrealized))
        poll = encode_actor_message("ruleStatusRequest", None, source=self.path)
        for path in self.rule_paths:
            self.send_path(path, poll)
        self.send_path(orders_path(self.account), poll)

    def _on_risk_resync_request(self, path: str, message, sender: ActorAddress) -> None:
        """Send the PnL now to a (re)started ``risk/daily_loss/<account>``, which refuses orders until it has it."""
        marks = {symbol: self._mark(symbol) for symbol in self.book.symbols()}
        unrealized = self.book.unrealized(lambda symbol: marks[symbol])
        self.send(sender, self._pnl_bytes(marks, self.book.realized, unrealized))

    def _pnl_bytes(self, marks: dict[str, float], realized: float, unrealized: float) -> bytes:
        """``pnlUpdate``, marked when every contract held has a last price."""
        held = {vt_symbol for (vt_symbol, _), position in self.book.positions.items() if position.volume}
        marked = all(math.isfinite(marks.get(symbol, NAN)) and marks[symbol] > 0 for symbol in held)
        return encode_pnl_update(self.account, realized, unrealized, source=self.path, marked=marked)

    def _mark(self, vt_symbol: str) -> float:
        quote = self.market.quote(vt_symbol)
        return quote.last_price if quote is not None else NAN

    def _margin_ratio(self, vt_symbol: str, side: str) -> float:
        """The contract's margin ratio for a side (0 when the market port has none)."""
        quote = self.market.quote(vt_symbol)
        if quote is None:
            return 0.0
        return quote.short_margin_ratio if side == "short" else quote.long_margin_ratio

    def _status_bytes(self, marks: dict[str, float], realized: float, unrealized: float) -> bytes:
        message, status = new_server_message("accountStatus", 0, self.path)
        status.account = self.account
        status.trader = self.trader
        status.tsNs = time.time_ns()
        margin = self.book.margin(lambda symbol: marks.get(symbol, NAN), self._margin_ratio)
        status.balance = balance = self.capital + realized + unrealized
        status.available = balance - margin
        status.margin = margin
        status.realizedPnl = realized
        status.unrealizedPnl = unrealized
        if self.balances:
            real_balance = sum(b for b, _, _ in self.balances.values())
            real_available = sum(a for _, _, a in self.balances.values())
            status.realBalance, status.realAvailable = real_balance, real_available
            status.realMargin = real_balance - real_available
        else:
            status.realBalance = status.realAvailable = status.realMargin = NAN
        held = [(key, p) for key, p in self.book.positions.items() if p.volume or p.realized]
        positions = status.init("positions", len(held))
        for view, ((vt_symbol, side), position) in zip(positions, held):
            view.vtSymbol = vt_symbol
            view.direction = side
            view.volumeLots = position.volume
            view.avgPrice = position.avg_price
            view.markPrice = marks.get(vt_symbol, NAN)
            view.realizedPnl = position.realized
            view.unrealizedPnl = self.book.unrealized_of(vt_symbol, side, position, marks.get(vt_symbol, NAN))
        real = status.init("realAccounts", len(self.real))
        for i, gateway in enumerate(self.real):
            real[i] = gateway
        status.openOrders = self.counts["open"]
        status.trades = len(self.book.trade_ids)
        return message.to_bytes()

    def _summary_bytes(self) -> bytes:
        message, summary = new_server_message("riskSummary", 0, self.path)
        summary.account = self.account
        summary.tsNs = time.time_ns()
        summary.killSwitch = self.kill_switch
        stale_ns = int(2.5 * self.interval_s * 1e9)
        now = time.monotonic_ns()
        rules = summary.init("rules", len(self.rule_status))
        for view, ((name, _), (status, received_ns)) in zip(rules, sorted(self.rule_status.items())):
            view.rule = name
            view.scope = status.scope
            view.limit = status.limit
            view.observed = status.observed
            view.healthy = status.healthy and now - received_ns < stale_ns
            view.rejections = status.rejections
        summary.rejections = self.counts["rejections"]
        summary.unknownOutcomes = self.counts["unknownOutcomes"]
        return message.to_bytes()

    def _push(self, payload: bytes) -> None:
        self.send_path(self.sessions_path, encode_account_push(self.account, payload, self.path, self.correlation_id))

    def extra_statistics(self) -> dict[str, Any]:
        """Positions, trades, duplicates, statuses sent, events forwarded."""
        return {"account": self.account, "positions": sum(1 for p in self.book.positions.values() if p.volume),
                "trades": len(self.book.trade_ids), "duplicate_trades": self.book.duplicates,
                "statuses_sent": self.statuses_sent, "events_forwarded": self.events_forwarded,
                "realized_pnl": self.book.realized}


__all__ = ["AccountActor"]
