"""Configuration of the order path: accounts, risk rules and limits, journal, timeouts.

From the desk's TOML file (``tickstage run --config desk.toml``)::

    [orders]
    journal = "/srv/desk/orders.sqlite3"      # optional; default: the desk's state folder, one file a trading day
    answer_timeout_s = 2.0                    # no exchange answer → outcomeUnknown
    check_timeout_s = 5.0                     # a rule actor silent this long → refused (a restarted one refuses at once)
    query_interval_s = 0.5                    # outcomeUnknown: gateway queries this often
    synchronous = "NORMAL"                    # SQLite: NORMAL survives a process crash, FULL a power cut
    venue_lease_ttl_s = 1.2                   # NATS: the venue-host lease; a standby takes over ~this after a kill
    stream_max_age_s = 86400                  # NATS: the ORDERS stream (replicated journal) keeps rows a trading day

    [accounts.acct-01]
    trader = "trader1"                        # owning trader (JWT sub), shown in AccountStatus
    real = ["SIM"]                            # vn.py gateway names of its 1–2 real accounts
    route = { etf_options = "SIM" }           # optional: contract class or exchange → real account (actors/orders/routing.py); else the first
    capital = 1_000_000                       # funds allocated to it (balance = capital + PnL); default 0

    [risk]
    rules = ["order_validity", "order_flow", ...]   # account-scoped rules (default: all)
    global_rules = ["kill_switch"]

    [risk.limits.order_flow]                  # defaults for every account
    limit = 50
    [risk.accounts.acct-01.active_order]      # one account's override
    limit = 3

    [orders.sim]                              # simulator exchange (sim/exchange.py)
    order_latency_ms = 5
    no_answer_probability = 0.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors.orders.routing import check_route, route_gateway
from actors.risk import GLOBAL_SCOPE

ACCOUNT_RULES = (
    "order_validity",
    "venue",
    "trading_hours",
    "kill_switch",
    "order_flow",
    "order_volume",
    "order_notional",
    "price_band",
    "duplicate_order",
    "active_order",
    "order_cancel",
    "trade_limit",
    "position_limit",
    "daily_loss",
    "error_rate",
)
"""Every account-scoped rule, cheapest and most fundamental first (module names in actors/risk/rules/)."""

GLOBAL_RULES = ("kill_switch",)
"""Rules with one instance for the whole desk (``risk/<rule>/global``)."""

MAX_CLIENT_ORDER_ID_BYTES = 64
"""Longest client order id accepted, UTF-8 bytes."""

ORDER_KEYS = {"submitOrder": "clientOrderId", "cancelOrder": "clientOrderId", "orderStatusRequest": "",
              "replaceOrder": "newClientOrderId", "cancelAll": "requestId", "flattenPosition": "clientOrderId"}
"""Order ClientMessage member → the field holding its client-chosen idempotency key (1..64 bytes; ``""``: none).

One table for every door that checks the key: the socket server, the session, the NATS order link."""
ORDER_MEMBERS = frozenset(ORDER_KEYS)
"""The ClientMessage members (schemas/stream.capnp) that go to an account's order actor, ``orders/<account>``."""
ORDER_REPLIES = {"orderReply": "submitOrder", "cancelReply": "cancelOrder", "orderStatusReply": "orderStatusRequest",
                 "replaceReply": "replaceOrder", "cancelAllReply": "cancelAll", "flattenReply": "flattenPosition"}
"""ServerMessage reply member → the order ClientMessage member it answers (its key field is the same name)."""


def order_key(member: str, body) -> str:
    """Return the idempotency key of order message ``body`` (a ClientMessage member or its reply), ``""`` for none.

    Raises:
        KeyError: ``member`` is not in :data:`ORDER_KEYS`.
    """
    field_name = ORDER_KEYS[member]
    return getattr(body, field_name) if field_name else ""

ALGO_MEMBERS = frozenset({"startAlgo", "pauseAlgo", "resumeAlgo", "stopAlgo"})
"""The ClientMessage members that go to the desk's algo engine (the actor ``algos``, actors/sessions/algo_host.py)."""


def client_order_id_fits(client_order_id: str) -> bool:
    """Return whether a client order id is 1..:data:`MAX_CLIENT_ORDER_ID_BYTES` (64) UTF-8 bytes.

    The one bound every door checks: the socket gateway, the session and the order actor's validity rule.
    """
    return 1 <= len(client_order_id.encode()) <= MAX_CLIENT_ORDER_ID_BYTES


@dataclass(frozen=True)
class AccountSpec:
    """One strategy account.

    Attributes:
        account: account id, ``"acct-01"`` (letters, digits, ``-``, ``_``).
        trader: owning trader (JWT ``sub``).
        real: vn.py gateway names of its real accounts (1–2).
        capital: funds allocated to it, quote currency (0: none; its balance is then its PnL).
        route: contract class (``futures``, ``etf_options``) or exchange (``SSE``) → one of ``real``; an order
            matching no key goes to the first real account (actors/orders/routing.py).
    """

    account: str
    trader: str
    real: tuple[str, ...] = ("SIM",)
    capital: float = 0.0
    route: Mapping[str, str] = field(default_factory=dict)

    def gateway_for(self, vt_symbol: str) -> str:
        """Return the vn.py gateway name an order of ``vt_symbol`` goes to (actors/orders/routing.py)."""
        return route_gateway(self.real, self.route, vt_symbol)

    def __post_init__(self) -> None:
        if not self.account or self.account == GLOBAL_SCOPE or not all(
                c.isalnum() or c in "-_" for c in self.account):
            raise ValueError(f"account id {self.account!r}: letters, digits, '-' or '_', not 'global'")
        if not 1 <= len(self.real) <= 2:
            raise ValueError(f"account {self.account}: 1 or 2 real accounts, not {len(self.real)}")
        if not (math.isfinite(self.capital) and self.capital >= 0):
            raise ValueError(f"account {self.account}: capital must be a finite number >= 0, not {self.capital!r}")
        check_route(self.account, self.real, self.route)


@dataclass(frozen=True)
class OrdersConfig:
    """The order path's settings.

    Attributes:
        accounts: the strategy accounts, in order.
        journal: SQLite journal file; ``None`` → the desk's state folder decides
            (``<state>/journal-<YYYYMMDD>.sqlite3``, transport/process/state.py).
        answer_timeout_s: seconds without an exchange answer before outcomeUnknown.
        check_timeout_s: seconds without a rule's verdict before the order is refused.
        query_interval_s: seconds between gateway queries of outcomeUnknown orders.
        unknown_after_queries: venue answers "unknown" (by vt_orderid and by reference) before an open
            order is closed ``cancelled`` with the reason (it may have reached the venue: never ``rejected``);
            a venue that cannot be asked gives no answer.
        synchronous: SQLite ``PRAGMA synchronous`` (``NORMAL`` or ``FULL``).
        rules: account-scoped rules instantiated per account.
        global_rules: desk-wide rules.
        limits: rule → limit name → default value for every account.
        account_limits: account → rule → limit name → value (overrides).
        status_interval_s: AccountStatus / RiskSummary period, seconds.
        sim: extra settings for the simulator gateway's exchange (sim/exchange.py).
        default_lots: vt_symbol or product (the contract group, ``"rb"``) → the order ticket's default size,
            lots (a whole number >= 1; a vt_symbol's entry wins over its product's; 1 when neither is given).
        venue_lease_ttl_s: a NATS venue-host's lease TTL, seconds (transport/cluster/venue_standby.py): the
            standby takes over between 0.75 and 1 times it (plus ~0.25 s) after the active's death.
        stream_max_age_s: how long the ``ORDERS`` JetStream stream (the replicated order journal,
            transport/cluster/order_stream.py) keeps a row, seconds; at least a trading day (night session
            21:00 to the day session's 15:00 close: 18 h).
    """

    accounts: tuple[AccountSpec, ...] = ()
    journal: Path | None = None
    answer_timeout_s: float = 2.0
    check_timeout_s: float = 5.0
    query_interval_s: float = 0.5
    unknown_after_queries: int = 2
    synchronous: str = "NORMAL"
    rules: tuple[str, ...] = ACCOUNT_RULES
    global_rules: tuple[str, ...] = GLOBAL_RULES
    limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    account_limits: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)
    status_interval_s: float = 1.0
    sim: Mapping[str, Any] = field(default_factory=dict)
    default_lots: Mapping[str, float] = field(default_factory=dict)
    venue_lease_ttl_s: float = 1.2
    stream_max_age_s: float = 86400.0

    def __post_init__(self) -> None:
        for key, lots in self.default_lots.items():
            if isinstance(lots, bool) or not (isinstance(lots, int | float) and math.isfinite(lots) and lots >= 1 and float(lots).is_integer()):
                raise ValueError(f"orders.default_lots.{key} must be a whole number of lots >= 1, not {lots!r}")
        for name in ("answer_timeout_s", "check_timeout_s", "query_interval_s", "status_interval_s",
                     "venue_lease_ttl_s", "stream_max_age_s"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"orders.{name} must be a finite number > 0, not {value!r}")
        if self.synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"orders.synchronous must be NORMAL or FULL, not {self.synchronous!r}")
        unknown = set(self.rules) - set(ACCOUNT_RULES) | set(self.global_rules) - set(GLOBAL_RULES)
        if unknown:
            raise ValueError(f"unknown risk rules: {sorted(unknown)}")
        seen = set()
        for spec in self.accounts:
            if spec.account in seen:
                raise ValueError(f"account {spec.account} is configured twice")
            seen.add(spec.account)

    @property
    def journal_path(self) -> Path | None:
        """The journal file named by the configuration, or ``None`` (the desk's state folder decides)."""
        return Path(self.journal).expanduser() if self.journal else None

    def default_lots_of(self, vt_symbol: str, product: str = "") -> float:
        """Return the ticket's default size of ``vt_symbol`` (lots): its own entry, else its product's, else 1."""
        return float(self.default_lots.get(vt_symbol, self.default_lots.get(product, 1.0)))

    def account(self, account: str) -> AccountSpec | None:
        """Return the spec of ``account`` or ``None``."""
        return next((spec for spec in self.accounts if spec.account == account), None)

    @classmethod
    def from_toml(cls, document: Mapping[str, Any]) -> OrdersConfig:
        """Build from a parsed TOML document (its ``[orders]``, ``[accounts]`` and ``[risk]`` tables).

        Raises:
            ValueError: a value is of the wrong type or out of range.
        """
        orders = dict(document.get("orders", {}))
        risk = dict(document.get("risk", {}))
        accounts = tuple(
            AccountSpec(name, str(spec.get("trader", "")), tuple(spec.get("real", ("SIM",))),
                        float(spec.get("capital", 0.0)), _route(name, spec.get("route", {})))
            for name, spec in dict(document.get("accounts", {})).items()
        )
        kwargs: dict[str, Any] = {"accounts": accounts}
        for key in ("answer_timeout_s", "check_timeout_s", "query_interval_s", "status_interval_s",
                    "venue_lease_ttl_s", "stream_max_age_s"):
            if key in orders:
                kwargs[key] = float(orders[key])
        if "unknown_after_queries" in orders:
            kwargs["unknown_after_queries"] = int(orders["unknown_after_queries"])
        if "synchronous" in orders:
            kwargs["synchronous"] = str(orders["synchronous"])
        if orders.get("journal"):
            kwargs["journal"] = Path(str(orders["journal"]))
        if "sim" in orders:
            kwargs["sim"] = dict(orders["sim"])
        if "default_lots" in orders:
            kwargs["default_lots"] = dict(orders["default_lots"])
        if "rules" in risk:
            kwargs["rules"] = tuple(risk["rules"])
        if "global_rules" in risk:
            kwargs["global_rules"] = tuple(risk["global_rules"])
        kwargs["limits"] = {rule: _numbers(values) for rule, values in dict(risk.get("limits", {})).items()}
        kwargs["account_limits"] = {
            account: {rule: _numbers(values) for rule, values in dict(rules).items()}
            for account, rules in dict(risk.get("accounts", {})).items()
        }
        return cls(**kwargs)


def _route(account: str, table: Any) -> dict[str, str]:
    if not isinstance(table, Mapping) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"account {account}: route must be a table of contract class or exchange = \"gateway\"")
    return {str(key): value for key, value in table.items()}


def _numbers(values: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in dict(values).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"risk limit {key}={value!r} must be a number")
        out[key] = float(value)
    return out


__all__ = [
    "ACCOUNT_RULES",
    "ALGO_MEMBERS",
    "AccountSpec",
    "GLOBAL_RULES",
    "MAX_CLIENT_ORDER_ID_BYTES",
    "ORDER_KEYS",
    "ORDER_MEMBERS",
    "ORDER_REPLIES",
    "order_key",
    "OrdersConfig",
    "client_order_id_fits",
]
