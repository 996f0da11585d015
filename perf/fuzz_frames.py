"""Hostile client frames for ``/ws`` and a driver that sends them over several sockets.

Shared by ``perf/fuzz_stream.py`` (the long run) and
``tests/transport/edge/test_fuzz.py`` (≥ 100,000 frames in CI, imported as
``perf.fuzz_frames``); it imports only the packages, never perf's other
modules. Frames are pre-generated from a seeded :class:`random.Random`, most
of them tiny:

========================  ===================================================================
kind                      what
========================  ===================================================================
``random``                random bytes, 0–64 bytes mostly, up to 4 KiB sometimes
``aligned``               random words behind a plausible segment table
``truncated``             a valid ClientMessage cut short
``bitflip``               a valid ClientMessage with 1–8 bits flipped
``huge_segments``         a segment table claiming up to 2^32 segments or 2^32-word segments
``huge_list``             a list pointer claiming up to 2^29 elements (pointer, byte, composite)
``huge_struct``           a root struct pointer claiming 65,535 data and pointer words
``far_pointer``           a root far pointer (single or double) to a missing segment or offset
``bad_union``             a valid message whose union discriminant names no member
``wrong_contents``        decodable, wrong: bad group names, long lists, long texts, bad tokens
``valid``                 well-formed ping / subscribe / unsubscribe / snapshotRequest
``text``                  a text frame
``oversize``              65–80 KiB of bytes (over the 64 KiB limit)
========================  ===================================================================
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

import schemas
from transport.edge.client import client_message as edge_client_message

KIND_WEIGHTS: dict[str, int] = {
    "random": 20, "aligned": 8, "truncated": 12, "bitflip": 14, "huge_segments": 6, "huge_list": 6,
    "huge_struct": 3, "far_pointer": 4, "bad_union": 3, "wrong_contents": 12, "valid": 8, "text": 3,
    "oversize": 1,
}
"""Relative weight of each kind of frame (``oversize`` is ~1 %: it is the only big one)."""

SENTINEL_TS_NS = -424242
"""``ping.clientTsNs`` of the last frame of every socket: its pong means every frame before was handled."""


def client_message(message_id: int = 1, source: str = "fuzz", **member) -> bytes:
    """Return a ClientMessage with ``member`` set and an envelope, as bytes (:mod:`transport.edge.client`)."""
    return edge_client_message(message_id, source=source, **member)


class HostileFrames:
    """A seeded generator of hostile frames.

    Args:
        seed: RNG seed; the same seed gives the same frames.
        groups: real group names the valid messages name (``("rb", "IF")``).
    """

    def __init__(self, seed: int, groups: tuple[str, ...] = ("rb", "IF")) -> None:
        self.rng = random.Random(seed)
        self.groups = groups
        rng = self.rng
        self.valid = [
            client_message(1, ping={"clientTsNs": 1}),
            client_message(2, subscribe={"groups": [groups[0]]}),
            client_message(3, subscribe={"groups": list(groups)}),
            client_message(4, subscribe={"groups": ["no-such-group"]}),
            client_message(5, unsubscribe={"groups": [groups[0]]}),
            client_message(6, snapshotRequest={"group": groups[0]}),
            client_message(7, snapshotRequest={"group": "no-such-group"}),
            client_message(8, subscribe={"groups": []}),
        ]
        self.wrong = [
            client_message(10, subscribe={"groups": ["bad name!"]}),
            client_message(11, subscribe={"groups": ["é"]}),
            client_message(12, subscribe={"groups": [""]}),
            client_message(13, subscribe={"groups": ["x" * 200]}),
            client_message(14, subscribe={"groups": ["g"] * 300}),
            client_message(15, unsubscribe={"groups": ["g"] * 65}),
            client_message(16, snapshotRequest={"group": "../../etc/passwd"}),
            client_message(17, refresh={"token": "not-a-jwt"}),
            client_message(18, refresh={"token": "e30.e30." + "A" * 40}),
            client_message(19, refresh={"token": "t" * 9000}),
            client_message(20, auth={"token": "again"}),
            client_message(21, ping={"clientTsNs": 1}, source="s" * 2000),
            client_message(22, ping={"clientTsNs": -1}, source="\u2603" * 50),
        ]
        self.lists = [client_message(30 + n, subscribe={"groups": ["ab"] * n}) for n in (1, 3, 7)]
        self.bases = self.valid + self.wrong
        self._makers = {kind: getattr(self, f"_{kind}") for kind in KIND_WEIGHTS}
        self._kinds = list(KIND_WEIGHTS)
        self._weights = list(KIND_WEIGHTS.values())
        self._rng_bytes = lambda n: rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""

    def generate(self, n: int) -> list[tuple[str, bytes | str]]:
        """Return ``n`` frames as (kind, payload); ``str`` payloads go as text frames."""
        kinds = self.rng.choices(self._kinds, self._weights, k=n)
        return [(kind, self._makers[kind]()) for kind in kinds]

    # -- kinds ------------------------------------------------------------------------------

    def _random(self) -> bytes:
        rng = self.rng
        return self._rng_bytes(rng.randint(0, 64) if rng.random() < 0.95 else rng.randint(65, 4096))

    def _aligned(self) -> bytes:
        words = self.rng.randint(1, 16)
        return struct.pack("<II", 0, words) + self._rng_bytes(8 * words)

    def _truncated(self) -> bytes:
        base = self.rng.choice(self.bases)
        return base[: self.rng.randrange(len(base))]

    def _bitflip(self) -> bytes:
        data = bytearray(self.rng.choice(self.bases))
        for _ in range(self.rng.randint(1, 8)):
            bit = self.rng.randrange(8 * len(data))
            data[bit // 8] ^= 1 << (bit % 8)
        return bytes(data)

    def _huge_segments(self) -> bytes:
        rng = self.rng
        base = rng.choice(self.valid)
        count_minus_one = rng.choice((0xFFFFFFFF, 0x7FFFFFFF, 511, 1, rng.getrandbits(32)))
        size = rng.choice((0xFFFFFFFF, 0x1FFFFFFF, rng.getrandbits(32), (len(base) - 8) // 8))
        return struct.pack("<II", count_minus_one, size) + base[8:]

    def _huge_list(self) -> bytes:
        rng = self.rng
        data = bytearray(rng.choice(self.lists))
        # the Subscribe.groups pointer: a list pointer (tag 1) of pointers (element size 6)
        for offset in range(8, len(data) - 7, 8):
            (word,) = struct.unpack_from("<Q", data, offset)
            if word & 3 == 1 and (word >> 32) & 7 == 6:
                element_size = rng.choice((6, 6, 2, 5, 7))
                count = rng.choice(((1 << 29) - 1, 1 << 28, rng.getrandbits(29), 100_000))
                word = (word & 0xFFFFFFFF) | (element_size << 32) | (count << 35)
                struct.pack_into("<Q", data, offset, word)
                break
        if rng.random() < 0.3:  # composite list: also forge a tag word claiming a huge element count
            struct.pack_into("<Q", data, len(data) - 8, (rng.getrandbits(30) << 2) | (0xFFFF << 32))
        return bytes(data)

    def _huge_struct(self) -> bytes:
        data = bytearray(self.rng.choice(self.valid))
        struct.pack_into("<Q", data, 8, (0xFFFF << 32) | (0xFFFF << 48) | (self.rng.getrandbits(30) << 2))
        return bytes(data)

    def _far_pointer(self) -> bytes:
        rng = self.rng
        data = bytearray(rng.choice(self.valid))
        double = rng.getrandbits(1)
        segment = rng.choice((0, 1, 0xFFFFFFFF, rng.getrandbits(32)))
        word = 2 | (double << 2) | (rng.getrandbits(29) << 3) | (segment << 32)
        struct.pack_into("<Q", data, 8, word)
        return bytes(data)

    def _bad_union(self) -> bytes:
        data = bytearray(self.rng.choice(self.valid))
        struct.pack_into("<H", data, 16, self.rng.randint(7, 0xFFFF))  # root struct's first data word
        return bytes(data)

    def _wrong_contents(self) -> bytes:
        return self.rng.choice(self.wrong)

    def _valid(self) -> bytes:
        return self.rng.choice(self.valid)

    def _text(self) -> str:
        return "".join(chr(self.rng.randint(32, 0x2FF)) for _ in range(self.rng.randint(0, 40)))

    def _oversize(self) -> bytes:
        return self._rng_bytes(self.rng.randint(65 * 1024 + 1, 80 * 1024))


@dataclass
class FuzzReport:
    """What the fuzz clients saw.

    Attributes:
        frames_sent: hostile frames sent (auth and the sentinel pings not included).
        sockets: sockets used.
        seconds: wall time from the first send to the last sentinel pong, s.
        kinds: frames sent per kind.
        errors: ``error`` replies received, per ``ErrorCode`` name.
        replies: replies received per ServerMessage member.
        closed_early: sockets the server closed before their sentinel pong.
    """

    frames_sent: int = 0
    sockets: int = 0
    seconds: float = 0.0
    kinds: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    replies: Counter = field(default_factory=Counter)
    closed_early: int = 0

    @property
    def frames_per_s(self) -> float:
        """Hostile frames per second, over all sockets."""
        return self.frames_sent / self.seconds if self.seconds else 0.0


async def fuzz_sockets(url: str, tokens: list[str], frames: list[tuple[str, bytes | str]],
                       timeout_s: float = 300.0) -> FuzzReport:
    """Send ``frames`` round-robin over one authenticated socket per token and count the replies.

    Each socket sends its share without waiting, then a sentinel ping; it is done
    when the sentinel's pong arrives (every earlier frame was handled by then).

    Raises:
        TimeoutError: a socket was not done within ``timeout_s``.
    """
    report = FuzzReport(sockets=len(tokens))
    chunks = [frames[i::len(tokens)] for i in range(len(tokens))]
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*(_one_socket(http, url, token, chunk, report)
                                   for token, chunk in zip(tokens, chunks, strict=True)))
    report.seconds = time.perf_counter() - started
    return report


async def _one_socket(http: aiohttp.ClientSession, url: str, token: str,
                      frames: list[tuple[str, bytes | str]], report: FuzzReport) -> None:
    async with http.ws_connect(url, max_msg_size=64 * 1024 * 1024) as ws:
        await ws.send_bytes(client_message(0, auth={"token": token}))
        first = await ws.receive()
        with schemas.stream.ServerMessage.from_bytes(first.data) as message:
            assert message.which() == "ack", "fuzz socket not authenticated"
        reader = asyncio.create_task(_read_until_sentinel(ws, report))
        try:
            for kind, payload in frames:
                if isinstance(payload, str):
                    await ws.send_str(payload)
                else:
                    await ws.send_bytes(payload)
                report.kinds[kind] += 1
                report.frames_sent += 1
            await ws.send_bytes(client_message(1 << 62, ping={"clientTsNs": SENTINEL_TS_NS}))
        except ConnectionError:
            pass  # the server closed the socket: the reader counts it as closed early
        await reader


async def _read_until_sentinel(ws, report: FuzzReport) -> None:
    while True:
        msg = await ws.receive()
        if msg.type != aiohttp.WSMsgType.BINARY:
            report.closed_early += 1
            return
        with schemas.stream.ServerMessage.from_bytes(msg.data) as message:
            member = message.which()
            report.replies[member] += 1
            if member == "error":
                report.errors[str(message.error.code)] += 1
            elif member == "pong" and message.pong.clientTsNs == SENTINEL_TS_NS:
                return


def rss_bytes() -> int:
    """Resident set size of this process, bytes (``/proc/self/statm``; Linux)."""
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


__all__ = ["FuzzReport", "HostileFrames", "KIND_WEIGHTS", "SENTINEL_TS_NS", "client_message", "fuzz_sockets",
           "rss_bytes"]
