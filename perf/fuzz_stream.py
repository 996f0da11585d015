"""Fuzz a desk's /ws with hostile frames: frames/s, errors by code, RSS, survival.

The long version of ``tests/transport/edge/test_fuzz.py``. By default it starts a
desk in this process (synthetic market, the socket limits loosened so that
every frame is decoded: no rate limit, no bad-input close) and sends seeded
hostile frames (perf/fuzz_frames.py) over several sockets concurrently, in
rounds of ``--round`` frames so the pre-generated inputs stay small. After
each round it prints frames/s, RSS and the socket server's refusals; at the end a
table of errors by code, the invariants the CI test asserts (every frame
counted, every refusal answered with its code, every actor running, no root
failure) and one JSON line. RSS is this whole process: the desk, the
clients, and one round of generated inputs (~1 % of frames are 65–80 KiB:
~35 MB per 50,000-frame round), so watch its plateau, not its first rise.

With ``--url`` it fuzzes a desk running elsewhere (tokens minted with
``--jwt-secret``; the desk's own limits apply, so expect ``rateLimited`` and
1008 closes unless its [limits] are loosened); give ``--pid`` to report that
process's RSS.

Usage::

    /tmp/venv/bin/python perf/fuzz_stream.py --frames 1000000
    /tmp/venv/bin/python perf/fuzz_stream.py --frames 100000 --sockets 16 --seed 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf._common import machine, write_png, write_outputs  # noqa: E402
from perf.fuzz_frames import HostileFrames, fuzz_sockets, rss_bytes  # noqa: E402


def _rss(pid: int | None) -> int:
    if pid is None:
        return rss_bytes()
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _start_desk(secret: str):
    from transport.process.app import Desk, DeskConfig
    from transport.edge.ws import SocketLimits

    limits = SocketLimits(max_bad_frames=10**9, messages_per_s=1e9, message_burst=10**9)
    desk = Desk(DeskConfig(port=0, replay=(), contracts=2000, rate=2000.0, jwt_secret=secret,
                           progress_interval_s=0, limits=limits))
    await desk.start()
    async with asyncio.timeout(30):
        while len(desk.bridge.groups()) < 2:
            await asyncio.sleep(0.05)
    return desk


async def main(args: argparse.Namespace) -> int:
    from transport.signin.auth import mint_token

    secret = args.jwt_secret or secrets.token_urlsafe(32)
    desk = None if args.url else await _start_desk(secret)
    url = args.url or f"ws://127.0.0.1:{desk.port}/ws"
    groups = tuple(sorted(desk.bridge.groups())[:2]) if desk else ("rb", "IF")
    tokens = [mint_token(secret, f"fuzz-{i}", groups=[groups[0]]) for i in range(args.sockets)]
    generator = HostileFrames(args.seed, groups)
    pid = args.pid if args.url else None
    rss_start = rss_peak = _rss(pid)
    sent, seconds, errors, kinds, closed = 0, 0.0, Counter(), Counter(), 0
    rounds: list[dict] = []
    print(f"fuzz_stream: {args.frames:,} frames over {args.sockets} sockets to {url} (seed {args.seed})")
    print(f"{'frames':>10} {'frames/s':>10} {'RSS MiB':>8} {'closed':>6}")
    try:
        while sent < args.frames:
            frames = generator.generate(min(args.round, args.frames - sent))
            report = await fuzz_sockets(url, tokens, frames, timeout_s=args.timeout_s)
            sent += report.frames_sent
            seconds += report.seconds
            errors.update(report.errors)
            kinds.update(report.kinds)
            closed += report.closed_early
            rss_peak = max(rss_peak, _rss(pid))
            rounds.append({"frames": sent, "frames_per_s": round(report.frames_per_s),
                           "rss_mib": round(_rss(pid) / 2**20, 1), "closed_early": closed})
            print(f"{sent:>10,} {report.frames_per_s:>10,.0f} {_rss(pid) / 2**20:>8.1f} {closed:>6}", flush=True)
        summary = {"frames": sent, "sockets": args.sockets, "seconds": round(seconds, 2),
                   "frames_per_s": round(sent / seconds) if seconds else 0, "errors": dict(errors),
                   "kinds": dict(kinds), "closed_early": closed, "rss_start_mib": round(rss_start / 2**20, 1),
                   "rss_peak_mib": round(rss_peak / 2**20, 1), "rss_end_mib": round(_rss(pid) / 2**20, 1)}
        print(f"\n{'error code':<16} {'count':>10}")
        for code, count in errors.most_common():
            print(f"{code:<16} {count:>10,}")
        ok = True
        if desk is not None:
            stats = desk.sockets.statistics()
            async with asyncio.timeout(10):  # let the last round's sessions finish stopping
                while any(e.path.startswith("sessions/") for e in desk.runtime.registry.entries()):
                    await asyncio.sleep(0.05)
            entries = desk.runtime.registry.entries()
            checks = {
                "every frame counted": stats.frames_received
                == stats.frames_forwarded + stats.frames_handled + stats.frames_refused,
                "every refusal answered with its code": all(
                    errors[code] == count for code, count in stats.refused.items()),
                "every actor running, none restarted": all(
                    e.state.value == "running" and e.restarts == 0 for e in entries),
                "no root failure": desk.runtime.root_failure is None,
            }
            summary["sockets"] = {"frames_received": stats.frames_received,
                                  "frames_refused": stats.frames_refused, "refused": stats.refused}
            summary["checks"] = checks
            print()
            for name, passed in checks.items():
                print(f"{'ok  ' if passed else 'FAIL'} {name}")
            ok = all(checks.values())
            for entry in entries:
                if entry.state.value != "running" or entry.restarts:
                    print(f"     {entry.path}: {entry.state.value}, {entry.restarts} restarts")
        print(json.dumps(summary))
        write_outputs(args.json, args.png, {**summary, "rounds": rounds, "machine": machine()}, plot)
        return 0 if ok and not closed else 1
    finally:
        if desk is not None:
            await desk.stop()


def plot(document: dict, path: str) -> None:
    """Frames/s and RSS after each round, against frames sent."""
    frames = [r["frames"] for r in document["rounds"]]
    write_png(path, f"fuzz_stream: {document['frames']:,} hostile frames "
              f"(shared 2-core machine, load {document['machine']['load_average_1m']})", [
        ("frames/s", "frames sent", {"round": (frames, [r["frames_per_s"] for r in document["rounds"]])}, None),
        ("RSS, MiB", "frames sent", {"process": (frames, [r["rss_mib"] for r in document["rounds"]])}, None),
    ])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--sockets", type=int, default=8)
    parser.add_argument("--seed", type=int, default=20171113)
    parser.add_argument("--round", type=int, default=50_000, help="frames generated and sent per round")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="per round")
    parser.add_argument("--url", help="fuzz a running desk instead of one started here")
    parser.add_argument("--jwt-secret", default=os.environ.get("TICKSTAGE_JWT_SECRET", ""))
    parser.add_argument("--pid", type=int, help="with --url: the desk's process id, for its RSS")
    parser.add_argument("--json", help="write the summary and every round here (and a PNG beside it)")
    parser.add_argument("--png", help="write the plot here (default: --json with .png)")
    return parser


if __name__ == "__main__":
    arguments = _parser().parse_args()
    if arguments.url and not arguments.jwt_secret:
        sys.exit("fuzz_stream: --url needs --jwt-secret (or TICKSTAGE_JWT_SECRET)")
    os.environ.setdefault("TICKSTAGE_STATE_DIR", tempfile.mkdtemp(prefix="tickstage-fuzz-"))
    from transport.process.logs import configure_logging
    from transport.venue.vnpy_home import contain_vnpy

    contain_vnpy(Path(os.environ["TICKSTAGE_STATE_DIR"]))
    configure_logging("warning")
    import uvloop

    sys.exit(uvloop.run(main(arguments)))
