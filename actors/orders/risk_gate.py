"""RiskGate: how an order actor puts an order to its rule actors, in-line when that is exact, else by message.

Every rule instance stays an actor of its own (``risk/<rule>/<scope>``,
supervised one_for_one, limits and kill-switch commands by message). What
the gate chooses is how to ask it: a ``riskCheck`` message and a
``riskVerdict`` back cost two hops through the runtime and two Cap'n Proto
encodes and decodes per rule; 15 rules asked one message at a time made up
~0.8 ms of the 2.1 ms submit → reply (perf/bench_orders.py). So the gate
calls the rule actor's :meth:`~actors.risk._rule.RiskRule.check_now` (and
``update_now`` for the lifecycle updates) directly, inside the order actor's
handler, when all of this holds:

* the rule actor is in process and ``running`` (its ``Start`` was handled),
  and has not crashed;
* the runtime delivers in queue order (``ActorRuntime.fifo``: no fault
  interceptor was ever installed);
* every message the order actor queued to that rule actor earlier was
  handled already (``ActorRuntime.delivered_through`` of the mark taken
  when it was queued).

Then the call sees exactly the state a message would have seen: the shared
queue is FIFO, so anything queued to the rule before the order actor's
current message was handled before it, and nothing of the order actor's is
still pending there. Anything else (a rule starting, a replay still queued, a
fault interceptor, a rule in another process) takes the message path.
Fail-closed either way: a rule actor down, restarting or crashed refuses the
order; a raising check crashes that rule actor (its supervisor restarts it)
and refuses the order; a rule asked by message that does not answer within
the check timeout refuses it. Replays go by message always: a restarted order
actor cannot know what its previous incarnation left queued.

The gate decides nothing about the order itself: it returns the verdicts
(``None`` approved, a :class:`~actors.risk.rejection.Rejection`, or a
:class:`PendingCheck` waiting for messages) and the order actor acts on them.
Every method runs on the loop thread, inside the order actor's handlers.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from thespian.actors import ActorAddress

from actors._registry import DOWN_STATES, ActorState, RegistryEntry
from actors.orders.codec import encode_risk_check, encode_risk_update
from actors.orders.ports import Quote
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


def check_view(check_id: int, record: OrderRecord, quote: Quote | None) -> CheckView:
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
    """A check some rule actors were asked by message: the paths that have not answered yet.

    Attributes:
        check_id: the ``RiskCheck.checkId`` the verdicts quote.
        client_order_id: the order checked.
        pending: paths of the rule actors that have not answered.
    """

    check_id: int
    client_order_id: str
    pending: set[str] = field(default_factory=set)


class RuleRegistry(Protocol):
    """The actor registry as the gate reads it (``actors._registry.Registry``)."""

    def get(self, path: str) -> RegistryEntry | None:
        """Return the entry at ``path``, ``None`` when nothing is bound there."""


class RuleRuntime(Protocol):
    """What the gate needs of the actor runtime (``actors._runtime.ActorRuntime``; loop thread)."""

    fifo: bool
    registry: RuleRegistry

    def queued_mark(self) -> int:
        """Return a mark of everything queued so far."""

    def delivered_through(self, mark: int) -> bool:
        """Whether everything queued up to ``mark`` was delivered."""

    def count_dropped(self) -> None:
        """Count a message dropped because its target is dead."""


class RuleMail(Protocol):
    """How the gate sends as the order actor (``TickstageActor``; loop thread, never blocking)."""

    path: str

    def send(self, address: ActorAddress, message: Any) -> None:
        """Send ``message`` to ``address`` as this actor."""

    def send_path(self, path: str, message: Any) -> bool:
        """Send ``message`` to the actor at ``path``; False when nothing is there."""


class RiskGate:
    """The pending checks, the rule verdicts and the lifecycle updates of one order actor's rules.

    Args:
        runtime: the actor runtime (registry, delivery order and marks).
        mail: the order actor, sending the messages.
        rules: (rule name, path) of every rule to ask.
        observers: ``RiskUpdateKind`` name → paths of the rules observing it.

    Attributes:
        checks: check id → the check still waiting for verdicts by message.
        inline_checks: rule checks answered by an in-line call.
    """

    def __init__(self, runtime: RuleRuntime, mail: RuleMail, rules: Iterable[tuple[str, str]],
                 observers: Mapping[str, tuple[str, ...]]) -> None:
        self.runtime = runtime
        self.mail = mail
        self.rules: tuple[tuple[str, str], ...] = tuple(rules)
        self.observers: dict[str, tuple[str, ...]] = dict(observers)
        self.checks: dict[int, PendingCheck] = {}
        self.inline_checks = 0
        self._marks: dict[str, int] = {}
        self._check_ids = itertools.count(1)

    # -- checks ------------------------------------------------------------------------------

    def check(self, record: OrderRecord, quote: Quote | None) -> Rejection | PendingCheck | None:
        """Put the order to every rule.

        Returns:
            ``None`` when every rule approved (in-line), a :class:`Rejection` when one refused or is down
            (fail-closed), or the :class:`PendingCheck` of the rules asked by message (start its timeout).
        """
        registry, running = self.runtime.registry, ActorState.RUNNING
        entries = []
        for name, path in self.rules:
            entry = registry.get(path)
            if entry is None or (entry.state is not running and entry.state in DOWN_STATES) or \
                    getattr(entry.instance, "crashed", False):
                rule = entry.instance if entry is not None and isinstance(entry.instance, RiskRule) else None
                return Rejection(name, rule.main_limit_value() if rule else NAN, NAN,
                                 f"risk rule actor {path} is down or restarting: "
                                 "its orders are refused until it is back (fail-closed)")
            entries.append((path, entry))
        check_id = next(self._check_ids)
        inline = self.runtime.fifo
        view, refusal, by_message = None, None, []
        for path, entry in entries:
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
            return refusal
        if not by_message:
            return None
        payload = encode_risk_check(check_id, record, quote.last_price if quote else NAN,
                                    quote.price_tick if quote else 0.0, quote.multiplier if quote else 0.0,
                                    self.mail.path)
        for _, address in by_message:
            self.mail.send(address, payload)
        self.queued_to([path for path, _ in by_message])
        pending = PendingCheck(check_id, record.client_order_id, {path for path, _ in by_message})
        self.checks[check_id] = pending
        return pending

    def take_verdict(self, check_id: int, rule_path: str | None,
                     rejection: Rejection | None) -> tuple[str, Rejection | None] | None:
        """Take one rule's ``riskVerdict`` (``rejection`` ``None``: approved).

        Returns:
            ``(client order id, None)`` when that was the last approval, ``(client order id, rejection)``
            on a refusal, ``None`` when nothing is decided (more verdicts to come, a late verdict, or one
            from a rule this check does not wait for: a previous incarnation's answer).
        """
        check = self.checks.get(check_id)
        if check is None or rule_path not in check.pending:
            return None
        if rejection is None:
            check.pending.discard(rule_path)
            if check.pending:
                return None
        del self.checks[check_id]
        return check.client_order_id, rejection

    def time_out(self, check_id: int, waited_s: float) -> tuple[str, Rejection] | None:
        """Refuse a check still waiting after ``waited_s`` seconds (fail-closed); ``None``: already decided."""
        check = self.checks.pop(check_id, None)
        if check is None:
            return None
        silent = ", ".join(sorted(check.pending))
        rule = dict((path, name) for name, path in self.rules).get(min(check.pending), "risk")
        return check.client_order_id, Rejection(
            rule, waited_s, waited_s, f"risk rule {silent} did not answer within {waited_s:g} s (fail-closed)")

    def rule_restarted(self, rule_path: str) -> list[tuple[str, Rejection]]:
        """Drop the checks a (re)started rule actor had not answered; return their refusals (fail-closed)."""
        rule = next((name for name, path in self.rules if path == rule_path), None)
        refused = []
        for check_id, check in list(self.checks.items()):
            if rule_path in check.pending:
                del self.checks[check_id]
                refused.append((check.client_order_id, Rejection(
                    rule, NAN, NAN, f"risk rule {rule} restarted before answering (fail-closed)")))
        return refused

    # -- lifecycle updates and replays -----------------------------------------------------------

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
                payload = encode_risk_update(kind, record, self.mail.path, price=price, volume=volume, ts_ns=ts_ns)
            self.mail.send(entry.address, payload)
            queued.append(path)
        if queued:
            self.queued_to(queued)

    def replay_to(self, paths: Iterable[str], records: Iterable[OrderRecord]) -> None:
        """Replay every order, summarized, to the rule actors at ``paths`` (resync), by message."""
        paths = list(paths)
        if not paths:
            return
        source = self.mail.path
        messages = [encode_risk_update("resyncStarted", None, source)]
        messages += [encode_risk_update("replayed", record, source) for record in records]
        messages.append(encode_risk_update("resynced", None, source))
        queued = []
        for path in paths:
            if all(self.mail.send_path(path, payload) for payload in messages):
                queued.append(path)
        self.queued_to(queued)

    def queued_to(self, paths: Iterable[str]) -> None:
        """Note that messages were queued to the rule actors at ``paths``: no in-line call to them until
        those are delivered."""
        mark = self.runtime.queued_mark()
        for path in paths:
            self._marks[path] = mark

    def _rule_to_call(self, entry: RegistryEntry, path: str) -> RiskRule | None:
        """Return the rule actor to call in-line at ``path``, or ``None`` for the message path."""
        rule = entry.instance
        if rule is None or entry.state is not ActorState.RUNNING or not isinstance(rule, RiskRule):
            return None
        mark = self._marks.get(path)
        if mark is not None:
            if not self.runtime.delivered_through(mark):
                return None
            del self._marks[path]
        return rule


__all__ = ["CheckView", "PendingCheck", "RiskGate", "RuleMail", "RuleRuntime", "UpdateView", "check_view",
           "update_view"]
