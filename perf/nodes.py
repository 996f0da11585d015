"""``tickstage run`` node subprocesses for the NATS benches (one role each, loopback)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
NODE_LOG_LEVEL_ENV = "TICKSTAGE_NODE_LOG_LEVEL"
"""Environment variable: the log level of node processes (default warning; info to see leases taken)."""
SECRET = "bench-secret-of-at-least-thirty-two-bytes"
"""The JWT secret of the desks and node processes the NATS benches start."""
REPLAY_FILE = "cn_futopt_l1_20171113_0900-1000.csv.gz"
"""The recorded hour the NATS benches replay (in ``--data``)."""


def free_port() -> int:
    """Return a free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeProcess:
    """One ``python -m transport.process.cli run --role ROLE --nats URL ...`` with its own state dir and log.

    Args:
        tmp: scratch folder (state dir ``tmp/<name>``, log ``tmp/<name>.log``).
        name: node name.
        role: ``all``, ``venue-host``, ``aggregator`` or ``edge``.
        urls: NATS seed URLs (none for an ``all`` node without NATS).
        secret: the desk's JWT secret.
        extra: more ``run`` arguments (``--replay FILE --speed 20``).
        env: more environment variables of the process (``TICKSTAGE_SIM_DROP_COPY``).
        stages: stamp the order path into this file (JSON lines, written at exit: perf/_node_stages.py), each
            stamp prefixed with ``<name>.``; None: the plain ``transport.process.cli`` entry point.
    """

    def __init__(self, tmp: Path, name: str, role: str, urls: list[str], secret: str, *extra: str,
                 env: dict[str, str] | None = None, stages: Path | None = None) -> None:
        self.name = name
        self.stages = stages
        self.port = free_port()
        state = tmp / name
        state.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TICKSTAGE_STATE_DIR": str(state), "TICKSTAGE_JWT_SECRET": secret, **(env or {})}
        entry = ["-m", "transport.process.cli"]
        if stages is not None:
            entry = [str(Path(__file__).with_name("_node_stages.py"))]
            env.update({"TICKSTAGE_STAGES_FILE": str(stages), "TICKSTAGE_STAGES_PREFIX": f"{name}."})
        self._log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, *entry,
             "--log-level", os.environ.get(NODE_LOG_LEVEL_ENV, "warning"), "run", "--role", role,
             *(["--nats", *urls] if urls else []), "--port", str(self.port), *extra],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    async def wait_healthy(self, timeout_s: float = 30.0) -> None:
        """Return once ``/healthz`` answers 200.

        Raises:
            RuntimeError: the process exited.
            TimeoutError: not healthy within ``timeout_s``.
        """
        async with aiohttp.ClientSession() as http, asyncio.timeout(timeout_s):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"node {self.name} exited with {self.process.returncode}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        """Terminate (kill after 10 s) and close the log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def admin_headers() -> dict[str, str]:
    """The HTTP headers of an admin (``ops``) of desks started with :data:`SECRET`."""
    from transport.signin.auth import mint_token

    return {"Authorization": f"Bearer {mint_token(SECRET, 'ops', 'admin')}"}


async def wait_for(port: int, path: str, ready, timeout_s: float = 30.0) -> None:
    """Poll ``GET <path>`` of the node on ``port`` (as an admin) until ``ready(json body)`` (bounded)."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(timeout_s):
        while True:
            async with http.get(f"http://127.0.0.1:{port}{path}", headers=admin_headers()) as response:
                if ready(await response.json()):
                    return
            await asyncio.sleep(0.1)


async def wait_group(port: int, group: str) -> None:
    """Wait until the node on ``port`` lists ``group``."""
    await wait_for(port, "/api/groups", lambda body: group in [g["name"] for g in body["groups"]])
