"""The ``tickstage`` command: run the desk, mint a development token, watch a stream.

    tickstage run [--config FILE] [--host 127.0.0.1] [--port 8700] [--replay FILE ...]
                  [--speed N] [--synthetic --contracts N --rate TICKS_PER_S] [--jwt-secret S]
                  [--role all|edge|aggregator|venue-host] [--nats URL ...] [--groups G ...]
                  [--state-dir DIR]
    tickstage token --user U [--role trader|admin] [--ttl-s S] [--accounts A,B] [--groups G,H] [--ent JSON]
                    [--iss ISSUER] [--aud AUDIENCE] [--jwt-secret S | --private-key-file PEM] [--state-dir DIR]
    tickstage users add|passwd|remove|list [USER] [--role trader|admin] [--accounts A,B] [--groups G,H] [--ent JSON]
                    [--password-stdin] [--users-file FILE] [--state-dir DIR]
    tickstage watch --url ws://HOST:PORT/ws --token T --group G [--seconds N]
    tickstage admin tree|restart PATH|stop PATH|audit [--url http://HOST:PORT] [--token T] [--json]
    tickstage admin limits [--rule R --scope ACCOUNT|global --name LIMIT --value V]
    tickstage admin kill-switch --scope account|group|global [--target T] --state halted|reduce-only|active
                                [--reason TEXT]
    tickstage admin fault KIND [TARGET] [--duration-ms N] [--probability P] [--delay-ms N] [--factor F]
                    [--skew-ms N] [--frames N] [--read-interval-ms N] [--groups G ...]
    tickstage sim --scenario FILE [--report FILE] [--tape FILE]

The JWT secret comes from ``--jwt-secret`` or ``TICKSTAGE_JWT_SECRET``; with
neither, ``run`` is in development mode: it keeps a generated secret in
``<state_dir>/jwt-secret`` (mode 0600, read by ``tickstage token`` too) and
prints a trader URL and an admin (ops) URL carrying tokens. The desk's state
folder (journal per trading day, admin audit, the embedded issuer's users
file ``users.json`` and refresh tokens; transport/process/state.py) comes from
``--state-dir``, ``TICKSTAGE_STATE_DIR`` or ``[desk] state_dir``; on the
simulator without one, a fresh temporary folder is used and removed at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from transport.errors import ConfigError
from transport.process.logs import configure_logging

DEFAULT_CONFIG_KEYS = ("host", "port", "replay", "speed", "contracts", "rate", "seed", "role", "nats", "groups",
                       "state_dir")
DESK_FILE_KEYS = (*DEFAULT_CONFIG_KEYS, "http_header_timeout_s", "gateway")
"""Keys of the TOML ``[desk]`` table."""


def load_config(path: str | None) -> Any:
    """Return a :class:`transport.process.app.DeskConfig` from a TOML file (or the defaults).

    File layout::

        [desk]        host, port, replay (list), speed, contracts, rate, seed, state_dir,
                      http_header_timeout_s, gateway (deprecated: use [venue]; "module:Class" of the one
                      gateway SIM, default "sim.gateway:SimGateway")
        [market]      window_ms, wide_window_ms, snapshot_interval_s, max_rows, max_frame_bytes,
                      max_build_ms, late_ms, heartbeat_interval_s, hash_interval_s, trading_windows (list,
                      or a table per group: override the sessions), product_sessions (bool: closed/preOpen
                      from the contracts' trading sessions; default off on the synthetic market only),
                      exchange_clock ("wall" | "ticks": default "ticks" for a replay), lease_ttl_s (aggregators), source_timeout_s (edge nodes)
        [limits]      max_frame_bytes, auth_timeout_s, max_bad_frames, max_sockets_per_user,
                      max_subscriptions, messages_per_s, allowed_origins, ... (SocketLimits)
        [auth]        algorithm ("HS256" | "RS256"), public_key_file, issuer, audience, leeway_s,
                      jwks_url, jwks_lifespan_s, jwks_cooldown_s
        [issuer]      enabled, users_file, access_ttl_s, refresh_ttl_s, max_failures, lockout_s
        [watchlists]  name = ["rb1801.SHFE", "IF1711.CFFEX"]
        [venue.gateways.<name>]   class = "module:Class", [venue.gateways.<name>.settings] (the gateway's
                      connect setting; secrets as { env = "NAME" } or { file = "PATH" }: transport/venue/gateways.py)
        [orders], [accounts.<id>], [risk]   the order path (actors/orders/config.py)

    Raises:
        ConfigError: unreadable file, bad TOML, or unknown keys.
    """
    from transport.process.app import DeskConfig
    from transport.signin.auth import AuthConfig
    from transport.edge.ws import SocketLimits

    if not path:
        return DeskConfig()
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    desk = dict(data.get("desk", {}))
    unknown = set(desk) - set(DESK_FILE_KEYS)
    if unknown:
        raise ConfigError(f"unknown [desk] keys in {path}: {sorted(unknown)}")
    for key in ("replay", "nats", "groups"):
        if key in desk:
            desk[key] = tuple([desk[key]] if isinstance(desk[key], str) else desk[key])
    try:
        limits = SocketLimits(**data.get("limits", {}))
    except TypeError as exc:
        raise ConfigError(f"bad [limits] in {path}: {exc}") from None
    try:
        auth = AuthConfig(**data.get("auth", {}))
    except TypeError as exc:
        raise ConfigError(f"bad [auth] in {path}: {exc}") from None
    extra = {}
    if "gateway" in desk:
        import structlog

        structlog.get_logger("transport.process.cli").warning(
            "desk_gateway_deprecated", path=str(path),
            advice="name the gateway in [venue.gateways.<name>] (class, settings); [desk] gateway goes in 0.3.0")
    if "venue" in data:
        from transport.venue.gateways import parse_venue

        if "gateway" in desk:
            raise ConfigError(f"{path}: give the gateways in [venue] or the deprecated [desk] gateway, not both")
        extra["gateways"] = parse_venue(data["venue"])
    if "issuer" in data:
        from transport.signin.issuer import IssuerConfig

        try:
            extra["issuer"] = IssuerConfig(**data["issuer"])
        except TypeError as exc:
            raise ConfigError(f"bad [issuer] in {path}: {exc}") from None
    if any(table in data for table in ("orders", "accounts", "risk")):
        from actors.orders.config import OrdersConfig
        from transport.process.app import DEVELOPMENT_ORDERS

        try:
            orders = OrdersConfig.from_toml(data)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad [orders]/[accounts]/[risk] in {path}: {exc}") from None
        extra["orders"] = orders if orders.accounts else replace(orders, accounts=DEVELOPMENT_ORDERS.accounts)
    market = dict(data.get("market", {}))
    if market.get("exchange_clock", "wall") not in ("wall", "ticks"):
        raise ConfigError(f"[market] exchange_clock in {path} is 'wall' or 'ticks', not {market['exchange_clock']!r}")
    return DeskConfig(**desk, limits=limits, auth=auth, market=market,
                      watchlists={k: list(v) for k, v in data.get("watchlists", {}).items()}, **extra)


def _parser() -> argparse.ArgumentParser:
    from transport.cluster.roles import DEPRECATED_ROLES, ROLES

    parser = argparse.ArgumentParser(prog="tickstage", description=__doc__.split("\n")[0])
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the desk: actors, vn.py simulator, browser UI")
    run.add_argument("--config")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--replay", nargs="+", metavar="FILE", help="recorded CTP CSV(.gz) to replay")
    run.add_argument("--speed", type=float, help="replay speed, × real time (0: flat out)")
    run.add_argument("--synthetic", action="store_true", help="synthetic market (the default without --replay)")
    run.add_argument("--contracts", type=int)
    run.add_argument("--rate", type=float, metavar="TICKS_PER_S")
    run.add_argument("--seed", type=int)
    run.add_argument("--role", choices=(*ROLES, *DEPRECATED_ROLES),
                     help="all: vn.py, aggregators and sessions (default); edge: sessions fed from NATS; "
                          "aggregator: groups fed by md.batch.*; venue-host: vn.py and the order path "
                          "(gateway, gateway-host: deprecated names of edge, venue-host)")
    run.add_argument("--nats", nargs="+", metavar="URL", help="NATS seed URLs (nats://127.0.0.1:4222 ...)")
    run.add_argument("--groups", nargs="+", metavar="GROUP", help="an aggregator's shard (default: every group)")
    run.add_argument("--jwt-secret", default=os.environ.get("TICKSTAGE_JWT_SECRET", ""))
    run.add_argument("--state-dir", default=os.environ.get("TICKSTAGE_STATE_DIR") or None, metavar="DIR",
                     help="the desk's state folder: journal-<trading day>.sqlite3, audit, users.json (default: "
                          "TICKSTAGE_STATE_DIR, [desk] state_dir; on the simulator, a temporary folder removed at exit)")
    token = sub.add_parser("token", help="print a development JWT signed with the desk's secret")
    token.add_argument("--user", required=True)
    token.add_argument("--role", choices=("trader", "admin"), default="trader")
    token.add_argument("--ttl-s", type=float, default=8 * 3600)
    token.add_argument("--jwt-secret", default=os.environ.get("TICKSTAGE_JWT_SECRET", ""))
    token.add_argument("--accounts", help="comma-separated account ids the user may trade (accounts claim)")
    token.add_argument("--groups", help="comma-separated market groups (groups claim; omitted: every group)")
    token.add_argument("--ent", help='ent claim as JSON, {"CFFEX": ["l1"], "*": ["l1", "oi", "depth"]} '
                       "(omitted: every field)")
    token.add_argument("--iss", default="", help="iss claim (for a desk with [auth] issuer)")
    token.add_argument("--aud", default="", help="aud claim (for a desk with [auth] audience)")
    token.add_argument("--private-key-file", help="sign RS256 with this RSA private key (PEM) instead")
    token.add_argument("--state-dir", default=os.environ.get("TICKSTAGE_STATE_DIR", ""),
                       help="without a secret: the development desk's secret in this folder's jwt-secret")
    users = sub.add_parser("users", help="the embedded issuer's users: add, change password, remove, list")
    users.add_argument("action", choices=("add", "passwd", "remove", "list"))
    users.add_argument("user", nargs="?")
    users.add_argument("--role", choices=("trader", "admin"), default="trader")
    users.add_argument("--accounts", default="", help="comma-separated account ids the user may trade")
    users.add_argument("--groups", help="comma-separated market groups (omitted: every group)")
    users.add_argument("--ent", help='market data entitlements as JSON, {"CFFEX": ["l1"], "*": ["l1", "oi", '
                       '"depth"]} (omitted: every field)')
    users.add_argument("--password-stdin", action="store_true", help="read the password from stdin (one line)")
    users.add_argument("--users-file", help="the users file (default: <state dir>/users.json)")
    users.add_argument("--state-dir", default=os.environ.get("TICKSTAGE_STATE_DIR", ""))
    watch = sub.add_parser("watch", help="print a group's frame stream statistics")
    watch.add_argument("--url", default="ws://127.0.0.1:8700/ws")
    watch.add_argument("--token", required=True)
    watch.add_argument("--group", required=True)
    watch.add_argument("--seconds", type=float, default=10.0)
    admin = sub.add_parser("admin", help="operate a running desk: actor tree, restart or stop a subtree, audit, "
                                         "risk limits, kill switches, simulator faults")
    admin.add_argument("action", choices=("tree", "restart", "stop", "audit", "limits", "kill-switch", "fault"))
    admin.add_argument("path", nargs="?", help="actor path for restart/stop, e.g. market/group/rb; "
                                               "the fault KIND for fault (sim/README.md)")
    admin.add_argument("fault_target", nargs="?", metavar="TARGET",
                       help="fault: its target, an actor path (crash, kill, stall ...)")
    for flag, kind in (("--duration-ms", float), ("--probability", float), ("--delay-ms", float),
                       ("--factor", float), ("--skew-ms", float), ("--frames", int), ("--read-interval-ms", float)):
        admin.add_argument(flag, type=kind, help=f"fault: {flag[2:].replace('-', '_')} (scenario key)")
    admin.add_argument("--groups", nargs="+", metavar="GROUP", help="fault: groups of a slow or garbage client")
    admin.add_argument("--url", default="http://127.0.0.1:8700")
    admin.add_argument("--token", default=os.environ.get("TICKSTAGE_TOKEN", ""),
                       help="admin JWT (default: TICKSTAGE_TOKEN)")
    admin.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    admin.add_argument("--rule", help="limits: the rule whose limit to change, e.g. order_volume")
    admin.add_argument("--scope", help="limits: an account id or global; kill-switch: account, group or global")
    admin.add_argument("--name", help="limits: the limit's name, e.g. limit")
    admin.add_argument("--value", help="limits: the new value, in the rule's unit")
    admin.add_argument("--target", help="kill-switch: the account or group (not for global)")
    admin.add_argument("--state", help="kill-switch: halted, reduce-only or active (trading allowed)")
    admin.add_argument("--reason", help="kill-switch: why, kept in the journal and shown to traders")
    simulate = sub.add_parser("sim", help="run a fault scenario on an in-process desk; print and write the verdict")
    simulate.add_argument("--scenario", required=True, help="scenario TOML (sim/harness/scenarios/*.toml)")
    simulate.add_argument("--report", help="write the report as JSON here")
    simulate.add_argument("--tape", help="record the run's ticks and the probes' frames to this tape")
    return parser


async def _run(args: argparse.Namespace) -> int:
    from transport.process.app import Desk
    from transport.signin.auth import mint_token

    config = load_config(args.config)
    overrides = {k: getattr(args, k) for k in DEFAULT_CONFIG_KEYS if getattr(args, k, None) is not None}
    if args.synthetic:
        overrides["replay"] = ()
    elif "replay" in overrides:
        overrides["replay"] = tuple(overrides["replay"])
    for key in ("nats", "groups"):
        if key in overrides:
            overrides[key] = tuple(overrides[key])
    config = replace(config, **overrides, jwt_secret=args.jwt_secret or config.jwt_secret)
    desk = None
    try:
        desk = Desk(config)
        await desk.start()
    except (ConfigError, ConnectionError) as exc:
        if desk is not None:
            await desk.stop()
        print(f"tickstage run: {exc}", file=sys.stderr)
        return 2
    print(f"tickstage: listening {desk.url}", flush=True)
    if desk.generated_secret:
        trader = next(iter(config.orders.accounts), None)
        user = trader.trader if trader else "trader1"
        accounts = [spec.account for spec in config.orders.accounts if spec.trader == user]
        if desk.state is not None and desk.state.temporary:
            print("tickstage: development mode (no --jwt-secret / TICKSTAGE_JWT_SECRET, no state folder): a "
                  "secret was generated for this run only; give --state-dir to keep it for `tickstage token`.",
                  flush=True)
        else:
            print(f"tickstage: development mode (no --jwt-secret / TICKSTAGE_JWT_SECRET): the secret is in "
                  f"{desk.state_dir / 'jwt-secret'}; `tickstage token --state-dir` signs with it.", flush=True)
        print(f"tickstage: trader {user}: open {desk.url}#token="
              f"{mint_token(desk.jwt_secret, user, 'trader', accounts=accounts)}", flush=True)
        print(f"tickstage: admin (ops): open {desk.url}ops#token={mint_token(desk.jwt_secret, 'dev', 'admin')}",
              flush=True)
        if desk.state is not None and not desk.state.temporary:
            print(f"tickstage: or sign in at {desk.url}login as a user of `tickstage users add`", flush=True)
    elif config.auth.algorithm == "RS256":
        print(f"tickstage: open {desk.url} and log in with an RS256 token from your issuer", flush=True)
    else:
        print(f"tickstage: open {desk.url}login: sign in as a user of `tickstage users add`, "
              "or with a token from `tickstage token`", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await desk.stop()
    return 0


def _token(args: argparse.Namespace) -> int:
    from transport.signin.auth import mint_token

    key, algorithm = args.jwt_secret, "HS256"
    if args.private_key_file:
        try:
            key, algorithm = Path(args.private_key_file).read_text(), "RS256"
        except OSError as exc:
            print(f"tickstage token: cannot read {args.private_key_file}: {exc.strerror}", file=sys.stderr)
            return 2
    elif not key:
        key = _development_secret(args.state_dir)
        if not key:
            print("tickstage token: give --jwt-secret or set TICKSTAGE_JWT_SECRET (or run a development desk "
                  "with a state folder first: its secret is kept in <state dir>/jwt-secret)", file=sys.stderr)
            return 2
    split = lambda text: None if text is None else [p.strip() for p in text.split(",") if p.strip()]  # noqa: E731
    try:
        token = mint_token(key, args.user, args.role, args.ttl_s, accounts=split(args.accounts),
                           groups=split(args.groups), entitlements=_entitlements(args.ent), issuer=args.iss,
                           audience=args.aud, algorithm=algorithm)
    except ValueError as exc:
        print(f"tickstage token: {exc}", file=sys.stderr)
        return 2
    print("# development token: for a desk whose key you hold; not for production", file=sys.stderr)
    print(token)
    return 0


def _entitlements(text: str | None) -> dict | None:
    """Parse ``--ent`` JSON and check its shape.

    Raises:
        ValueError: not JSON, or not an object of exchange → list of field classes.
    """
    if text is None:
        return None
    from actors.market.entitlements import Entitlements

    claim = json.loads(text)
    Entitlements.from_claim(claim)
    return claim


def _development_secret(state_dir: str) -> str:
    """Return the development desk's secret from ``<state_dir>/jwt-secret``, or ``""`` when there is none."""
    from transport.signin.issuer import development_secret

    if not state_dir:
        return ""   # no state folder: a development desk's secret lived in its temporary folder
    folder = Path(state_dir).expanduser()
    if not (folder / "jwt-secret").exists():
        return ""
    try:
        return development_secret(folder)
    except ConfigError as exc:
        print(f"tickstage token: {exc}", file=sys.stderr)
        return ""


def _users(args: argparse.Namespace) -> int:
    from transport.signin.users import UsersFile

    if not (args.users_file or args.state_dir):
        print(f"tickstage users {args.action}: give the desk's state folder (--state-dir or TICKSTAGE_STATE_DIR, "
              "as for `tickstage run`) or --users-file", file=sys.stderr)
        return 2
    path = Path(args.users_file) if args.users_file else Path(args.state_dir).expanduser() / "users.json"
    split = lambda text: None if text is None else [p.strip() for p in text.split(",") if p.strip()]  # noqa: E731
    try:
        users = UsersFile(path)
        if args.action == "list":
            for user in users.users():
                print(json.dumps(user.public()))
            return 0
        if args.user is None:
            print(f"tickstage users {args.action}: give the USER", file=sys.stderr)
            return 2
        if args.action == "remove":
            users.remove(args.user)
            print(f"tickstage users: removed {args.user} (signed-in sessions end at their next refresh)",
                  file=sys.stderr)
            return 0
        password = _read_password(args.password_stdin)
        if args.action == "add":
            users.add(args.user, password, args.role, split(args.accounts) or [], split(args.groups),
                      _entitlements(args.ent))
        else:
            users.set_password(args.user, password)
    except (ValueError, KeyError) as exc:
        print(f"tickstage users {args.action}: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    print(f"tickstage users: {args.action} {args.user}: done ({path})", file=sys.stderr)
    return 0


def _read_password(from_stdin: bool) -> str:
    """Return a new password from one line of stdin, or from a prompt (twice, not echoed)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _admin(args: argparse.Namespace) -> int:
    from transport.process.admin_client import kill_switch_body, limit_body, run_admin

    if not args.token:
        print("tickstage admin: give --token or set TICKSTAGE_TOKEN (an admin JWT)", file=sys.stderr)
        return 2
    if args.fault_target and args.action != "fault":
        print(f"tickstage admin {args.action}: unexpected argument {args.fault_target!r}", file=sys.stderr)
        return 2
    try:
        if args.action == "fault":
            keys = ("duration_ms", "probability", "delay_ms", "factor", "skew_ms", "frames", "read_interval_ms",
                    "groups")
            target = args.fault_target or args.target
            body = {"kind": args.path, **({"target": target} if target else {}),
                    **{key: getattr(args, key) for key in keys if getattr(args, key) is not None}}
        elif args.action == "limits":
            body = limit_body(args.rule, args.scope, args.name, args.value)
        elif args.action == "kill-switch":
            body = kill_switch_body(args.scope, args.target, args.state, args.reason)
        else:
            body = None
    except ValueError as exc:
        print(f"tickstage admin {args.action}: {exc}", file=sys.stderr)
        return 2
    status, text = asyncio.run(run_admin(args.url, args.token, args.action, args.path, args.json, body=body))
    print(text, file=sys.stdout if status == 0 else sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tickstage`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "token":
        return _token(args)
    if args.command == "admin":
        return _admin(args)
    if args.command == "users":
        return _users(args)
    import uvloop

    configure_logging(args.log_level)
    if args.command == "sim":
        from sim.harness.runner import sim_main

        return sim_main(args.scenario, args.report, args.tape)
    if args.command == "watch":
        from transport.process.watch import watch

        try:
            summary = uvloop.run(watch(args.url, args.token, args.group, args.seconds))
        except (ConnectionError, OSError) as exc:
            print(f"tickstage watch: {exc}", file=sys.stderr)
            return 1
        return 0 if not summary["errors"] else 1
    try:
        return uvloop.run(_run(args))
    except ConfigError as exc:
        print(f"tickstage run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
