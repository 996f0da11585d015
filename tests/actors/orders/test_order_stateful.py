"""A stateful property test of the order path: random submits, cancels, replaces, cancel-alls, fills, venue
disconnects, crashes, graceful restarts and rebuilds of the desk from its journal, with the order path's
invariants after every step.

The harness is real from the order actors to the venue: the actor runtime, the account, rule and order actors
of two accounts, the SQLite journal (a temporary file), the order bridge, and one vn.py ``MainEngine`` with
the simulator gateway (shared by every example: starting vn.py costs ~1 s) whose ``SimExchange`` venue is new
in each example. What the venue received is counted at the venue (``SimExchange.statistics``,
``query_order``) and from vn.py's own order and trade events.

Invariants after every step (the order path's promises: sent at most once, every submit answered):

* each client order id reaches the venue at most once;
* no two open orders share a vt_orderid;
* every submit is answered, and every answer to one client order id is the same;
* an order that may have reached the venue is answered ``rejected`` only if the venue rejected it;
* an account's positions equal the sum of its fills at the venue;
* every replace is answered, once decided always the same way, and its new order reaches the venue only after
  the replaced order ended, for the requested volume less what that order filled;
* every order a cancelAll named is final or has its cancel requested, and a retry of a cancelAll in the same
  incarnation gets the same reply;
* no actor is down or crash-looping.

It found that a NaN price journaled with a rejected order crash-looped the restarted order actor (the row came
back from SQLite as NULL): restarts after such orders are generated on purpose.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from actors._envelope import encode_actor_message
from actors._registry import ActorState
from actors._runtime import ActorRuntime
from actors._supervisor import ChildSpec, RestartChild, Supervisor, start_root
from actors.orders.config import AccountSpec, OrdersConfig
from actors.orders.journal import OrderJournal
from actors.orders.record import reference_of
from actors.orders.tree import order_path_children
from actors.risk.limits import LimitStore
from actors.risk.rules import rule_defaults
from tests.actors.order_kit import RB, CollectorActor, ScriptedMarket, Sink


ACCOUNTS = ("acct-01", "acct-02")
SYMBOL = RB.vt_symbol
LAST = RB.last_price
RULES = ("order_validity", "order_volume", "duplicate_order", "active_order", "order_cancel", "position_limit")
"""The account rules whose state a restart must rebuild (stateful ones) and the validity checks; fewer rule
actors keep an example cheap (the rules' own semantics are tested in tests/actors/risk/)."""
SETTLE_S = 5.0
FENCE = "eTickstageFence"
"""A vn.py event type of this test's own, to know when vn.py's queue was drained."""
_venues = itertools.count(1)


class Relay:
    """Stands in for vn.py's EventEngine towards the order bridge of the current example.

    ``OrderBridge.attach`` registers its handlers here; the relay itself is registered once on the real
    EventEngine and forwards each event to the handlers of the bridge attached last.
    """

    def __init__(self) -> None:
        self.handlers: dict[str, list] = {}

    def register(self, event_type: str, handler) -> None:
        self.handlers.setdefault(event_type, []).append(handler)

    def forward(self, event) -> None:
        for handler in self.handlers.get(event.type, ()):
            handler(event)


class VenueLog:
    """vn.py's order and trade events as the venue emitted them (vn.py's EventEngine thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.references: dict[str, str] = {}   # vt_orderid → reference
        self.trades: dict[str, object] = {}    # vt_tradeid → TradeData

    def on_order(self, event) -> None:
        with self._lock:
            if event.data.reference:
                self.references[event.data.vt_orderid] = event.data.reference

    def on_trade(self, event) -> None:
        with self._lock:
            self.trades.setdefault(event.data.vt_tradeid, event.data)

    def fills(self) -> dict[tuple[str, str, str], float]:
        """(account, vt_symbol, direction) → lots filled, from the venue's trades."""
        totals: dict[tuple[str, str, str], float] = defaultdict(float)
        with self._lock:
            for trade in self.trades.values():
                reference = self.references.get(trade.vt_orderid, "")
                account = reference.split(":")[1] if reference.startswith("tickstage:") else "?"
                totals[(account, trade.vt_symbol, trade.direction.name.lower())] += trade.volume
        return totals


class Vnpy:
    """One vn.py MainEngine with the simulator gateway, shared by the examples."""

    def __init__(self) -> None:
        from vnpy.trader.engine import MainEngine
        from vnpy.trader.event import EVENT_ACCOUNT, EVENT_ORDER, EVENT_TRADE

        from sim.gateway import SimGateway
        from transport.venue.event_engine import PromptEventEngine
        from transport.venue.vnpy_engine import without_offset_conversion
        from transport.venue.vnpy_home import contain_vnpy, restoring_cwd

        contain_vnpy()
        self.event_engine = PromptEventEngine()   # the desk's: stopped at once (each example stops one)
        with restoring_cwd():
            self.main_engine = MainEngine(self.event_engine)
        without_offset_conversion(self.main_engine)
        self.gateway = self.main_engine.add_gateway(SimGateway, "SIM")
        self.relay = Relay()
        self.log = VenueLog()
        for event_type in (EVENT_ORDER, EVENT_TRADE, EVENT_ACCOUNT):
            self.event_engine.register(event_type, self.relay.forward)
        self.event_engine.register(EVENT_ORDER, lambda event: self.log.on_order(event))
        self.event_engine.register(EVENT_TRADE, lambda event: self.log.on_trade(event))
        self._fenced = threading.Event()
        self.event_engine.register(FENCE, lambda event: self._fenced.set())

    def fence(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) until vn.py handled every event queued so far (its queue is FIFO)."""
        from vnpy.event import Event

        self._fenced.clear()
        self.event_engine.put(Event(FENCE))
        assert self._fenced.wait(timeout_s), "vn.py's EventEngine did not drain"

    def close(self) -> None:
        from transport.venue.vnpy_home import restoring_cwd

        with restoring_cwd():
            self.main_engine.close()


def _contract():
    from vnpy.trader.constant import Exchange, Product
    from vnpy.trader.object import ContractData

    return ContractData(symbol="rb1801", exchange=Exchange.SHFE, name="rb1801", product=Product.FUTURES, size=10,
                        pricetick=1.0, gateway_name="SIM")


def _tick(bid: float, ask: float, volume: float = 5.0):
    import datetime as dt

    from vnpy.trader.constant import Exchange
    from vnpy.trader.object import TickData

    return TickData(symbol="rb1801", exchange=Exchange.SHFE, gateway_name="SIM", name="rb1801",
                    datetime=dt.datetime.now(dt.timezone.utc), last_price=(bid + ask) / 2, bid_price_1=bid,
                    ask_price_1=ask, bid_volume_1=volume, ask_volume_1=volume)


class Desk:
    """The order path of two accounts on a new runtime and journal, on a given venue."""

    def __init__(self, vnpy: Vnpy, loop, journal_path: Path, config: OrdersConfig, sink: Sink) -> None:
        from transport.venue.vnpy_orders import OrderBridge

        self.runtime = ActorRuntime(loop)
        self.journal = OrderJournal.open(journal_path)
        self.journal.start(loop)
        self.bridge = OrderBridge(self.runtime, config, self.journal)
        vnpy.relay.handlers.clear()
        self.bridge.attach(vnpy.relay, vnpy.main_engine)
        children = [ChildSpec("sessions", CollectorActor, {"sink": sink}),
                    ChildSpec("client", Supervisor, {"children": [ChildSpec("1", CollectorActor, {"sink": sink})]})]
        children += order_path_children(config, journal=self.journal, limits=LimitStore(
            config, rule_defaults(), self.journal), port=self.bridge, market=ScriptedMarket(RB))
        start_root(self.runtime, Supervisor, {"children": children})

    def order_actor(self, account: str):
        entry = self.runtime.registry.get(f"orders/{account}")
        return entry.instance if entry is not None else None

    def stop(self) -> None:
        self.runtime.shutdown()
        self.journal.close()


def _restartable(machine: OrderPathMachine) -> bool:
    """A restart may be generated now: at most two per example (a NaN price journaled before it included)."""
    return machine.disruptions < 2


class OrderPathMachine(RuleBasedStateMachine):
    """Drives one desk; the model is what the clients sent and what they were answered."""

    vnpy: Vnpy
    loop: asyncio.AbstractEventLoop

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="tickstage-stateful-"))
        self.config = OrdersConfig(
            accounts=tuple(AccountSpec(a, "trader1") for a in ACCOUNTS), rules=RULES, global_rules=("kill_switch",),
            answer_timeout_s=0.05, query_interval_s=0.02, check_timeout_s=1.0, status_interval_s=60.0,
            limits={"order_flow": {"limit": 1000.0}, "active_order": {"limit": 6.0},
                    "duplicate_order": {"limit": 3.0}})
        self.sink = Sink()
        self.vnpy.log = VenueLog()
        self.venue = self._new_venue()
        self.desk = Desk(self.vnpy, self.loop, self.folder / "orders.sqlite3", self.config, self.sink)
        self.sent: dict[tuple[str, str], dict] = {}       # (account, client order id) → the first submit's fields
        self.unanswered: dict[tuple[str, str], dict] = {}  # submitted, no answer yet (retried after a crash)
        self.replaces: dict[tuple[str, str], dict] = {}    # (account, new client order id) → the first replace
        self.unanswered_replaces: dict[tuple[str, str], dict] = {}
        self.cancel_alls: dict[tuple[str, str, int], list] = defaultdict(list)  # (account, id, epoch) → replies
        self.envelopes = itertools.count(1)
        self.disconnected = False
        self.disruptions = 0
        self._run(self._settle())

    def _new_venue(self):
        from sim.exchange import ExchangeSettings, SimExchange

        venue = SimExchange.venue(f"stateful-{next(_venues)}")
        venue.configure(ExchangeSettings(venue=venue.name, price_limit_percent=10))
        venue.on_contract(_contract())
        venue.on_tick(_tick(LAST - 1, LAST + 1))
        self.vnpy.gateway.exchange = venue
        venue.attach(self.vnpy.gateway)
        return venue

    def teardown(self) -> None:
        self.desk.stop()
        self.venue.detach(self.vnpy.gateway)
        self.vnpy.fence()   # this venue's last events go nowhere, not into the next example's log
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- driving the loop ------------------------------------------------------------------

    def _run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def _why_not_quiet(self, answers: bool = True) -> str:
        runtime = self.desk.runtime
        if runtime.queued():
            return f"{runtime.queued()} messages queued"
        for entry in runtime.registry.entries():
            if entry.state is not ActorState.RUNNING:
                return f"{entry.path} is {entry.state.value}"
        for account in ACCOUNTS:
            actor = self.desk.order_actor(account)
            if actor is None or actor.crashed:
                return f"orders/{account} down"
            if answers and (actor.waiters or actor.unresolved or actor.checks):
                return f"orders/{account}: waiters {list(actor.waiters)}, unresolved {actor.unresolved}"
            if answers and not self.disconnected and actor.replacements.waiters:
                return f"orders/{account}: replaces waiting {list(actor.replacements.waiters)}"
        if answers and self.unanswered:
            return f"unanswered submits {sorted(self.unanswered)}"
        if answers and not self.disconnected and self.unanswered_replaces:
            return f"unanswered replaces {sorted(self.unanswered_replaces)}"
        return ""

    # -- client side -----------------------------------------------------------------------

    def _on_reply(self) -> None:
        for message in self.sink.replies["client/1"]:
            if message["which"] == "orderReply":
                self.unanswered.pop((message["account"], message["clientOrderId"]), None)
            elif message["which"] == "replaceReply":
                self.unanswered_replaces.pop((message["account"], message["newClientOrderId"]), None)

    def _submit(self, account: str, client_order_id: str, fields: dict) -> None:
        """Send a submitOrder to ``orders/<account>`` as a session would (``fields["account"]`` may name
        another account); a submit the runtime dropped (the actor is restarting) is the client's to retry."""
        from actors.orders.codec import encode_order_command
        from transport.edge.client import client_message

        key = (account, client_order_id)
        self.sent.setdefault(key, fields)
        data = client_message(next(self.envelopes), submitOrder={"clientOrderId": client_order_id, **fields})
        if self.desk.runtime.tell_path(f"orders/{account}",
                                       encode_order_command("client/1", "trader1", data, "client/1")):
            self.unanswered.setdefault(key, fields)

    def _retry_unanswered(self) -> None:
        """What a client does after a timeout: send the same client order id again."""
        for (account, client_order_id), fields in list(self.unanswered.items()):
            self._submit(account, client_order_id, fields)
        for (account, _), fields in list(self.unanswered_replaces.items()):
            self._replace(account, fields)

    def _tell(self, account: str, **member) -> bool:
        """Send one order ClientMessage to ``orders/<account>`` as session ``client/1`` would."""
        from actors.orders.codec import encode_order_command
        from transport.edge.client import client_message

        data = client_message(next(self.envelopes), **member)
        return self.desk.runtime.tell_path(f"orders/{account}",
                                           encode_order_command("client/1", "trader1", data, "client/1"))

    def _replace(self, account: str, fields: dict) -> None:
        """Send a replaceOrder; one the runtime dropped (the actor is restarting) is the client's to retry."""
        key = (account, fields["newClientOrderId"])
        self.replaces.setdefault(key, fields)
        self.sent.setdefault(key, fields)
        if self._tell(account, replaceOrder=fields):
            self.unanswered_replaces.setdefault(key, fields)

    async def _settled_with_retries(self, disrupted: bool = False) -> None:
        """Settle; after a crash, restart or rebuild first wait for the actors, then retry what the dead
        incarnation left unanswered (a client's retry after its timeout), then settle with answers."""
        if disrupted:
            await self._settle(answers=False)
            self._on_reply()
            self._retry_unanswered()
        await self._settle()

    async def _settle(self, answers: bool = True) -> None:
        """Run until every actor is running, every submit answered and no order unresolved (bounded)."""
        deadline = time.monotonic() + SETTLE_S
        quiet = 0
        while quiet < 2:
            await asyncio.sleep(0.001)
            self.vnpy.fence()              # whatever vn.py was handed is with the bridge now
            await self.desk.runtime.wait_idle(SETTLE_S)
            self._on_reply()
            quiet = quiet + 1 if not self._why_not_quiet(answers) else 0
            if time.monotonic() > deadline:
                raise AssertionError(f"not settled within {SETTLE_S} s: {self._why_not_quiet(answers)}")

    # -- rules -----------------------------------------------------------------------------

    ids = st.sampled_from([f"c-{i}" for i in range(8)])
    prices = st.one_of(st.integers(-3, 3).map(lambda k: LAST + k), st.sampled_from(
        [math.nan, math.inf, -1.0, 0.0, 1e300, LAST * 2, LAST + 0.5]))
    volumes = st.one_of(st.integers(1, 3).map(float), st.sampled_from([0.0, -1.0, math.nan, 1e12, 1.5]))

    @rule(account=st.sampled_from(ACCOUNTS), client_order_id=ids, direction=st.sampled_from(["long", "short"]),
          price=prices, volume=volumes, symbol=st.sampled_from([SYMBOL, SYMBOL, "nope", "zz9999.SHFE"]),
          other_account=st.booleans())
    def submit(self, account, client_order_id, direction, price, volume, symbol, other_account):
        """A submit: valid or not (NaN, huge, off-grid, unknown contract), a new id or one seen, to this
        account's order actor or naming another account (refused)."""
        fields = {"account": account, "vtSymbol": symbol, "direction": direction, "offset": "open",
                  "orderType": "limit", "price": price, "volumeLots": volume}
        if other_account:
            fields["account"] = ACCOUNTS[1 - ACCOUNTS.index(account)]
        self._submit(account, client_order_id, fields)   # a NaN is journaled with the rejected order
        self._run(self._settled_with_retries())

    @rule(account=st.sampled_from(ACCOUNTS), client_order_id=ids)
    def cancel(self, account, client_order_id):
        """A cancel of any id (known, unknown, final)."""
        from actors.orders.codec import encode_order_command
        from transport.edge.client import client_message

        data = client_message(next(self.envelopes), cancelOrder={"clientOrderId": client_order_id,
                                                                 "account": account})
        self.desk.runtime.tell_path(f"orders/{account}", encode_order_command("client/1", "trader1", data,
                                                                              "client/1"))
        self._run(self._settled_with_retries())

    @rule(account=st.sampled_from(ACCOUNTS), old_id=ids, new_id=st.sampled_from([f"r-{i}" for i in range(4)] + ["c-0"]),
          price=prices, volume=volumes)
    def replace(self, account, old_id, new_id, price, volume):
        """A replace of any id (working, final, unknown) by a new id (or one seen: a retry, or another order's),
        at any price and volume (NaN, huge ... included)."""
        fields = {"clientOrderId": old_id, "account": account, "newClientOrderId": new_id, "price": price,
                  "volumeLots": volume}
        self._replace(account, self.replaces.get((account, new_id), fields))
        self._run(self._settled_with_retries())

    @rule(account=st.sampled_from(ACCOUNTS), request_id=st.sampled_from(["a-0", "a-1"]), by_symbol=st.booleans(),
          direction=st.sampled_from(["", "long", "short"]))
    def cancel_all(self, account, request_id, by_symbol, direction):
        """A cancelAll of every order, of one contract and/or one direction; ids repeat (retries)."""
        self._tell(account, cancelAll={"requestId": request_id, "account": account,
                                       "vtSymbol": SYMBOL if by_symbol else "", "direction": direction or "long",
                                       "byDirection": bool(direction)})
        self._run(self._settled_with_retries())
        for message in self.sink.replies["client/1"]:
            if message["which"] == "cancelAllReply" and message["requestId"] == request_id and \
                    message["account"] == account and not message.get("_seen"):
                message["_seen"] = True
                self.cancel_alls[(account, request_id, self.disruptions)].append(message["clientOrderIds"])

    @rule(side=st.sampled_from(["buyers", "sellers"]), depth=st.integers(0, 3))
    def market_moves(self, side, depth):
        """A tick that crosses resting buy (or sell) orders up to ``depth`` ticks from the last price: fills."""
        if side == "buyers":
            self.venue.on_tick(_tick(LAST - depth - 2, LAST - depth))
        else:
            self.venue.on_tick(_tick(LAST + depth, LAST + depth + 2))
        self._run(self._settled_with_retries())

    @precondition(lambda self: not self.disconnected)
    @rule()
    def venue_disconnects(self):
        """The venue stops answering (orders sent meanwhile become outcomeUnknown, resolved by queries)."""
        self.venue.detach(self.vnpy.gateway)
        self.disconnected = True
        self._run(self._settled_with_retries())

    @precondition(lambda self: self.disconnected)
    @rule()
    def venue_reconnects(self):
        """The venue is back and replays the day's orders and trades."""
        self.venue.attach(self.vnpy.gateway)
        self.disconnected = False
        self._run(self._settled_with_retries())

    @precondition(_restartable)
    @rule(account=st.sampled_from(ACCOUNTS), right_after_submit=st.booleans())
    def crash_order_actor(self, account, right_after_submit):
        """Crash the order actor (its supervisor restarts it from the journal), now or right after a submit
        was handled (the write-ahead row committed, ``send_order`` called, its later rows still queued)."""
        self.disruptions += 1
        if right_after_submit:
            self._submit(account, f"k-{self.disruptions}", {
                "account": account, "vtSymbol": SYMBOL, "direction": "long", "offset": "open",
                "orderType": "limit", "price": LAST - 2, "volumeLots": 1.0})
        self.desk.runtime.tell_path(f"orders/{account}", encode_actor_message("crash", "stateful test"))
        self._run(self._settled_with_retries(disrupted=True))

    @precondition(_restartable)
    @rule(account=st.sampled_from(ACCOUNTS))
    def graceful_restart(self, account):
        """An operator restarts the order actor (admin API's RestartChild)."""
        self.disruptions += 1
        orders = self.desk.runtime.registry.entry("orders")
        self.desk.runtime.tell(orders.address, RestartChild(account))
        self._run(self._settled_with_retries(disrupted=True))

    @precondition(_restartable)
    @rule()
    def rebuild_desk(self):
        """The process dies and a new one starts from the journal; the venue reconnects and replays."""
        self.disruptions += 1
        self.desk.stop()
        self.venue.detach(self.vnpy.gateway)
        self.desk = Desk(self.vnpy, self.loop, self.folder / "orders.sqlite3", self.config, self.sink)
        self.venue.attach(self.vnpy.gateway)
        self.disconnected = False
        self._run(self._settled_with_retries(disrupted=True))

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def each_client_order_id_reaches_the_venue_at_most_once(self):
        assert self.venue.statistics().most_per_reference <= 1, self.venue.statistics()
        submitted = {reference_of(account, client_order_id) for account, client_order_id in self.sent}
        assert set(self.vnpy.log.references.values()) <= submitted

    @invariant()
    def no_two_open_orders_share_a_vt_orderid(self):
        vt_orderids = [r.vt_orderid for account in ACCOUNTS for r in self.desk.order_actor(account).orders.values()
                       if r.vt_orderid and not r.final]
        assert len(vt_orderids) == len(set(vt_orderids)), sorted(vt_orderids)

    @invariant()
    def every_submit_is_answered_the_same_way(self):
        assert not self.unanswered, sorted(self.unanswered)
        answers: dict[tuple[str, str], set] = defaultdict(set)
        for message in self.sink.replies["client/1"]:
            if message["which"] == "orderReply":
                answers[(message["account"], message["clientOrderId"])].add(
                    (message["status"], message["vtOrderId"]))
        assert {key: a for key, a in answers.items() if len(a) > 1} == {}

    @invariant()
    def an_order_that_reached_the_venue_is_rejected_only_by_the_venue(self):
        from vnpy.trader.constant import Status

        for message in self.sink.replies["client/1"]:
            if message["which"] != "orderReply" or message["status"] != "rejected":
                continue
            at_venue = self.venue.query_order(reference=reference_of(message["account"], message["clientOrderId"]))
            assert at_venue is None or at_venue.status == Status.REJECTED, (message, at_venue)

    @invariant()
    def positions_equal_the_sum_of_fills(self):
        fills = self.vnpy.log.fills()
        for account in ACCOUNTS:
            book = self.desk.runtime.registry.entry(f"accounts/{account}").instance.book
            held = {(account, symbol, side): p.volume for (symbol, side), p in book.positions.items() if p.volume}
            expected = {key: lots for key, lots in fills.items() if key[0] == account and lots}
            assert held == expected, (account, held, expected)

    @invariant()
    def every_replace_is_answered_the_same_way_once_decided(self):
        if not self.disconnected:
            assert not self.unanswered_replaces, sorted(self.unanswered_replaces)
        decided: dict[tuple[str, str], set] = defaultdict(set)
        for message in self.sink.replies["client/1"]:
            if message["which"] == "replaceReply" and message["status"] in ("accepted", "rejected", "outcomeUnknown"):
                decided[(message["account"], message["newClientOrderId"])].add(
                    (message["clientOrderId"], message["status"], message["vtOrderId"], message["volumeLots"]))
        assert {key: a for key, a in decided.items() if len(a) > 1} == {}

    @invariant()
    def a_replacing_order_is_sent_after_the_replaced_one_ended_for_the_volume_left(self):
        for account in ACCOUNTS:
            orders = self.desk.order_actor(account).orders
            for record in orders.values():
                if not record.replaces or not record.vt_orderid:
                    continue
                old = orders[record.replaces]
                assert old.final and old.state != "filled", (record, old)
                asked = self.replaces[(account, record.client_order_id)]["volumeLots"]
                assert record.volume == asked - old.traded, (record, old, asked)

    @invariant()
    def orders_named_by_a_cancel_all_are_being_cancelled(self):
        for (account, _, epoch), replies in self.cancel_alls.items():
            assert all(r == replies[0] for r in replies), replies
            orders = self.desk.order_actor(account).orders
            for client_order_id in replies[0]:
                record = orders[client_order_id]
                assert record.final or record.cancel_requested or (
                    epoch == self.disruptions and record.cancel_on_send), record

    @invariant()
    def every_actor_is_running(self):
        runtime = self.desk.runtime
        assert runtime.root_failure is None
        down = {e.path: e.state.value for e in runtime.registry.entries() if e.state is not ActorState.RUNNING}
        assert down == {}


EXAMPLES = int(__import__("os").environ.get("TICKSTAGE_STATEFUL_EXAMPLES", "200"))
"""Examples of the CI run (an environment variable lets a developer shorten it while iterating)."""


def _run_machine(max_examples: int, steps: int) -> None:
    loop = asyncio.new_event_loop()
    vnpy = Vnpy()
    OrderPathMachine.vnpy, OrderPathMachine.loop = vnpy, loop
    try:
        run_state_machine_as_test(OrderPathMachine, settings=settings(
            max_examples=max_examples, stateful_step_count=steps, derandomize=True, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], database=None))
    finally:
        vnpy.close()
        loop.close()


@pytest.mark.timeout(600)   # ~30 s alone on 2 cores; the 120 s hang guard is too close on a loaded machine
def test_order_path_when_random_commands_and_faults_then_invariants_hold():
    """200 seeded examples of up to 8 steps: submits, cancels, replaces, cancel-alls, fills, venue disconnects,
    crashes, restarts."""
    _run_machine(max_examples=EXAMPLES, steps=8)


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_order_path_when_many_random_commands_and_faults_then_invariants_hold():
    """The long run: 2,000 examples of up to 25 steps."""
    _run_machine(max_examples=2000, steps=25)
