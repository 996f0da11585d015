"""The desk in one process: actor tree, vn.py MainEngine + simulator, aiohttp app.

:class:`Desk` is what ``tickstage run`` starts (and what tests start on
loopback): the runtime on the running (uvloop) loop, the root supervisor
with market-source/market/sessions, the vn.py bridge, a real vn.py ``MainEngine``
with the simulator gateway (replay or synthetic), and the HTTP server that
serves the UI, ``/ws``, ``/api/groups``, ``/healthz``, the per-user preferences at ``/api/prefs``
(transport/process/prefs_api.py) and the admin API
(``/admin/*``, ``/metrics``, the ops console at ``/ops``; transport/admin/api.py).
The order path (issue 3): the order journal (SQLite), the risk limits, the
order bridge and the ``accounts``/``risk``/``orders`` subtrees, with
``/admin/limits`` and ``/admin/kill-switch`` (transport/admin/risk_admin.py). Per-session flight
recordings at ``/admin/recordings`` (transport/admin/flight_api.py). Sign-in: the
embedded issuer's ``/login`` and ``/auth/*`` (transport/signin/auth_api.py).
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from actors import ROOT_PATH, ActorRuntime, spawn, start_root
from actors.orders.config import AccountSpec, OrdersConfig
from actors.orders.journal import OrderJournal
from actors.orders.tree import order_path_children
from actors.risk.limits import LimitStore
from actors.risk.rules import rule_defaults
from actors.root import RootSupervisor, desk_children
from transport.admin.api import AdminApi
from transport.admin.flight_api import FlightApi
from transport.signin.auth import AuthConfig, Principal, TokenVerifier, principal_from_header
from transport.signin.auth_api import AuthApi
from transport.signin.issuer import IssuerConfig, development_secret
from transport.errors import AuthError, ConfigError
from transport.cluster.nats_bus import NatsBus
from transport.cluster.nats_orders import OrderHost
from transport.cluster.nats_detail import TickDetailEdgeLink, TickDetailHost, tick_detail_link
from transport.cluster.nats_sockets import ClusterSocketLedger
from transport.cluster.nats_watchlists import WatchlistEdgeLink, WatchlistHost, watchlist_link
from transport.cluster.roles import VNPY_ROLES, RoleLinks, canonical_role, check_role
from transport.venue.vnpy_bridge import VnpyBridge
from transport.admin.risk_admin import RiskAdminApi
from transport.process.prefs_api import PrefsApi
from transport.process.prefs_store import PrefsStore
from transport.process.state import StateFolder
from transport.venue.connection import READY_STATE
from transport.venue.gateways import GatewayConfig, simulator_gateway
from transport.venue.vnpy_engine import DEFAULT_GATEWAY, VnpyEngine, check_gateway_spec
from transport.venue.vnpy_orders import OrderBridge
from transport.venue.vnpy_algos import DeskAlgos
from transport.edge.ws import SocketLimits, SocketServer

UI_DIR = Path(__file__).resolve().parents[2] / "ui"
_log = structlog.get_logger("transport.process.app")

GC_FREEZE_AFTER_S = 5.0
"""The heap is frozen (``gc.freeze``) when the desk has started and again this long after, once the
gateway's contracts have arrived, seconds. A full collection then skips the startup objects: with
20,000 contracts a gen-2 collection took ~100 ms of CPU on the loop (seconds of wall time on a loaded
machine), and 0.3 ms after the freeze (perf/README.md, "Where the time goes"). Frozen objects are
still freed by reference counting; only cyclic garbage present at the freeze stays."""
GROUPS_WARMUP_S = 10.0
"""For this long after the desk starts, and until each configured gateway is ``contractsReady`` plus
:data:`GROUPS_SETTLE_S`, a subscribe to a group not created yet is held, not refused (:meth:`Desk.groups_warming`):
groups appear as the venue's contracts arrive (an edge node: as the aggregators announce them), while browsers
reconnecting to a restarted desk resubscribe at once. Seconds."""
GROUPS_SETTLE_S = 2.0
"""After the last gateway became ``contractsReady``, the bridge's next drains create its groups, seconds."""
STOP_SETTLE_S = 2.0
"""At stop, the longest the desk waits for the actors to go idle between closing its sockets and closing vn.py."""


@dataclass(frozen=True)
class DeskConfig:
    """Everything ``tickstage run`` can set (CLI flags override the TOML file).

    Attributes:
        host: listen address (loopback by default).
        port: listen port; 0 picks a free one.
        replay: recorded CTP CSV(.gz) files to replay; empty → synthetic market.
        speed: replay speed, × real time (0: as fast as possible).
        contracts: synthetic market size, contracts.
        rate: synthetic market rate, ticks/s.
        seed: synthetic market seed.
        jwt_secret: HS256 secret; empty → development mode: the secret kept in
            ``<state_dir>/jwt-secret`` (mode 0600), generated on first use.
        issuer: the embedded issuer (``[issuer]``: users file, token lifetimes, sign-in lock-out).
        state_dir: the desk's state folder; empty → ``$TICKSTAGE_STATE_DIR`` or ``~/.tickstage``.
        auth: token verification: algorithm, RS256 public key file, iss, aud.
        watchlists: watchlist group → vt_symbols.
        market: GroupActor args (window_ms, wide_window_ms, snapshot_interval_s, max_rows).
        limits: socket limits.
        progress_interval_s: how often replay progress is logged (0: never).
        role: ``"all"`` (vn.py, aggregators and sessions here; with ``nats``
            also publishes its groups), ``"edge"`` (sessions only; groups
            and orders over NATS), ``"aggregator"`` (GroupActors fed by
            ``md.batch.*``) or ``"venue-host"`` (vn.py and the order path;
            publishes ticks, serves ``order.submit.*``): transport/cluster/roles.py.
            The names before 0.2.0, ``"gateway"`` and ``"gateway-host"``, are
            mapped to ``"edge"`` and ``"venue-host"`` with a ``DeprecationWarning``.
        nats: NATS seed URLs; empty: no NATS (the in-process default).
        groups: an aggregator's shard of groups; empty: every group.
        sim: more simulator gateway settings (sim/settings.py keys: ``peak``,
            ``instruments``, ``copies``, ``shift_s``, ``max_gap_s``, ``record``;
            sim/exchange.py keys: ``venue``, ``order_latency_ms``,
            ``order_no_answer_probability`` ...).
        gateway: deprecated (until 0.3.0; use ``gateways``): the class of the one gateway ``SIM``,
            ``module:Class``; default the simulator's (``sim.gateway:SimGateway``).
        gateways: the vn.py gateways (``[venue.gateways.<name>]``, transport/venue/gateways.py); empty: the
            simulator as ``SIM`` (of class ``gateway``). Every account's ``real`` names one of them.
        orders: accounts, risk rules and limits, journal, order timeouts
            (``[orders]``, ``[accounts]``, ``[risk]``).
        state_dir: the desk's state folder (journal per trading day, admin audit;
            transport/process/state.py); empty on the simulator: a fresh temporary folder,
            removed at stop.
        http_header_timeout_s: longest an HTTP connection may take to send a complete
            request (and stay idle between requests), seconds; then the server closes it
            (aiohttp's ``keepalive_timeout``, which also runs from the connection's start).
    """

    host: str = "127.0.0.1"
    port: int = 8700
    replay: tuple[str, ...] = ()
    speed: float = 20.0
    contracts: int = 2000
    rate: float = 2000.0
    seed: int = 7
    jwt_secret: str = ""
    auth: AuthConfig = field(default_factory=AuthConfig)
    watchlists: dict[str, list[str]] = field(default_factory=dict)
    market: dict[str, Any] = field(default_factory=dict)
    limits: SocketLimits = field(default_factory=SocketLimits)
    progress_interval_s: float = 5.0
    role: str = "all"
    nats: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    sim: dict[str, Any] = field(default_factory=dict)
    gateway: str = DEFAULT_GATEWAY
    gateways: tuple[GatewayConfig, ...] = ()
    orders: OrdersConfig = field(default_factory=lambda: DEVELOPMENT_ORDERS)
    issuer: IssuerConfig = field(default_factory=IssuerConfig)
    state_dir: str = ""
    http_header_timeout_s: float = 15.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", canonical_role(self.role))   # deprecated role names, until 0.3.0
        if not self.http_header_timeout_s > 0:
            raise ConfigError(f"http_header_timeout_s must be > 0, not {self.http_header_timeout_s!r}")
        check_gateway_spec(self.gateway)
        names = {gateway.name for gateway in self.venue_gateways()}
        for spec in self.orders.accounts:
            missing = [name for name in spec.real if name not in names]
            if missing:
                raise ConfigError(f"account {spec.account}: real = {list(spec.real)} names gateways not configured "
                                  f"({missing}); configured: {sorted(names)}")

    def venue_gateways(self) -> tuple[GatewayConfig, ...]:
        """Return the gateways the desk connects: ``gateways``, else the simulator as ``SIM``."""
        return self.gateways or (simulator_gateway(self.gateway),)

    @property
    def simulated(self) -> bool:
        """True: the desk trades on the simulator only (every gateway class lives in the ``sim`` package)."""
        return all(gateway.simulated for gateway in self.venue_gateways())

    def group_args(self) -> dict[str, Any]:
        """Return every GroupActor's args: the ``[market]`` table over the venue's defaults.

        Liveness ``closed``/``preOpen`` from the contracts' trading sessions (actors/market/group.py) reads
        a replay's clock (``exchange_clock = "ticks"``), a live venue's wall clock (``"wall"``), and is off
        on the synthetic market (``product_sessions = false``: it trades at any hour) and on a replay whose
        pauses are cut (``[sim] max_gap_s``: its ticks' times are moved earlier by every cut, so they are no
        exchange clock; a tape from 07:03 with its 2 h pre-open pause cut reads 07:04 at the 09:15 open).
        ``[market]`` keys override these defaults.
        """
        synthetic = self.simulated and not self.replay
        compressed = bool(self.replay) and float(self.sim.get("max_gap_s") or 0.0) > 0.0
        return {"product_sessions": not synthetic and not compressed,
                "exchange_clock": "ticks" if self.replay else "wall", **self.market}

    def gateway_setting(self) -> dict[str, Any]:
        """Return the simulator gateway's vn.py connect setting."""
        return {"replay": self.replay[0] if self.replay else "", "speed": self.speed,
                "contracts": self.contracts, "rate": self.rate, "seed": self.seed, **self.sim,
                **self.orders.sim}


DEVELOPMENT_ORDERS = OrdersConfig(
    accounts=(AccountSpec("acct-01", "trader1", capital=1_000_000.0),
              AccountSpec("acct-02", "trader2", capital=1_000_000.0)),
    limits={"trading_hours": {"product_sessions": 0.0}})
"""The order path without an ``[accounts]`` table: two simulator accounts of 1,000,000 each; trading hours
by the default window (all day), not the products' sessions, since a replayed day runs at any time of day."""


class Desk:
    """One tickstage process: start with :meth:`start`, stop with :meth:`stop`.

    Args:
        config: the desk's configuration.
    """

    def __init__(self, config: DeskConfig) -> None:
        self.config = config
        self.state: StateFolder | None = StateFolder.open(config.state_dir, config.simulated)
        self.state_dir: Path = self.state.path
        self.generated_secret = not config.jwt_secret and config.auth.algorithm == "HS256"
        self.jwt_secret = config.jwt_secret or (
            development_secret(self.state_dir) if self.generated_secret else secrets.token_urlsafe(32))
        self.verifier = TokenVerifier(config.auth, self.jwt_secret)
        self.runtime: ActorRuntime | None = None
        self.bridge: VnpyBridge | None = None
        self.engine: VnpyEngine | None = None
        self._started_s = time.monotonic()
        self.sockets: SocketServer | None = None
        self.admin: AdminApi | None = None
        self.faults: Any = None
        """The simulator's fault API (:class:`transport.process.faults_api.FaultsApi`), on a simulated desk."""
        self.flight: FlightApi | None = None
        self.auth_api: AuthApi | None = None
        self.journal: OrderJournal | None = None
        self.limit_store: LimitStore | None = None
        self.order_bridge: OrderBridge | None = None
        self.algos: DeskAlgos | None = None
        self._runner: web.AppRunner | None = None
        self._progress_task: asyncio.Task | None = None
        self._gc_freeze: asyncio.TimerHandle | None = None
        self.bus: NatsBus | None = None
        self.links: RoleLinks | None = None
        self.watchlist_link: WatchlistHost | WatchlistEdgeLink | None = None
        self.detail_link: TickDetailHost | TickDetailEdgeLink | None = None
        self.socket_ledger: ClusterSocketLedger | None = None
        """The cluster-wide count of each user's sockets, on a NATS node with sockets."""
        self.port = 0
        check_role(config.role, config.nats, config.groups)

    @property
    def url(self) -> str:
        """``http://host:port/`` of the running desk."""
        return f"http://{self.config.host}:{self.port}/"

    async def start(self) -> None:
        """Start actors, vn.py and the HTTP server (loop thread).

        Raises:
            ConfigError: no state folder for a desk on a real venue, or it cannot be created.
        """
        self._started_s = time.monotonic()
        if self.state is None:   # started again after a stop
            self.state = StateFolder.open(self.config.state_dir, self.config.simulated)
            self.state_dir = self.state.path
        self.runtime = ActorRuntime()
        if self.config.nats:
            self.bus = NatsBus(self.config.nats, name=f"tickstage-{self.config.role}")
            await self.bus.connect()
        self.links = RoleLinks(self.runtime, self.bus, self.config.role, groups=self.config.groups,
                               group_args=self.config.group_args(),
                               accounts=tuple(spec.account for spec in self.config.orders.accounts),
                               order_timeout_s=self.config.orders.answer_timeout_s + 1.0,
                               venue_lease_ttl_s=self.config.orders.venue_lease_ttl_s,
                               stream_max_age_s=self.config.orders.stream_max_age_s)
        order_path = self.links.order_path()
        if self.config.role in VNPY_ROLES:
            self.engine = VnpyEngine(None if self.state.temporary else self.state.path,
                                     self.config.venue_gateways())
            self.bridge = VnpyBridge(self.runtime, self.config.watchlists, self.config.group_args(),
                                     sink=self.links.tick_sink())
            order_path = await self._start_order_path()
        start_root(self.runtime, RootSupervisor, {"children": desk_children(
            self.bridge or self.links.market_source(), order_path=order_path, tick_detail=self.bridge is not None)})
        await self.runtime.wait_idle()
        if self.bridge is not None:
            self.algos = DeskAlgos(self.runtime, self.config.orders, self.journal)
            self.algos.start(lambda spec: spawn(self.runtime, ROOT_PATH, spec))
        elif (algo_host := self.links.algo_host_spec()) is not None:   # an edge: the engine is on the venue-host
            spawn(self.runtime, ROOT_PATH, algo_host)
        await self.links.start(self.bridge, self.algos)
        if isinstance(self.links.orders, OrderHost):  # status and risk summaries on acct.*.1s.<trader>
            self.links.orders.set_traders({spec.account: spec.trader for spec in self.config.orders.accounts})
        self.watchlist_link = watchlist_link(self.runtime, self.bus, self.config.role)
        served = self.links.active_services   # a venue-host with a standby: only the active one applies edits
        if isinstance(self.watchlist_link, WatchlistHost) and served is not None:
            await self.watchlist_link.start(serve=False)
            await served.add(self.watchlist_link)
        elif self.watchlist_link is not None:   # watchlists edited from edge nodes, applied on the venue-host
            await self.watchlist_link.start()
        self.detail_link = tick_detail_link(self.runtime, self.bus, self.config.role, self.bridge)
        if isinstance(self.detail_link, TickDetailHost) and served is not None:   # only the active host serves
            await self.detail_link.start(serve=False)
            await served.add(self.detail_link)
        elif self.detail_link is not None:   # contract detail on edge nodes, md.tick.<ex>.<sym> from the venue-host
            await self.detail_link.start()
        if self.bus is not None and self.config.role in ("all", "edge"):  # sockets per user across edge nodes
            self.socket_ledger = ClusterSocketLedger(self.bus, self.config.limits.socket_lease_ttl_s,
                                                     replicas=3 if len(self.bus.servers) >= 3 else 1)
            await self.socket_ledger.start()
        self.sockets = SocketServer(self.runtime, self.verifier, self.config.limits, ledger=self.socket_ledger,
                                    groups_warming=self.groups_warming)
        app = web.Application()
        app.router.add_get("/ws", self.sockets.handle)
        app.on_shutdown.append(self._close_sockets)
        app.router.add_get("/api/groups", self._groups)
        app.router.add_get("/api/order-defaults", self._order_defaults)
        app.router.add_get("/healthz", self._healthz)
        PrefsApi(self, PrefsStore(self.state.prefs_path())).add_routes(app)
        self.admin = AdminApi(self)
        self.admin.add_routes(app)
        if self.config.simulated:
            from transport.process.faults_api import FaultsApi   # drives the simulator's harness

            self.faults = FaultsApi(self)
            self.faults.add_routes(app)
        self.flight = FlightApi(self)
        self.flight.add_routes(app)
        if self.limit_store is not None:
            RiskAdminApi(self).add_routes(app)
        self.auth_api = AuthApi(self, self.config.issuer, self.state_dir, enabled=self.config.auth.algorithm == "HS256")
        await self.auth_api.start()
        self.auth_api.add_routes(app)
        app.router.add_get("/ops", self._ops)
        app.router.add_get("/", self._index)
        app.router.add_static("/", UI_DIR, show_index=False)
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=self.config.http_header_timeout_s)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self.bridge is not None:
            self.engine.start(self.bridge, self.config.gateway_setting(), also=(self.order_bridge, self.algos))
        if self.config.progress_interval_s > 0:
            self._progress_task = asyncio.create_task(self._log_progress())
        gc.freeze()  # see GC_FREEZE_AFTER_S
        self._gc_freeze = asyncio.get_running_loop().call_later(GC_FREEZE_AFTER_S, gc.freeze)
        _log.info("desk_started", url=self.url, role=self.config.role,
                  source=self.config.gateway_setting()["replay"] or "synthetic")

    async def _start_order_path(self) -> list:
        orders = self.config.orders
        path = orders.journal_path or self.state.journal_path()
        self.journal = await asyncio.to_thread(OrderJournal.open, path, orders.synchronous)
        _log.info("journal_opened", path=str(path), state_dir=str(self.state.path), temporary=self.state.temporary)
        self.journal.start(self.runtime.loop)
        self.limit_store = LimitStore(orders, rule_defaults(), self.journal)
        self.order_bridge = OrderBridge(self.runtime, orders, self.journal,
                                        venues=self.engine.connections if self.engine else None)
        journal, fence = self.links.order_journal(self.journal)   # a venue-host: replicated, fenced (issue 16)
        return order_path_children(orders, journal=journal, limits=self.limit_store, port=self.order_bridge,
                                   market=self.bridge, venues=self.engine.connections if self.engine else None,
                                   fence=fence)

    def groups(self) -> dict[str, int]:
        """Return group name → number of instruments, local or learnt from NATS."""
        remote = self.links.groups() if self.links else None
        if remote is not None:
            return remote
        return self.bridge.groups() if self.bridge is not None else {}

    async def stop(self) -> None:
        """Stop vn.py, the HTTP server and the actors. Idempotent."""
        if self.links:   # a venue-host gives its lease up first: the standby takes over while this one stops
            await self.links.release_venue()
        if self._progress_task:
            self._progress_task.cancel()
        if self._gc_freeze:
            self._gc_freeze.cancel()
        if self._runner:   # inputs first: every socket gets 1001 (going away), no new command comes in
            await self._runner.cleanup()
            self._runner = None
        if self.runtime and self.engine:
            await self._settle_commands()   # what the sockets sent reaches the venue before it closes
        if self.engine:
            await asyncio.to_thread(self.engine.close)
            self.engine = None
        if self.admin:
            self.admin.close()
            await self.admin.wait_closed()
        if self.auth_api:
            self.auth_api.close()
        if self.faults:
            await self.faults.close()
        if self.links:
            await self.links.close()
        if self.watchlist_link:
            await self.watchlist_link.close()
            self.watchlist_link = None
        if self.detail_link:
            await self.detail_link.close()
            self.detail_link = None
        if self.socket_ledger:
            await self.socket_ledger.close()
            self.socket_ledger = None
        if self.bus:
            await self.bus.close()
            self.bus = None
        if self.runtime:
            self.runtime.shutdown()
        if self.journal:
            await asyncio.to_thread(self.journal.close)
            self.journal = None
        if self.state:
            await asyncio.to_thread(self.state.close)
            self.state = None
        _log.info("desk_stopped")

    def groups_warming(self) -> bool:
        """True while the desk may still create groups (:data:`GROUPS_WARMUP_S`): sessions hold a subscribe to
        a group not there yet instead of refusing it (loop thread)."""
        if time.monotonic() - self._started_s < GROUPS_WARMUP_S:
            return True
        if self.engine is None:
            return False
        now_ns = time.time_ns()
        for status in self.engine.connections.statuses():
            if status.state != READY_STATE or now_ns - status.since_ns < GROUPS_SETTLE_S * 1e9:
                return True
        return False

    async def _settle_commands(self) -> None:
        """Let the commands the sockets sent before they closed run through the actors while the venue is
        still open (bounded by :data:`STOP_SETTLE_S`): otherwise an order admitted after vn.py closed is
        refused as "venue disconnected", a definitive answer to an order a restarted desk would have sent."""
        try:
            await self.runtime.wait_idle(timeout_s=STOP_SETTLE_S)
        except TimeoutError:
            _log.warning("stop_settle_timed_out", timeout_s=STOP_SETTLE_S)

    async def _close_sockets(self, app: web.Application) -> None:
        """aiohttp ``on_shutdown``: every client socket gets 1001 (going away) before the server stops."""
        if self.sockets is not None:
            self.sockets.close_all()

    async def _log_progress(self) -> None:
        while True:
            await asyncio.sleep(self.config.progress_interval_s)
            progress = self.engine.progress() if self.engine else None
            if progress is not None:
                _log.info("replay_progress", **progress)

    # -- HTTP ----------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(UI_DIR / "index.html")

    async def _ops(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(UI_DIR / "ops.html")

    def principal(self, request: web.Request) -> Principal:
        """Return who the request's ``Authorization: Bearer <JWT>`` speaks for.

        Raises:
            AuthError: no bearer token, or the token is refused (answer 401 with ``exc.code``).
        """
        return principal_from_header(self.verifier, request.headers.get("Authorization", ""))

    async def _groups(self, request: web.Request) -> web.Response:
        try:
            principal = self.principal(request)
        except AuthError as exc:
            return web.json_response({"error": exc.code}, status=401)
        groups = sorted((n, c) for n, c in self.groups().items() if principal.may_list_group(n))
        return web.json_response({"groups": [{"name": n, "instruments": c} for n, c in groups],
                                  "watchlist": principal.watchlist})

    async def _order_defaults(self, request: web.Request) -> web.Response:
        """``{"defaultLots": {vt_symbol or product: lots}}``: the order ticket's default sizes ([orders] default_lots)."""
        try:
            self.principal(request)
        except AuthError as exc:
            return web.json_response({"error": exc.code}, status=401)
        return web.json_response({"defaultLots": dict(self.config.orders.default_lots)})

    async def _healthz(self, request: web.Request) -> web.Response:
        root = self.runtime.registry.get(ROOT_PATH) if self.runtime else None
        healthy = root is not None and self.runtime.root_failure is None
        return web.json_response({"ok": healthy}, status=200 if healthy else 503)


__all__ = ["DEVELOPMENT_ORDERS", "Desk", "DeskConfig", "UI_DIR"]
