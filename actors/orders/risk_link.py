"""How an order actor reaches its rule actors: in-line calls when that is exact, messages otherwise.

A mixin of :class:`~actors.orders.order.OrderActor`. Every rule instance stays
an actor of its own (``risk/<rule>/<scope>``, supervised one_for_one, limits
and kill-switch commands by message). What changes is how the order actor
asks it: a ``riskCheck`` message and a ``riskVerdict`` back cost two hops
through the runtime and two Cap'n Proto encodes and decodes per rule; 15
rules asked one message at a time made up ~0.8 ms of the 2.1 ms submit →
reply (perf/bench_orders.py). So the order actor calls the rule actor's
:meth:`~actors.risk._rule.RiskRule.check_now` (and ``update_now`` for the
lifecycle updates) directly, inside its own handler, when all of this holds:

* the rule actor is in process and ``running`` (its ``Start`` was handled),
  and has not crashed;
* the runtime delivers in queue order (:attr:`ActorRuntime.fifo`: no fault
  interceptor was ever installed);
* every message this order actor queued to that rule actor earlier was
  handled already (:meth:`ActorRuntime.delivered_through` of the mark taken
  when it was queued).

Then the call sees exactly the state a message would have seen: the shared
queue is FIFO, so anything queued to the rule before this order actor's
current message was handled before it, and nothing of this order actor's is
still pending there. Anything else (a rule starting, a replay still queued, a
fault interceptor, a rule in another process) takes the message path, as
before. Fail-closed either way: a rule actor down, restarting or crashed
refuses the order; a raising check crashes that rule actor (its supervisor
restarts it) and refuses the order. Replays go by message always: a restarted
order actor cannot know what its previous incarnation left queued.

Every method runs on the loop thread, inside the order actor's handlers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from actors._envelope import encode_actor_message
from actors._registry import DOWN_STATES, ActorState
from actors.orders.codec import encode_risk_check, encode_risk_update
from actors.orders.record import OrderRecord
from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection

NAN = math.nan


class CheckView(NamedTuple):
    """The fields of an actor.capnp ``RiskCheck``, for an in-line check (units as there).

    Enumerations are the orders.capnp enumerant names (``"long"``), as
    ``str()`` of a reader's enum gives them.
    """

    checkId: int
    clientOrderId: str
    account: str
    vtSymbol: str
    group: str
    direction: str
    offset: str
    orderType: str
    price: float        # quote currency
    volumeLots: float   # lots
    lastPrice: float    # quote currency; NaN: no tick yet
    priceTick: float    # quote currency; 0: contract unknown
    multiplier: float   # units per lot; 0: contract unknown
    tsNs: int           # submission time, ns since UNIX epoch


class UpdateView(NamedTuple):
    """The fields of an actor.capnp ``RiskUpdate``, for an in-line update (units as there)."""

    kind: str
    clientOrderId: str = ""
    vtSymbol: str = ""
    group: str = ""
    direction: str = "long"
    offset: str = "none"
    price: float = 0.0        # order price; filled: the fill price (quote currency)
    volumeLots: float = 0.0   # order volume; filled: the fill volume (lots)
    tradedLots: float = 0.0
    active: bool = False
    cancelRequested: bool = False
    rejectedByGateway: bool = False
    tsNs: int = 0             # ns since UNIX epoch
    sent: bool = False


def check_view(check_id: int, record: OrderRecord, quote: Any) -> CheckView:
    """Return what :func:`~actors.orders.codec.encode_risk_check` would encode for ``record``."""
    return CheckView(check_id, record.client_order_id, record.account, record.vt_symbol, record.group,
                     record.direction, record.offset, record.order_type, record.price, record.volume,
                     quote.last_price if quote else NAN, quote.price_tick if quote else 0.0,
                     quote.multiplier if quote else 0.0, record.created_ns)


def update_view(kind: str, record: OrderRecord, *, price: float | None = None, volume: float | None = None,
                ts_ns: int = 0) -> UpdateView:
    """Return what :func:`~actors.orders.codec.encode_risk_update` would encode (not ``replayed``)."""
    return UpdateView(kind, record.client_order_id, record.vt_symbol, record.group, record.direction,
                      record.offset, record.price if price is None else price,
                      record.volume if volume is None else volume, tsNs=ts_ns or time.time_ns())


@dataclass
class PendingCheck:
    """A check some rule actors were asked by message: the paths that have not answered yet."""

    client_order_id: str
    pending: set[str] = field(default_factory=set)


class RiskLink:
    """Checks, lifecycle updates and replays to the rule actors (mixin of OrderActor)."""

    def _rule_to_call(self, entry: Any, path: str) -> RiskRule | None:
        """Return the rule actor to call in-line at ``path``, or ``None`` for the message path."""
        rule = entry.instance
        if rule is None or entry.state is not ActorState.RUNNING or not isinstance(rule, RiskRule):
            return None
        mark = self._rule_marks.get(path)
        if mark is not None:
            if not self.runtime.delivered_through(mark):
                return None
            del self._rule_marks[path]
        return rule

    def _queued_to(self, paths: list[str]) -> None:
        mark = self.runtime.queued_mark()
        for path in paths:
            self._rule_marks[path] = mark

    def ask_rules(self, record: OrderRecord, quote: Any) -> None:
        """Put the order to every rule; approve, refuse, or wait for the verdicts of those asked by message."""
        registry, running = self.runtime.registry, ActorState.RUNNING
        entries = []
        for name, path in self.rule_paths:
            entry = registry.get(path)
            if entry is None or (entry.state is not running and entry.state in DOWN_STATES) or \
                    getattr(entry.instance, "crashed", False):
                rule = entry.instance if entry is not None and isinstance(entry.instance, RiskRule) else None
                self.refuse(record, Rejection(name, rule.main_limit_value() if rule else NAN, NAN,
                                              f"risk rule actor {path} is down or restarting: "
                                              "its orders are refused until it is back (fail-closed)"))
                return
            entries.append((name, path, entry))
        check_id = next(self._check_ids)
        inline = self.runtime.fifo
        view, refusal, by_message = None, None, []
        for name, path, entry in entries:
            rule = self._rule_to_call(entry, path) if inline else None
            if rule is None:
                by_message.append((path, entry.address))
                continue
            if view is None:
                view = check_view(check_id, record, quote)
            rejection = rule.check_now(view, record.correlation_id)
            if rejection is not None and refusal is None:
                refusal = rejection
        self.inline_checks += len(entries) - len(by_message)
        if refusal is not None:
            self.refuse(record, refusal)
            return
        if not by_message:
            self._approved(record)
            return
        payload = encode_risk_check(check_id, record, quote.last_price if quote else NAN,
                                    quote.price_tick if quote else 0.0, quote.multiplier if quote else 0.0,
                                    self.path)
        for _, address in by_message:
            self.send(address, payload)
        self._queued_to([path for path, _ in by_message])
        self.checks[check_id] = PendingCheck(record.client_order_id, {path for path, _ in by_message})
        self.runtime.call_later(self.config.check_timeout_s, self.myAddress, encode_actor_message(
            "timer", {"name": "check", "generation": check_id & 0xFFFFFFFF}, source=self.path))

    def notify(self, kind: str, record: OrderRecord, *, price: float | None = None,
               volume: float | None = None, ts_ns: int = 0) -> None:
        """Tell the rule actors observing ``kind`` (in-line where exact, else one encoded message)."""
        paths = self.observers.get(kind)
        if not paths:
            return
        runtime = self.runtime
        inline = runtime.fifo
        view = payload = None
        queued = []
        for path in paths:
            entry = runtime.registry.get(path)
            if entry is None or (entry.state is not ActorState.RUNNING and entry.state in DOWN_STATES):
                runtime.count_dropped()
                continue
            rule = self._rule_to_call(entry, path) if inline else None
            if rule is not None:
                if view is None:
                    view = update_view(kind, record, price=price, volume=volume, ts_ns=ts_ns)
                rule.update_now(view, record.correlation_id)
                continue
            if payload is None:
                payload = encode_risk_update(kind, record, self.path, price=price, volume=volume, ts_ns=ts_ns)
            self.send(entry.address, payload)
            queued.append(path)
        if queued:
            self._queued_to(queued)

    def replay_to(self, paths) -> None:
        """Replay every order, summarized, to the rule actors at ``paths`` (resync), by message."""
        if not paths:
            return
        messages = [encode_risk_update("resyncStarted", None, self.path)]
        messages += [encode_risk_update("replayed", record, self.path) for record in self.orders.values()]
        messages.append(encode_risk_update("resynced", None, self.path))
        queued = []
        for path in paths:
            if all(self.send_path(path, payload) for payload in messages):
                queued.append(path)
        self._queued_to(queued)


__all__ = ["CheckView", "PendingCheck", "RiskLink", "UpdateView", "check_view", "update_view"]
