"""The in-process order path perf/bench_orders.py times: a desk's order actors, risk rules, journal and a real vn.py
MainEngine with the simulator exchange, stamped stage by stage (:data:`STAGES`), and the answer floor.

:class:`Harness` builds one order path (``floor=True``: no rule actors, the journal on tmpfs ``/dev/shm``, the
irreducible path of this architecture); :class:`Stages` keeps each stage's samples in ns; :func:`answer_floor`
times ``send_order`` and its answer through vn.py's EventEngine thread to a loop callback. Used by
perf/bench_orders.py only (run that, not this).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import itertools
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from _common import build_market

SEED = 7
HIGH = {"active_order": {"limit": 1e9}, "order_flow": {"limit": 1e9}, "duplicate_order": {"limit": 1e9},
        "position_limit": {"limit": 1e12}, "trade_limit": {"limit": 1e12}, "order_notional": {"limit": 1e15},
        "order_volume": {"limit": 1e9}, "order_cancel": {"limit": 1e9, "per_contract": 1e9},
        "trading_hours": {"product_sessions": 0.0}}


class _Market:
    """The market port: quotes of the seeded contracts (last price, tick, multiplier)."""

    def __init__(self, market) -> None:
        from actors.orders.ports import Quote

        self.quotes = {}
        for tick in market.ticks:
            contract = next(c for c in market.contracts if c.vt_symbol == tick.vt_symbol)
            self.quotes[tick.vt_symbol] = Quote(tick.vt_symbol, market.group_of[tick.vt_symbol],
                                                contract.pricetick, contract.size, tick.last_price)

    def quote(self, vt_symbol):
        return self.quotes.get(vt_symbol)


class _TimedPort:
    """The order bridge, noting when each order reached ``send_order`` and when each of the bridge's
    drains (vn.py's answers arriving on the loop) started (perf_counter_ns)."""

    def __init__(self, bridge) -> None:
        self.bridge = bridge
        self.sent_at: dict[str, int] = {}
        self.drains: list[int] = []
        drain = bridge.drain

        def timed_drain() -> None:  # the bridge schedules self.drain by attribute: this wrapper runs instead
            t = time.perf_counter_ns()
            self.drains.append(t)
            stages = self.stages
            if stages is not None and "send1" in stages.now and "drain" not in stages.now:
                stages.now["drain"] = t
            drain()

        bridge.drain = timed_drain

    def answered_at(self, sent_ns: int) -> int | None:
        """Return when the first drain after ``sent_ns`` started: the order's answer reaching the loop."""
        i = bisect.bisect_left(self.drains, sent_ns)
        return self.drains[i] if i < len(self.drains) else None

    stages: Stages | None = None

    def send(self, record, gateway_name):
        self.sent_at[record.client_order_id] = started = time.perf_counter_ns()
        vt_orderid = self.bridge.send(record, gateway_name)
        if self.stages is not None:
            self.stages.now["send0"], self.stages.now["send1"] = started, time.perf_counter_ns()
        return vt_orderid

    def __getattr__(self, name):
        return getattr(self.bridge, name)


STAGES = (
    ("edge_decode", "edge: client frame decode and check (read_client_frame, order_target)"),
    ("session_encode", "session: orderCommand encode (encode_actor_message, encode_order_command)"),
    ("hop_in", "hop: tell orders/<account> → OrderActor.receiveMessage"),
    ("admit", "order actor: read the command, OrderRecord, book, validity"),
    ("rules", "rules: RiskGate.check (every rule, in-line)"),
    ("to_commit", "rules done → write-ahead commit starts (handler end, group-commit check)"),
    ("commit", "write-ahead commit (OrderJournal.write_orders_now)"),
    ("to_send", "commit done → send_order called"),
    ("send_order", "OrderBridge.send → MainEngine.send_order returns"),
    ("after_send", "send_order returned → handler done"),
    ("answer_hop", "answer: bridge drain starts → OrderActor.receiveMessage"),
    ("answer_apply", "answer: book applies the status → reply starts"),
    ("reply_encode", "reply: encode_order_reply + encode_outbound + tell"),
    ("reply_hop", "reply: tell → the session stand-in"),
    ("socket_write", "socket write of the reply frame (uvloop transport.write, loopback)"),
)
"""(key, what) of each stage of one order timed by :class:`Stages`, in path order."""


class Stages:
    """perf_counter_ns stamps along one order at a time: wrappers on the live order actor's instance
    (``receiveMessage``, ``gate.check``, ``_reply``), the journal's ``write_orders_now`` and the port's
    ``send`` (the bench only; each wrapper costs ~0.3 µs, inside the figures it brackets)."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.samples: dict[str, list[int]] = {key: [] for key, _ in STAGES}
        self.commits: list[tuple[int, int]] = []
        """(rows, ns) of every write-ahead commit, bursts included."""

    def attach(self, actor, journal, port) -> None:
        """Wrap the order actor's instance, the journal and the timed port."""
        now, clock = self.now, time.perf_counter_ns
        receive, check, reply = actor.receiveMessage, actor.gate.check, actor._reply
        write = journal.write_orders_now

        def timed_receive(msg, sender):
            t = clock()
            if "in" in now and "recv" not in now:
                now["recv"] = t
            elif "drain" in now and "answer_recv" not in now:
                now["answer_recv"] = t
            receive(msg, sender)
            if "send1" in now and "handled" not in now:
                now["handled"] = clock()

        def timed_check(record, quote):
            now["rules0"] = clock()
            try:
                return check(record, quote)
            finally:
                now["rules1"] = clock()

        commits = self.commits

        def timed_write(rows):
            now["commit0"] = t0 = clock()
            try:
                return write(rows)
            finally:
                now["commit1"] = t1 = clock()
                commits.append((len(rows), t1 - t0))

        def timed_reply(record, session, correlation):
            if "answer_recv" in now and "reply0" not in now:
                now["reply0"] = clock()
            reply(record, session, correlation)
            if "reply0" in now and "reply1" not in now:
                now["reply1"] = clock()

        actor.receiveMessage, actor.gate.check, actor._reply = timed_receive, timed_check, timed_reply
        journal.write_orders_now = timed_write
        port.stages = self

    def start(self, t_in: int, edge_ns: int, session_ns: int) -> None:
        """One order enters at ``t_in`` (its edge and session work timed beside the path)."""
        self.now.clear()
        self.now["in"] = t_in
        self.samples["edge_decode"].append(edge_ns)
        self.samples["session_encode"].append(session_ns)

    def finish(self, t_client: int, drain: int | None, socket_ns: int) -> None:
        """The reply reached the stand-in at ``t_client``; ``drain``: the answer's drain start."""
        now, samples = self.now, self.samples
        now.setdefault("drain", drain)
        now["client"] = t_client
        drain = now["drain"]
        pairs = {"hop_in": ("in", "recv"), "commit": ("commit0", "commit1"),
                 "to_send": ("commit1", "send0"), "send_order": ("send0", "send1"), "after_send": ("send1", "handled"),
                 "answer_hop": ("drain", "answer_recv"), "answer_apply": ("answer_recv", "reply0"),
                 "reply_encode": ("reply0", "reply1"), "reply_hop": ("reply1", "client")}
        if drain is None or any(now.get(k) is None for k in ("recv", "commit0", "send1", "answer_recv", "reply1")):
            return
        if "rules0" in now:   # the floor has no rules: its admit runs to the commit
            samples["admit"].append(now["rules0"] - now["recv"])
            samples["rules"].append(now["rules1"] - now["rules0"])
            samples["to_commit"].append(now["commit0"] - now["rules1"])
        else:
            samples["admit"].append(now["commit0"] - now["recv"])
        for key, (a, b) in pairs.items():
            if a is not None:
                samples[key].append(now[b] - now[a])
        samples["socket_write"].append(socket_ns)


@contextlib.contextmanager
def spinning():
    """One other Python thread spinning pure Python for the block's duration: it holds the GIL whenever another
    thread releases it, as vn.py's EventEngine or the simulator's feed thread does while busy."""
    stop = threading.Event()

    def spin() -> None:
        x = 0
        while not stop.is_set():
            x += 1

    spinner = threading.Thread(target=spin, name="bench.busy", daemon=True)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()


async def answer_floor(event_engine, main_engine, quotes, exchanges, orders: int, direct: bool = True) -> list[int]:
    """Time ``send_order`` → the answer (NOTTRADED) → a loop callback, ns: with ``direct``, handed over inside
    vn.py's ``put`` on the gateway's thread as the desk's order bridge takes it (transport/venue/event_engine.py
    direct handlers); else through vn.py's EventEngine dispatcher thread (the bridge's lane before 2026-12-05).

    The floor of any in-process path that waits for the exchange's answer (no actors, no journal, no
    bridge: measured before the order bridge is attached).
    """
    from vnpy.trader.constant import Direction, Offset, OrderType, Status
    from vnpy.trader.event import EVENT_ORDER
    from vnpy.trader.object import OrderRequest

    loop = asyncio.get_running_loop()
    answered: dict[str, asyncio.Future] = {}

    def on_order(event) -> None:   # the gateway's thread (direct) or vn.py's EventEngine thread
        order = event.data
        future = answered.get(order.reference)
        if future is not None and order.status != Status.SUBMITTING:
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(time.perf_counter_ns()))

    register, unregister = ((event_engine.register_direct, event_engine.unregister_direct) if direct
                            else (event_engine.register, event_engine.unregister))
    register(EVENT_ORDER, on_order)
    floor = []
    for n in range(orders):
        quote = quotes[n % len(quotes)]
        request = OrderRequest(quote.vt_symbol.partition(".")[0], exchanges[quote.vt_symbol], Direction.LONG,
                               OrderType.LIMIT, 1, quote.last_price - quote.price_tick * 30, Offset.OPEN,
                               f"floor-{int(direct)}-{n}")
        future = answered[request.reference] = loop.create_future()
        t0 = time.perf_counter_ns()
        main_engine.send_order(request, "SIM")
        floor.append(await asyncio.wait_for(future, 10) - t0)
        del answered[request.reference]
    unregister(EVENT_ORDER, on_order)
    return floor


class Harness:
    """One order path on the running loop: runtime, journal, the order tree of ``acct-01``, a real vn.py
    MainEngine with ``SimGateway`` and a fresh exchange venue, and the session stand-in ``client``.

    Attributes:
        replies: correlation id → future resolved (perf_counter_ns) by the reply at the stand-in.
        quotes: the seeded contracts' quotes, in contract order.
    """

    def __init__(self) -> None:
        self.replies: dict[int, asyncio.Future] = {}
        self.ids = itertools.count(1)
        self.overheads: list[int] = []
        """Per order timed by :meth:`one`: the desk's own share, ns (see the module doc)."""

    async def start(self, args, name: str, measure_floor: bool = False, floor: bool = False) -> None:
        """Build everything; with ``measure_floor`` time the answer floor first (before the bridge attaches);
        ``floor``: the irreducible path (no rule actors, the journal on tmpfs ``/dev/shm``)."""
        from transport.venue.event_engine import PromptEventEngine as EventEngine   # the desk's (stops at once)
        from vnpy.trader.engine import MainEngine

        from actors import ActorRuntime, ChildSpec, Supervisor, TickstageActor, start_root
        from actors.orders.config import AccountSpec, OrdersConfig
        from actors.orders.journal import OrderJournal
        from actors.orders.tree import order_path_children
        from actors.risk.limits import LimitStore
        from actors.risk.rules import rule_defaults
        from sim.exchange import ExchangeSettings, SimExchange
        from sim.gateway import SimGateway
        from transport.venue.vnpy_engine import without_offset_conversion
        from transport.venue.vnpy_home import restoring_cwd
        from transport.venue.vnpy_orders import OrderBridge

        market = build_market(40, 40, 400, SEED)
        replies = self.replies
        from transport.edge.limits import SocketLimits

        self.limits = SocketLimits()
        self.stages = stages = Stages()
        self.socket_ns = socket_ns = [0]
        self.reader_sock, writer_sock = socket.socketpair()
        self.reader_sock.setblocking(False)
        self.socket_transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol,
                                                                                      sock=writer_sock)
        transport = self.socket_transport
        reader_sock = self.reader_sock

        class Client(TickstageActor):
            """The session stand-in: resolves the future of each reply by its correlation id."""

            def _on_outbound(self, outbound, message, sender) -> None:
                import schemas

                arrived = time.perf_counter_ns()
                payload = outbound.payload
                t0 = time.perf_counter_ns()   # the session's socket write (a WebSocket header, then the frame)
                transport.writelines((b"\x82\x7e" + len(payload).to_bytes(2, "big"), payload))
                socket_ns[0] = time.perf_counter_ns() - t0
                try:
                    while reader_sock.recv(65536):
                        pass
                except BlockingIOError:
                    pass
                with schemas.stream.ServerMessage.from_bytes(payload) as reply:
                    future = replies.pop(reply.envelope.correlationId, None)
                if future is not None:
                    future.set_result(arrived)

        self.runtime = runtime = ActorRuntime()
        self.tmpfs = Path(tempfile.mkdtemp(prefix="tickstage-bench-floor-", dir="/dev/shm")) if floor else None
        state = self.tmpfs or Path(os.environ["TICKSTAGE_STATE_DIR"])
        self.journal = journal = OrderJournal.open(state / f"{name}.sqlite3")
        journal.start(runtime.loop)
        config = OrdersConfig(accounts=(AccountSpec("acct-01", "bench"),), account_limits={"acct-01": HIGH},
                              **({"rules": (), "global_rules": ()} if floor else {}))
        self.config = config
        bridge = OrderBridge(runtime, config, journal)
        self.port = port = _TimedPort(bridge)
        self.event_engine = event_engine = EventEngine()
        with restoring_cwd():
            self.main_engine = main_engine = MainEngine(event_engine)
        if not args.vnpy_offset_converter:
            without_offset_conversion(main_engine)   # as the desk does (transport/venue/vnpy_engine.py)
        gateway = main_engine.add_gateway(SimGateway, "SIM")
        gateway.exchange = SimExchange.venue(f"{name}-{os.getpid()}")
        gateway.exchange.configure(ExchangeSettings(venue=gateway.exchange.name, price_limit_percent=50))
        for contract in market.contracts:
            gateway.exchange.on_contract(contract)
            gateway.on_contract(dataclasses.replace(contract, gateway_name="SIM"))   # vn.py's OmsEngine too
        for tick in market.ticks:
            gateway.exchange.on_tick(tick)
        gateway.exchange.attach(gateway)
        self.exchange = gateway.exchange
        self.quotes = quotes = list(_Market(market).quotes.values())
        self.exchanges = exchanges = {c.vt_symbol: c.exchange for c in market.contracts}
        self.floor: list[int] = []
        self.floor_dispatcher: list[int] = []
        self.floor_busy: dict[bool, list[int]] = {}
        if measure_floor:
            for direct in (True, False):
                await answer_floor(event_engine, main_engine, quotes, exchanges, args.warmup, direct)
            self.floor = await answer_floor(event_engine, main_engine, quotes, exchanges, args.orders, True)
            self.floor_dispatcher = await answer_floor(event_engine, main_engine, quotes, exchanges, args.orders,
                                                       False)
            with spinning():   # the same two lanes with another Python thread busy (the market's feed, say)
                for direct in (True, False):
                    self.floor_busy[direct] = await answer_floor(event_engine, main_engine, quotes, exchanges,
                                                                 min(args.orders, 500), direct)
        bridge.attach(event_engine, main_engine)
        children = [ChildSpec("client", Client, {})] + order_path_children(
            config, journal=journal, limits=LimitStore(config, rule_defaults(), journal), port=port,
            market=_Market(market))
        start_root(runtime, Supervisor, {"children": children})
        await runtime.wait_idle()
        self.rules = len(children[2].args["children"])
        stages.attach(self.order_actor(), journal, port)

    def client_frame(self, n: int, member: str = "submitOrder") -> bytes:
        """Return the ClientMessage of order ``b-<n>`` (a limit buy resting 2..21 ticks below the bid), or of its
        cancel (``member="cancelOrder"``)."""
        from transport.edge.client import client_message

        if member == "cancelOrder":
            return client_message(n, cancelOrder={"clientOrderId": f"b-{n}", "account": "acct-01"})
        quote = self.quotes[n % len(self.quotes)]
        price = round((quote.last_price - quote.price_tick * (2 + n % 20)) / quote.price_tick) * quote.price_tick
        return client_message(n, submitOrder={"clientOrderId": f"b-{n}", "account": "acct-01",
                                              "vtSymbol": quote.vt_symbol, "direction": "long", "offset": "open",
                                              "orderType": "limit", "price": price, "volumeLots": 1})

    def command(self, n: int, member: str = "submitOrder") -> bytes:
        """Return the ``orderCommand`` of order ``b-<n>``, or of its cancel (``member="cancelOrder"``)."""
        from actors.orders.codec import encode_order_command

        return encode_order_command("client", "bench", self.client_frame(n, member), "client")

    async def one(self) -> tuple[int, int, int]:
        """Submit one order and wait for its reply; return (n, submit → reply ns, submit → send_order ns)."""
        n = next(self.ids)
        edge_ns, session_ns, payload = self.command_timed(n)
        future = self.runtime.loop.create_future()
        self.replies[n] = future
        started = time.perf_counter_ns()
        self.stages.start(started, edge_ns, session_ns)
        self.runtime.tell_path("orders/acct-01", payload)
        done = await asyncio.wait_for(future, 10)
        sent = self.port.sent_at[f"b-{n}"]
        answered = self.port.answered_at(sent)
        self.stages.finish(done, answered, self.socket_ns[0])
        if answered is not None and answered <= done:  # the desk's own share: in → send_order, answer → reply
            self.overheads.append((sent - started) + (done - answered))
        return n, done - started, sent - started

    def command_timed(self, n: int) -> tuple[int, int, bytes]:
        """Return (edge ns, session ns, the ``orderCommand``) of order ``b-<n>``: the client frame decoded and
        checked as the socket gateway does, then wrapped as the session does, each timed."""
        from actors import encode_actor_message
        from actors.orders.codec import encode_order_command
        from transport.edge.inbound import order_target, read_client_frame

        data = self.client_frame(n)
        t0 = time.perf_counter_ns()
        frame = read_client_frame(data, self.limits)
        order_target(data, frame, self.limits)
        encode_actor_message("client", data, source="ws", correlation_id=n)
        t1 = time.perf_counter_ns()
        payload = encode_order_command("client", "bench", data, "client", n)
        return t1 - t0, time.perf_counter_ns() - t1, payload

    async def burst(self, count: int) -> float:
        """Submit ``count`` orders at once and wait for every reply; return orders/s."""
        burst = [(n, self.command(n)) for n in (next(self.ids) for _ in range(count))]
        futures = []
        started = time.perf_counter_ns()
        for n, payload in burst:
            futures.append(self.replies.setdefault(n, self.runtime.loop.create_future()))
            self.runtime.tell_path("orders/acct-01", payload)
        await asyncio.wait_for(asyncio.gather(*futures), 300)
        return count / ((time.perf_counter_ns() - started) / 1e9)

    def order_actor(self):
        """The live OrderActor of ``acct-01`` (to read its records; the bench only)."""
        return self.runtime.registry.entry("orders/acct-01").instance

    def open_orders(self) -> int:
        """Orders of ``acct-01`` not final now."""
        return sum(1 for r in self.order_actor().orders.values() if not r.final)

    async def cancel(self, n: int) -> None:
        """Cancel order ``b-<n>`` and wait (bounded) for the ``cancelReply`` (the cancel itself completes
        through vn.py in the background, as the next orders go)."""
        future = self.runtime.loop.create_future()
        self.replies[n] = future
        self.runtime.tell_path("orders/acct-01", self.command(n, "cancelOrder"))
        await asyncio.wait_for(future, 10)

    async def cancels_done(self, timeout_s: float = 30.0) -> None:
        """Wait (bounded) until every cancel sent is final."""
        async with asyncio.timeout(timeout_s):
            while any(r.cancel_requested and not r.final for r in self.order_actor().orders.values()):
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Shut the runtime, the journal and vn.py down."""
        from transport.venue.vnpy_home import restoring_cwd

        self.runtime.shutdown()
        self.socket_transport.close()
        self.reader_sock.close()
        await asyncio.to_thread(self.journal.close)
        with restoring_cwd():
            await asyncio.to_thread(self.main_engine.close)
        if self.tmpfs is not None:   # the floor's journal: tmpfs is memory, leave none behind
            shutil.rmtree(self.tmpfs, ignore_errors=True)
