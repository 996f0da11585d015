"""A /ws test client given several edge node URLs: when its socket dies it goes to the next one.

On a new socket it authenticates and subscribes its groups again; the
aggregator's snapshot then resumes the stream (sequence gap → snapshot). Orders are the
caller's to retry with the same client order id (:meth:`FailoverClient.submit`).
"""

from __future__ import annotations

import asyncio
import math

import aiohttp

import schemas
from tests.conftest import read_server_message
from transport.edge.client import client_message


class FailoverClient:
    """One trader's socket over a list of edge nodes.

    Args:
        http: an aiohttp client session.
        urls: ``ws://host:port/ws`` of every edge node, in preference order.
        token: the trader's JWT.
        groups: groups to (re-)subscribe on every socket.
    """

    def __init__(self, http: aiohttp.ClientSession, urls: list[str], token: str, groups: list[str]) -> None:
        self.http = http
        self.urls = list(urls)
        self.token = token
        self.groups = list(groups)
        self.index = 0
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.connects = 0
        self._ids = 0
        self.symbols: dict[str, list[str]] = {}
        self.last_prices: dict[str, float] = {}
        """vt_symbol → latest last price seen in a frame."""

    @property
    def url(self) -> str:
        """The URL of the current (or next) socket."""
        return self.urls[self.index % len(self.urls)]

    async def connect(self, timeout_s: float = 15.0) -> None:
        """Open a socket on the first gateway that answers, from the current one on (bounded)."""
        async with asyncio.timeout(timeout_s):
            while True:
                try:
                    self.ws = await asyncio.wait_for(
                        self.http.ws_connect(self.url, max_msg_size=64 * 1024 * 1024), 2.0)
                    await self._send(auth={"token": self.token})
                    if self.groups:
                        await self._send(subscribe={"groups": self.groups})
                    self.connects += 1
                    return
                except (aiohttp.ClientError, OSError, ConnectionError, TimeoutError):
                    self.index += 1
                    await asyncio.sleep(0.1)

    async def _send(self, **member) -> int:
        self._ids += 1
        await self.ws.send_bytes(client_message(self._ids, **member))
        return self._ids

    async def send(self, **member) -> int:
        """Send a ClientMessage; on a dead socket move to the next gateway first."""
        try:
            return await self._send(**member)
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            await self._failover()
            return await self._send(**member)

    async def _failover(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        self.index += 1
        await self.connect()

    async def recv(self, timeout_s: float = 5.0) -> tuple[dict, bytes]:
        """Return the next ServerMessage (as a dict, and its bytes); fail over on a closed socket."""
        async with asyncio.timeout(timeout_s):
            while True:
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.BINARY:
                    message = read_server_message(msg.data)
                    self._observe(message)
                    return message, msg.data
                await self._failover()

    def _observe(self, message: dict) -> None:
        if message["which"] == "groupInfo":
            symbols = self.symbols.setdefault(message["group"], [])
            symbols[message["firstIndex"]:] = [i["vtSymbol"] for i in message["instruments"]]
        elif message["which"] == "groupFrame":
            symbols = self.symbols.get(message["group"], [])
            columns = message["columns"]
            for index, price in zip(columns["indexes"].tolist(), columns["lastPrices"].tolist()):
                if index < len(symbols) and math.isfinite(price) and price > 0:
                    self.last_prices[symbols[index]] = price

    async def recv_until(self, predicate, timeout_s: float = 10.0) -> dict:
        """Return the first message for which ``predicate(message)`` holds (bounded)."""
        async with asyncio.timeout(timeout_s):
            while True:
                message, _ = await self.recv(timeout_s)
                if predicate(message):
                    return message

    async def frames(self, group: str, seconds: float) -> dict[int, bytes]:
        """Return seq → bytes of the group's delta frames received for ``seconds``."""
        found: dict[int, bytes] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            try:
                message, data = await self.recv(max(0.05, deadline - loop.time()))
            except TimeoutError:
                break
            if message["which"] == "groupFrame" and message["group"] == group and message["kind"] == "delta":
                found[message["seq"]] = data
        return found

    async def submit(self, order: dict, timeout_s: float = 30.0, attempt_s: float = 5.0,
                     final_unknown: bool = False) -> tuple[dict, int]:
        """Submit ``order`` (a ``submitOrder`` body) until a decided reply comes; return it and the attempts.

        Every attempt carries the same client order id, through whichever
        gateway is up: the order host sends it once whatever the attempts.
        ``outcomeUnknown`` is retried; with ``final_unknown`` one decided by the
        order actor itself (envelope source ``orders/<account>``: an order it
        closed as unknown to the venue) is returned, only an edge's "no answer
        in time" (source ``nats-orders``) is retried.
        """
        client_order_id = order["clientOrderId"]
        attempts = 0
        async with asyncio.timeout(timeout_s):
            while True:
                attempts += 1
                await self.send(submitOrder=order)
                try:
                    reply = await self.recv_until(
                        lambda m: m["which"] == "orderReply" and m["clientOrderId"] == client_order_id,
                        timeout_s=attempt_s)
                except TimeoutError:
                    continue
                if reply["status"] != "outcomeUnknown" or (
                        final_unknown and reply["envelope"]["source"].startswith("orders/")):
                    return reply, attempts

    async def close(self) -> None:
        """Close the socket."""
        if self.ws is not None:
            await self.ws.close()


def is_frame(data: bytes) -> bool:
    """Return whether ServerMessage bytes hold a group frame."""
    with schemas.stream.ServerMessage.from_bytes(data) as message:
        return message.which() == "groupFrame"


__all__ = ["FailoverClient", "is_frame"]
