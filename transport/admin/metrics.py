"""Prometheus text metrics of a desk (``GET /metrics``), read from ``statistics()`` at scrape time.

Nothing on the hot path calls a metric: :class:`DeskCollector` is a custom
prometheus-client collector that, when scraped, walks the registry and
turns each actor's frozen :class:`~actors.ActorStatistics`, the runtime's,
the socket server's and the vn.py bridge's counters, and the loop lag
into metric families. Each desk has its own ``CollectorRegistry`` (tests
run several desks in one process; the global registry is never touched).

Families (labels ``path`` and ``kind`` on per-actor series):

* ``tickstage_actor_messages_total``, ``tickstage_actor_unknown_messages_total``,
  ``tickstage_actor_restarts_total``, ``tickstage_actor_mailbox_messages``,
  ``tickstage_actor_messages_per_second{window="1s"|"1m"}``,
  ``tickstage_actor_handler_seconds_total``,
  ``tickstage_actor_handler_seconds{quantile="0.5"|"0.99"}``,
  ``tickstage_actor_state{state}`` (1 for the current state);
* ``tickstage_group_liveness{group, state}`` (1 for each market group's current
  liveness, 0 for the other states: actors/market/liveness.py ``group_liveness``);
* ``tickstage_group_*`` (frames, snapshots, rows, bytes, deferred rows,
  frames over budget, subscribers, viewports, viewport rows) and ``tickstage_session_*`` (frames and
  bytes sent, conflated deltas, snapshots requested, queued bytes, stale
  groups);
* ``tickstage_runtime_*`` (pending, delivered, pumps, slices cut, asks, ask
  timeouts, timers, dropped, poison), ``tickstage_ws_*``,
  ``tickstage_bridge_*``, ``tickstage_root_failed``, ``tickstage_algos_*`` (jobs, started, refused children,
  progress sent, algos failed: stopped because they raised, handler failures);
* ``tickstage_loop_lag_seconds{quantile="0.5"|"0.99"|"1"}`` over the last
  minute, from :class:`LoopLagMonitor`;
* per account (label ``account``), from each order actor's statistics, which
  count the order events the account's traders were sent
  (actors/orders/tally.py): ``tickstage_account_orders_submitted_total``
  (new client order ids), ``..._orders_accepted_total``,
  ``..._orders_rejected_total{rule}`` (the rule the rejection names),
  ``..._fills_total``, ``..._filled_lots_total`` (lots),
  ``..._orders_cancelled_total``, ``..._orders_outcome_unknown_total``;
* per risk rule instance (labels ``rule``, ``scope``: account or ``global``):
  ``tickstage_risk_checks_total``, ``tickstage_risk_refusals_total``;
* per vn.py gateway (label ``gateway``): ``tickstage_venue_connected`` (1
  connected, 0 not) and ``tickstage_venue_state{state}`` (1 for the current
  state: connected, marketDataDown, disconnected, unknown).

Order and rule counters start at zero with each actor incarnation (a restart
shows as a counter reset, which Prometheus' ``rate()`` handles).
* latency per hop (issue 14): ``tickstage_exchange_clock_skew_seconds{exchange}``
  (venue receive − exchange time, the bridge's rolling minimum: the exchange's
  clock against the desk's, shown rather than hidden) and
  ``tickstage_session_send_latency_seconds{path, kind, quantile="0.5"|"0.95"|"0.99"}``
  (frame built → written to that session's socket, its recent frames, desk clock).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from actors.market.liveness import SEVERITY, group_liveness
from transport.venue.vnpy_engine import VENUE_STATES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Content type of the Prometheus text exposition format 0.0.4."""

_ACTOR = ["path", "kind"]
_GROUP_COUNTERS = {
    "frames": "frames built",
    "snapshots": "snapshot frames built",
    "rows_sent": "rows put in frames",
    "bytes_built": "frame bytes built (encoded once per frame)",
    "rows_deferred": "rows left dirty for a later frame by the row budget",
    "frames_over_budget": "frames that hit the row budget",
    "budget_frames_cut_rows": "delta frames cut at the row budget",
    "budget_frames_cut_bytes": "delta frames cut by the byte budget",
    "budget_frames_cut_build_time": "delta frames cut by the build-time budget",
    "budget_widened_backlog": "flushes after which the window was wide: rows left dirty",
    "budget_widened_build_time": "flushes after which the window was wide: the frame took over its build budget",
    "budget_widened_loop_lag": "flushes after which the window was wide: the flush timer fired late",
    "budget_narrowed": "flushes that brought the window back to normal",
}
_SESSION_COUNTERS = {
    "frames_sent": "frames pushed to the socket",
    "bytes_sent": "bytes pushed to the socket",
    "conflated": "deltas dropped for a slow socket (conflation)",
    "snapshots_requested": "snapshots asked for after conflation",
}
_ORDER_COUNTERS = {
    "closed_unknown": "open orders closed because the venue did not know them (recovery)",
    "vt_orderid_collisions": "vt_orderids a venue gave to two open orders",
    "cancels_refused": "cancels refused: their vt_orderid named two open orders",
    "quarantined_resubmits": "submissions of a quarantined client order id (never sent)",
    "replaces": "replaceOrder operations started (retries not counted)",
    "replaces_filled_before": "replaces rejected because the replaced order filled before its cancel",
    "cancel_alls": "cancelAll requests taken (retries not counted)",
}
_RUNTIME_GAUGES = {"pending", "thespian_addresses"}
_JOURNAL_GAUGES = {"queued", "orders", "max_batch", "commit_ns_max", "quarantined"}
_WS_GAUGES = {"sockets_open", "users_connected"}
_BRIDGE_GAUGES = {"contracts", "groups"}


class LoopLagMonitor:
    """Measures how late the loop runs a periodic callback (loop thread).

    Every ``interval_s`` a ``call_later`` callback records ``now - due`` in
    a ring of the last ``window`` samples (one minute at the defaults).

    Args:
        loop: the loop to watch (default: the running one).
        interval_s: sampling period, seconds.
        window: samples kept.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, interval_s: float = 0.1,
                 window: int = 600) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.interval_s = interval_s
        self._samples = [0.0] * window
        self._recorded = 0
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start sampling. Idempotent."""
        if self._handle is None:
            self._due = self.loop.time() + self.interval_s
            self._handle = self.loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        """Stop sampling. Idempotent."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        now = self.loop.time()
        self._samples[self._recorded % len(self._samples)] = max(0.0, now - self._due)
        self._recorded += 1
        self._due = now + self.interval_s
        self._handle = self.loop.call_at(self._due, self._tick)

    def quantiles(self) -> dict[str, float]:
        """Return the lag p50, p99 and max over the kept samples, seconds (``{"0.5", "0.99", "1"}``)."""
        kept = sorted(self._samples[:min(self._recorded, len(self._samples))])
        if not kept:
            return {"0.5": 0.0, "0.99": 0.0, "1": 0.0}
        return {"0.5": kept[(len(kept) - 1) // 2], "0.99": kept[min(len(kept) - 1, len(kept) * 99 // 100)],
                "1": kept[-1]}


class DeskCollector(Collector):
    """Reads a desk's statistics when scraped (loop thread; never waits).

    Args:
        desk: a :class:`transport.process.app.Desk` (its ``runtime``, ``sockets``, ``bridge``).
        lag: the loop-lag monitor, or ``None``.
    """

    def __init__(self, desk: Any, lag: LoopLagMonitor | None = None) -> None:
        self.desk = desk
        self.lag = lag

    def collect(self):
        """Yield every metric family (called by ``generate_latest``)."""
        runtime = self.desk.runtime
        if runtime is None:
            return
        yield from self._actor_families(runtime)
        yield from _order_families(runtime)
        engine = getattr(self.desk, "engine", None)
        if engine is not None and hasattr(engine, "venue_states"):
            yield from _venue_families(engine.venue_states())
        connections = getattr(engine, "connections", None)
        if connections is not None:
            yield from _gateway_families(connections.statuses())
        yield from _dataclass_families("tickstage_runtime", runtime.statistics(), _RUNTIME_GAUGES,
                                       "actor runtime")
        failed = GaugeMetricFamily("tickstage_root_failed", "1 once the root supervisor gave up")
        failed.add_metric([], 0 if runtime.root_failure is None else 1)
        yield failed
        sockets = getattr(self.desk, "sockets", None)
        if sockets is not None and hasattr(sockets, "statistics"):
            stats = sockets.statistics()
            yield from _dataclass_families("tickstage_ws", stats, _WS_GAUGES, "socket server")
            refused = CounterMetricFamily("tickstage_ws_refusals", "socket refusals by error code",
                                          labels=["code"])
            for code, count in sorted(getattr(stats, "refused", {}).items()):
                refused.add_metric([code], count)
            yield refused
        journal = getattr(self.desk, "journal", None)
        if journal is not None:
            yield from _dataclass_families("tickstage_journal", journal.statistics(), _JOURNAL_GAUGES,
                                           "order journal")
        bridge = getattr(self.desk, "bridge", None)
        if bridge is not None:
            yield from _dataclass_families("tickstage_bridge", bridge.statistics(), _BRIDGE_GAUGES,
                                           "vn.py bridge")
        algos = getattr(self.desk, "algos", None)
        if algos is not None:
            yield from _algo_families(algos.statistics())
        skew = getattr(bridge, "clock_skew", None)
        if skew is not None:
            family = GaugeMetricFamily("tickstage_exchange_clock_skew_seconds",
                                       "venue receive - exchange time of recent ticks (rolling minimum)",
                                       labels=["exchange"])
            for exchange, skew_ns in sorted(skew.skews_ns().items()):
                family.add_metric([exchange], skew_ns / 1e9)
            yield family
        if self.lag is not None:
            lag = GaugeMetricFamily("tickstage_loop_lag_seconds",
                                    "lateness of a periodic loop callback over the last minute",
                                    labels=["quantile"])
            for quantile, value in self.lag.quantiles().items():
                lag.add_metric([quantile], value)
            yield lag

    def _actor_families(self, runtime):
        messages = CounterMetricFamily("tickstage_actor_messages", "messages handled by this incarnation",
                                       labels=_ACTOR)
        unknown = CounterMetricFamily("tickstage_actor_unknown_messages",
                                      "messages refused (unknown member or undecodable)", labels=_ACTOR)
        restarts = CounterMetricFamily("tickstage_actor_restarts", "restarts of this path", labels=_ACTOR)
        mailbox = GaugeMetricFamily("tickstage_actor_mailbox_messages", "messages queued for the actor",
                                    labels=_ACTOR)
        rate = GaugeMetricFamily("tickstage_actor_messages_per_second", "messages handled per second",
                                 labels=[*_ACTOR, "window"])
        handler_total = CounterMetricFamily("tickstage_actor_handler_seconds", "time spent in handlers",
                                            labels=_ACTOR)
        handler = GaugeMetricFamily("tickstage_actor_handler_quantile_seconds",
                                    "handler time of the last 256 messages", labels=[*_ACTOR, "quantile"])
        state = GaugeMetricFamily("tickstage_actor_state", "1 for the actor's current lifecycle state",
                                  labels=[*_ACTOR, "state"])
        group = {name: CounterMetricFamily(f"tickstage_group_{name}", f"aggregator {doc}", labels=_ACTOR)
                 for name, doc in _GROUP_COUNTERS.items()}
        subscribers = GaugeMetricFamily("tickstage_group_subscribers", "sessions subscribed", labels=_ACTOR)
        viewports = GaugeMetricFamily("tickstage_group_viewports", "subscribed sessions whose client sent a viewport",
                                      labels=_ACTOR)
        viewport_rows = GaugeMetricFamily("tickstage_group_viewport_rows",
                                          "rows some client's viewport shows (kept first in a cut frame)",
                                          labels=_ACTOR)
        session = {name: CounterMetricFamily(f"tickstage_session_{name}", f"session {doc}", labels=_ACTOR)
                   for name, doc in _SESSION_COUNTERS.items()}
        queued = GaugeMetricFamily("tickstage_session_queued_bytes", "bytes queued for the socket",
                                   labels=_ACTOR)
        stale = GaugeMetricFamily("tickstage_session_stale_groups", "groups waiting for a snapshot",
                                  labels=_ACTOR)
        send_latency = GaugeMetricFamily("tickstage_session_send_latency_seconds",
                                         "frame built -> written to the socket, recent frames",
                                         labels=[*_ACTOR, "quantile"])
        liveness = GaugeMetricFamily("tickstage_group_liveness", "1 for the group's current liveness state",
                                     labels=["group", "state"])
        orders = {name: CounterMetricFamily(f"tickstage_orders_{name}", f"order actor {doc}", labels=_ACTOR)
                  for name, doc in _ORDER_COUNTERS.items()}
        quarantined = GaugeMetricFamily("tickstage_orders_quarantined",
                                        "client order ids whose journal row was quarantined", labels=_ACTOR)
        for entry in runtime.registry.entries():
            labels = [entry.path, entry.kind]
            current = group_liveness(entry)
            if current is not None:
                group_name = entry.path.rsplit("/", 1)[-1]
                for name in SEVERITY:
                    liveness.add_metric([group_name, name], 1 if name == current else 0)
            restarts.add_metric(labels, entry.restarts)
            state.add_metric([*labels, entry.state.value], 1)
            instance = entry.instance
            if instance is None or not hasattr(instance, "statistics"):
                continue
            stats = instance.statistics()
            messages.add_metric(labels, stats.messages)
            unknown.add_metric(labels, stats.unknown)
            mailbox.add_metric(labels, stats.mailbox)
            rate.add_metric([*labels, "1s"], stats.msgs_per_s_1s)
            rate.add_metric([*labels, "1m"], stats.msgs_per_s_1m)
            handler_total.add_metric(labels, stats.handler_ns_total / 1e9)
            handler.add_metric([*labels, "0.5"], stats.handler_ns_p50 / 1e9)
            handler.add_metric([*labels, "0.99"], stats.handler_ns_p99 / 1e9)
            extra = stats.extra
            if "frames_over_budget" in extra:
                for name, family in group.items():
                    family.add_metric(labels, extra.get(name, 0))
                subscribers.add_metric(labels, extra.get("subscribers", 0))
                viewports.add_metric(labels, extra.get("viewports", 0))
                viewport_rows.add_metric(labels, extra.get("viewport_rows", 0))
            elif "frames_sent" in extra:
                for name, family in session.items():
                    family.add_metric(labels, extra.get(name, 0))
                queued.add_metric(labels, extra.get("queued_bytes", 0))
                stale.add_metric(labels, len(extra.get("stale_groups", ())))
                if extra.get("send_latency_samples"):
                    for quantile, key in (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")):
                        send_latency.add_metric([*labels, quantile], extra[f"send_latency_{key}_ns"] / 1e9)
            elif "unknown_outcomes" in extra:
                for name, family in orders.items():
                    family.add_metric(labels, extra.get(name, 0))
                quarantined.add_metric(labels, extra.get("quarantined", 0))
        yield from (messages, unknown, restarts, mailbox, rate, handler_total, handler, state,
                    *group.values(), subscribers, viewports, viewport_rows, *session.values(), queued, stale, send_latency, liveness,
                    *orders.values(), quarantined)


def _order_families(runtime):
    """Yield the per-account order outcome and per-rule refusal families (see the module docstring)."""
    account = ["account"]
    submitted = CounterMetricFamily("tickstage_account_orders_submitted",
                                    "orders submitted: new client order ids", labels=account)
    accepted = CounterMetricFamily("tickstage_account_orders_accepted", "orders the exchange accepted",
                                   labels=account)
    rejected = CounterMetricFamily("tickstage_account_orders_rejected",
                                   "orders rejected, by the rule the rejection names", labels=[*account, "rule"])
    fills = CounterMetricFamily("tickstage_account_fills", "fills, deduplicated by vt_tradeid", labels=account)
    filled_lots = CounterMetricFamily("tickstage_account_filled_lots", "lots filled", labels=account)
    cancelled = CounterMetricFamily("tickstage_account_orders_cancelled", "orders that ended cancelled",
                                    labels=account)
    unknown = CounterMetricFamily("tickstage_account_orders_outcome_unknown", "orders made outcomeUnknown",
                                  labels=account)
    rule_labels = ["rule", "scope"]
    checks = CounterMetricFamily("tickstage_risk_checks", "orders checked by a rule instance", labels=rule_labels)
    refusals = CounterMetricFamily("tickstage_risk_refusals", "orders refused by a rule instance",
                                   labels=rule_labels)
    for entry in runtime.registry.entries():
        instance = entry.instance
        if instance is None or not hasattr(instance, "extra_statistics") or entry.state.value != "running":
            continue
        extra = instance.statistics().extra
        outcomes = extra.get("outcomes")
        if outcomes is not None and "account" in extra:
            labels = [extra["account"]]
            submitted.add_metric(labels, extra.get("orders", 0))
            accepted.add_metric(labels, outcomes["accepted"])
            for rule, count in sorted(outcomes["rejected"].items()):
                rejected.add_metric([*labels, rule], count)
            fills.add_metric(labels, outcomes["fills"])
            filled_lots.add_metric(labels, outcomes["filled_lots"])
            cancelled.add_metric(labels, outcomes["cancelled"])
            unknown.add_metric(labels, outcomes["outcome_unknown"])
        elif "rule" in extra and "rejections" in extra:
            labels = [extra["rule"], extra.get("scope", "")]
            checks.add_metric(labels, extra.get("checks", 0))
            refusals.add_metric(labels, extra["rejections"])
    yield from (submitted, accepted, rejected, fills, filled_lots, cancelled, unknown, checks, refusals)


def _gateway_families(statuses: list):
    """Yield the gateways' lifecycle (transport/venue/connection.py ``GatewayStatus``) as gauges and counters."""
    from transport.venue.connection import GATEWAY_STATES

    state = GaugeMetricFamily("tickstage_gateway_state", "1 for the vn.py gateway's lifecycle state (connecting, "
                              "connected, contractsReady, disconnected, reconnecting, failed)",
                              labels=["gateway", "state"])
    since = GaugeMetricFamily("tickstage_gateway_state_since_seconds", "when the gateway entered its state, "
                              "UNIX time", labels=["gateway"])
    market_data = GaugeMetricFamily("tickstage_gateway_market_data", "1 while the gateway's market-data front is "
                                    "logged in", labels=["gateway"])
    contracts = GaugeMetricFamily("tickstage_gateway_contracts", "contracts the gateway has sent",
                                  labels=["gateway"])
    subscriptions = GaugeMetricFamily("tickstage_gateway_subscriptions", "market-data subscriptions sent on the "
                                      "gateway's latest (re)connection", labels=["gateway"])
    connects = CounterMetricFamily("tickstage_gateway_connects", "times the gateway became ready (contractsReady)",
                                   labels=["gateway"])
    for status in statuses:
        for name in GATEWAY_STATES:
            state.add_metric([status.name, name], 1 if name == status.state else 0)
        since.add_metric([status.name], status.since_ns / 1e9)
        market_data.add_metric([status.name], 1 if status.market_data else 0)
        contracts.add_metric([status.name], status.contracts)
        subscriptions.add_metric([status.name], status.subscriptions)
        connects.add_metric([status.name], status.connects)
    yield from (state, since, market_data, contracts, subscriptions, connects)


def _venue_families(states: dict[str, str]):
    """Yield ``tickstage_venue_connected`` and ``tickstage_venue_state`` from gateway name → state."""
    connected = GaugeMetricFamily("tickstage_venue_connected", "1 when the vn.py gateway's venue is connected",
                                  labels=["gateway"])
    state = GaugeMetricFamily("tickstage_venue_state", "1 for the vn.py gateway's current connection state",
                              labels=["gateway", "state"])
    for gateway, current in sorted(states.items()):
        connected.add_metric([gateway], 1 if current == "connected" else 0)
        for name in VENUE_STATES:
            state.add_metric([gateway, name], 1 if name == current else 0)
    yield from (connected, state)


def _algo_families(stats: dict[str, int]):
    """Yield the algo service's counters (transport/venue/vnpy_algos.py ``DeskAlgos.statistics``): ``jobs`` a gauge,
    the rest counters (``started``, ``refused_children``, ``progress_sent``, ``algos_failed``: algos stopped
    because they raised, ``handler_failures``)."""
    for name, value in stats.items():
        kind = GaugeMetricFamily if name == "jobs" else CounterMetricFamily
        family = kind(f"tickstage_algos_{name}", f"algo jobs: {name}")
        family.add_metric([], value)
        yield family


def _dataclass_families(prefix: str, stats: Any, gauges: set[str], what: str):
    """Yield one family per numeric field of a statistics dataclass: gauges by name, others counters."""
    for item in dataclasses.fields(stats):
        value = getattr(stats, item.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if item.name in gauges:
            family = GaugeMetricFamily(f"{prefix}_{item.name}", f"{what}: {item.name}")
        else:
            family = CounterMetricFamily(f"{prefix}_{item.name}", f"{what}: {item.name}")
        family.add_metric([], value)
        yield family


def desk_registry(desk: Any, lag: LoopLagMonitor | None = None) -> CollectorRegistry:
    """Return a fresh registry holding a :class:`DeskCollector` for ``desk``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeskCollector(desk, lag))
    return registry


def metrics_text(registry: CollectorRegistry) -> bytes:
    """Return the registry's metrics in the Prometheus text format (loop thread)."""
    return generate_latest(registry)


__all__ = ["CONTENT_TYPE", "DeskCollector", "LoopLagMonitor", "desk_registry", "metrics_text"]
