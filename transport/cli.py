"""The ``tickstage`` command: run the desk, mint a development token, watch a stream.

    tickstage run [--config FILE] [--host 127.0.0.1] [--port 8700] [--replay FILE ...]
                  [--speed N] [--synthetic --contracts N --rate TICKS_PER_S] [--jwt-secret S]
                  [--role all|gateway|aggregator|gateway-host] [--nats URL ...] [--groups G ...]
                  [--state-dir DIR]
    tickstage token --user U [--role trader|admin] [--ttl-s S] [--accounts A,B] [--groups G,H]
                    [--iss ISSUER] [--aud AUDIENCE] [--jwt-secret S | --private-key-file PEM]
    tickstage watch --url ws://HOST:PORT/ws --token T --group G [--seconds N]
    tickstage admin tree|restart PATH|stop PATH|audit [--url http://HOST:PORT] [--token T] [--json]
    tickstage sim --scenario FILE [--report FILE] [--tape FILE]

The JWT secret comes from ``--jwt-secret`` or ``TICKSTAGE_JWT_SECRET``; with
neither, ``run`` generates one, says it is in development mode, and prints a
URL carrying a token once. The desk's state folder (journal per trading day,
admin audit; transport/state.py) comes from ``--state-dir``,
``TICKSTAGE_STATE_DIR`` or ``[desk] state_dir``; on the simulator without one,
a fresh temporary folder is used and removed at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from transport.errors import ConfigError
from transport.logs import configure_logging

DEFAULT_CONFIG_KEYS = ("host", "port", "replay", "speed", "contracts", "rate", "seed", "role", "nats", "groups",
                       "state_dir")
DESK_FILE_KEYS = (*DEFAULT_CONFIG_KEYS, "http_header_timeout_s")
"""Keys of the TOML ``[desk]`` table."""


def load_config(path: str | None) -> Any:
    """Return a :class:`transport.app.DeskConfig` from a TOML file (or the defaults).

    File layout::

        [desk]        host, port, replay (list), speed, contracts, rate, seed, state_dir,
                      http_header_timeout_s
        [market]      window_ms, wide_window_ms, snapshot_interval_s, max_rows
        [limits]      max_frame_bytes, auth_timeout_s, max_bad_frames, max_sockets_per_user,
                      max_subscriptions, messages_per_s, allowed_origins, ... (SocketLimits)
        [auth]        algorithm ("HS256" | "RS256"), public_key_file, issuer, audience, leeway_s
        [watchlists]  name = ["rb1801.SHFE", "IF1711.CFFEX"]
        [orders], [accounts.<id>], [risk]   the order path (actors/orders/config.py)

    Raises:
        ConfigError: unreadable file, bad TOML, or unknown keys.
    """
    from transport.app import DeskConfig
    from transport.auth import AuthConfig
    from transport.ws import SocketLimits

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
    if any(table in data for table in ("orders", "accounts", "risk")):
        from actors.orders.config import OrdersConfig
        from transport.app import DEVELOPMENT_ORDERS

        try:
            orders = OrdersConfig.from_toml(data)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad [orders]/[accounts]/[risk] in {path}: {exc}") from None
        extra["orders"] = orders if orders.accounts else replace(orders, accounts=DEVELOPMENT_ORDERS.accounts)
    return DeskConfig(**desk, limits=limits, auth=auth, market=dict(data.get("market", {})),
                      watchlists={k: list(v) for k, v in data.get("watchlists", {}).items()}, **extra)


def _parser() -> argparse.ArgumentParser:
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
    run.add_argument("--role", choices=("all", "gateway", "aggregator", "gateway-host"),
                     help="all: vn.py, aggregators and sessions (default); gateway: sessions fed from NATS; "
                          "aggregator: groups fed by md.tick.*; gateway-host: vn.py and the order path")
    run.add_argument("--nats", nargs="+", metavar="URL", help="NATS seed URLs (nats://127.0.0.1:4222 ...)")
    run.add_argument("--groups", nargs="+", metavar="GROUP", help="an aggregator's shard (default: every group)")
    run.add_argument("--jwt-secret", default=os.environ.get("TICKSTAGE_JWT_SECRET", ""))
    run.add_argument("--state-dir", default=os.environ.get("TICKSTAGE_STATE_DIR") or None, metavar="DIR",
                     help="the desk's state folder: journal-<trading day>.sqlite3 (default: TICKSTAGE_STATE_DIR, "
                          "[desk] state_dir; on the simulator, a temporary folder removed at exit)")
    token = sub.add_parser("token", help="print a development JWT signed with the desk's secret")
    token.add_argument("--user", required=True)
    token.add_argument("--role", choices=("trader", "admin"), default="trader")
    token.add_argument("--ttl-s", type=float, default=8 * 3600)
    token.add_argument("--jwt-secret", default=os.environ.get("TICKSTAGE_JWT_SECRET", ""))
    token.add_argument("--accounts", help="comma-separated account ids the user may trade (accounts claim)")
    token.add_argument("--groups", help="comma-separated market groups (groups claim; omitted: every group)")
    token.add_argument("--iss", default="", help="iss claim (for a desk with [auth] issuer)")
    token.add_argument("--aud", default="", help="aud claim (for a desk with [auth] audience)")
    token.add_argument("--private-key-file", help="sign RS256 with this RSA private key (PEM) instead")
    watch = sub.add_parser("watch", help="print a group's frame stream statistics")
    watch.add_argument("--url", default="ws://127.0.0.1:8700/ws")
    watch.add_argument("--token", required=True)
    watch.add_argument("--group", required=True)
    watch.add_argument("--seconds", type=float, default=10.0)
    admin = sub.add_parser("admin", help="operate a running desk: actor tree, restart or stop a subtree, audit")
    admin.add_argument("action", choices=("tree", "restart", "stop", "audit"))
    admin.add_argument("path", nargs="?", help="actor path for restart/stop, e.g. market/group/rb")
    admin.add_argument("--url", default="http://127.0.0.1:8700")
    admin.add_argument("--token", default=os.environ.get("TICKSTAGE_TOKEN", ""),
                       help="admin JWT (default: TICKSTAGE_TOKEN)")
    admin.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    simulate = sub.add_parser("sim", help="run a fault scenario on an in-process desk; print and write the verdict")
    simulate.add_argument("--scenario", required=True, help="scenario TOML (sim/scenarios/*.toml)")
    simulate.add_argument("--report", help="write the report as JSON here")
    simulate.add_argument("--tape", help="record the run's ticks and the probes' frames to this tape")
    return parser


async def _run(args: argparse.Namespace) -> int:
    from transport.app import Desk
    from transport.auth import mint_token

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
        token = mint_token(desk.jwt_secret, "dev", "admin")
        print("tickstage: development mode (no --jwt-secret / TICKSTAGE_JWT_SECRET): "
              "a secret was generated for this run only.", flush=True)
        print(f"tickstage: open {desk.url}#token={token}", flush=True)
    elif config.auth.algorithm == "RS256":
        print(f"tickstage: open {desk.url} and log in with an RS256 token from your issuer", flush=True)
    else:
        print(f"tickstage: open {desk.url} and log in with a token from `tickstage token`", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await desk.stop()
    return 0


def _token(args: argparse.Namespace) -> int:
    from transport.auth import mint_token

    key, algorithm = args.jwt_secret, "HS256"
    if args.private_key_file:
        try:
            key, algorithm = Path(args.private_key_file).read_text(), "RS256"
        except OSError as exc:
            print(f"tickstage token: cannot read {args.private_key_file}: {exc.strerror}", file=sys.stderr)
            return 2
    elif not key:
        print("tickstage token: give --jwt-secret or set TICKSTAGE_JWT_SECRET", file=sys.stderr)
        return 2
    split = lambda text: None if text is None else [p.strip() for p in text.split(",") if p.strip()]  # noqa: E731
    try:
        token = mint_token(key, args.user, args.role, args.ttl_s, accounts=split(args.accounts),
                           groups=split(args.groups), issuer=args.iss, audience=args.aud, algorithm=algorithm)
    except ValueError as exc:
        print(f"tickstage token: {exc}", file=sys.stderr)
        return 2
    print("# development token: for a desk whose key you hold; not for production", file=sys.stderr)
    print(token)
    return 0


def _admin(args: argparse.Namespace) -> int:
    from transport.admin_client import run_admin

    if not args.token:
        print("tickstage admin: give --token or set TICKSTAGE_TOKEN (an admin JWT)", file=sys.stderr)
        return 2
    status, text = asyncio.run(run_admin(args.url, args.token, args.action, args.path, args.json))
    print(text, file=sys.stdout if status == 0 else sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tickstage`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "token":
        return _token(args)
    if args.command == "admin":
        return _admin(args)
    import uvloop

    configure_logging(args.log_level)
    if args.command == "sim":
        from sim.runner import sim_main

        return sim_main(args.scenario, args.report, args.tape)
    if args.command == "watch":
        from transport.watch import watch

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
