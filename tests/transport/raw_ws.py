"""A WebSocket client on a raw TCP socket with a small receive buffer: it can stop reading for real.

aiohttp's client keeps reading into its own queue; this one leaves bytes in the
kernel (``SO_RCVBUF`` 4 KiB, and a StreamReader that pauses past 8 KiB), so the
server's writes back up at once.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct


class RawWebSocket:
    """Binary frames over a hand-made RFC 6455 connection (client frames masked)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, path: str = "/ws", receive_buffer_bytes: int = 4096) -> RawWebSocket:
        """Open ``ws://127.0.0.1:port/path`` and read the 101 answer (bounded)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        # a small StreamReader limit: it stops reading the kernel past 2 × limit buffered bytes
        reader, writer = await asyncio.open_connection(sock=sock, limit=receive_buffer_bytes)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        if not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError(head.decode(errors="replace"))
        return cls(reader, writer)

    async def send(self, payload: bytes) -> None:
        """Send one masked binary frame."""
        mask = os.urandom(4)
        size = len(payload)
        head = bytes([0x82]) + (bytes([0x80 | size]) if size < 126 else
                                bytes([0x80 | 126]) + struct.pack("!H", size) if size < 1 << 16 else
                                bytes([0x80 | 127]) + struct.pack("!Q", size))
        self.writer.write(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        await self.writer.drain()

    async def recv(self, timeout_s: float = 10.0) -> bytes | None:
        """Return the next data frame's payload; ``None`` on a close frame or EOF."""
        async with asyncio.timeout(timeout_s):
            while True:
                first, second = await self.reader.readexactly(2)
                size = second & 0x7F
                if size == 126:
                    size = struct.unpack("!H", await self.reader.readexactly(2))[0]
                elif size == 127:
                    size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
                payload = await self.reader.readexactly(size)
                opcode = first & 0x0F
                if opcode == 0x8:
                    return None
                if opcode in (0x1, 0x2):
                    return payload

    def close(self) -> None:
        """Close the TCP connection."""
        self.writer.close()


__all__ = ["RawWebSocket"]
