"""Helpers for the browser-side tests (`from tests.ui.ui_frames import ...`): pycapnp-written frames, node.

Frames are built the way the server builds them (pycapnp for the structure,
schemas/_columns.py for the bulk columns), so ui/capnp.js is checked against
the bytes the browser will really receive.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import schemas
from schemas._columns import L1_DTYPES, fill_columns, init_columns, pointer_index

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "capnp_harness.mjs"
NODE_TIMEOUT_S = 120
"""Upper bound for one node run; a hang in the reader fails the test instead of blocking CI."""

FRAME_PATH = (
    pointer_index(schemas.stream.ServerMessage, "groupFrame"),
    pointer_index(schemas.market.GroupFrame, "rows"),
)
"""Pointer slots from a ServerMessage root to its GroupFrame's L1Columns."""


def random_columns(n_rows: int, seed: int) -> dict[str, np.ndarray]:
    """Return L1 columns of ``n_rows`` rows (float64 with some NaN, int64 ns around now)."""
    rng = np.random.default_rng(seed)
    columns = {
        name: (rng.normal(3500, 200, n_rows).round(1) if dtype.kind == "f" else None)
        for name, dtype in L1_DTYPES.items()
    }
    columns["indexes"] = rng.permutation(max(n_rows, 1))[:n_rows].astype("<u4")
    columns["lastPrices"][rng.random(n_rows) < 0.1] = np.nan
    columns["exchangeTsNs"] = 1_510_534_800_000_000_000 + rng.integers(0, 10**12, n_rows)
    columns["gatewayRecvTsNs"] = columns["exchangeTsNs"] + rng.integers(0, 10**8, n_rows)
    return {name: values.astype(L1_DTYPES[name]) for name, values in columns.items()}


def envelope(message, message_id: int, correlation_id: int = 0) -> None:
    """Fill a ServerMessage builder's envelope as the server would."""
    env = message.init("envelope")
    env.id = message_id
    env.correlationId = correlation_id
    env.sentTsNs = 1_510_534_800_123_456_789
    env.schemaVersion = schemas.SCHEMA_VERSION
    env.source = "sessions/session/7"


def group_frame_bytes(columns: dict[str, np.ndarray], kind: str = "snapshot", seq: int = 1, group: str = "rb",
                      state_crc32: int | None = None, built_ts_ns: int = 1_510_534_800_200_000_000,
                      exchange_skew_ns: int = 0, epoch: int = 0) -> bytes:
    """Serialize a ServerMessage.groupFrame holding ``columns`` (unpacked bytes); ``state_crc32``: hashed;
    ``epoch``: the aggregator's lease epoch."""
    message = schemas.stream.ServerMessage.new_message()
    frame = message.init("groupFrame")
    frame.group = group
    frame.seq = seq
    frame.kind = kind
    frame.builtTsNs = built_ts_ns
    frame.exchangeSkewNs = exchange_skew_ns
    frame.windowMs = 33
    frame.epoch = epoch
    frame.infoVersion = 1
    if state_crc32 is not None:
        frame.stateCrc32 = state_crc32
        frame.stateHashed = True
    init_columns(frame.init("rows"), len(columns["indexes"]))
    envelope(message, 1000 + seq)
    return fill_columns(message, FRAME_PATH, columns)


def group_info_bytes(group: str, symbols: list[str], version: int = 1, first_index: int = 0) -> bytes:
    """Serialize a ServerMessage.groupInfo listing futures ``symbols`` of SHFE."""
    message = schemas.stream.ServerMessage.new_message()
    info = message.init("groupInfo")
    info.group = group
    info.version = version
    info.firstIndex = first_index
    instruments = info.init("instruments", len(symbols))
    for instrument, symbol in zip(instruments, symbols, strict=True):
        instrument.vtSymbol = f"{symbol}.SHFE"
        instrument.symbol = symbol
        instrument.exchange = "SHFE"
        instrument.product = group
        instrument.productClass = "F"
        instrument.priceTick = 1.0
        instrument.multiplier = 10.0
        instrument.name = f"螺纹钢{symbol[-4:]}"
    envelope(message, 900 + version)
    return message.to_bytes()


def simple_bytes(member: str, correlation_id: int = 0, **fields) -> bytes:
    """Serialize a ServerMessage with union member ``member`` (ack, error, pong) set to ``fields``."""
    message = schemas.stream.ServerMessage.new_message()
    body = message.init(member)
    for name, value in fields.items():
        setattr(body, name, value)
    envelope(message, 77, correlation_id)
    return message.to_bytes()


def segment_count(buf: bytes) -> int:
    """Number of segments in an unpacked message."""
    return struct.unpack_from("<I", buf, 0)[0] + 1


def _message(segments: list[bytes]) -> bytes:
    table = struct.pack(f"<I{len(segments)}I", len(segments) - 1, *(len(s) // 8 for s in segments))
    table += b"\0" * (-len(table) % 8)
    return table + b"".join(segments)


def _far(segment: int, word: int, double: bool) -> bytes:
    return struct.pack("<II", (word << 3) | (int(double) << 2) | 2, segment)


def with_far_root(buf: bytes, double: bool) -> bytes:
    """Re-encode a single-segment message so its root is reached via a (double-)far pointer.

    Single far: segment 0 = [far → segment 1 word 0], segment 1 = the original
    segment (whose first word is the root pointer, the landing pad). Double far:
    segment 1 = [far → segment 2 word 1, tag = the root pointer with offset 0],
    segment 2 = the original segment. Pointers inside the original segment are
    relative, so they stay valid.
    """
    assert segment_count(buf) == 1
    original = buf[8:]
    if not double:
        return _message([_far(1, 0, False), original])
    (root_lo, root_hi) = struct.unpack_from("<II", original, 0)
    assert root_lo >> 2 == 0, "root struct must follow its pointer"
    tag = struct.pack("<II", root_lo & 3, root_hi)
    return _message([_far(1, 0, True), _far(2, 1, False) + tag, original])


def canonical(value):
    """Normalize decoded values for comparison: "12n" → 12, NaN → "NaN", tuples → lists."""
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [canonical(item) for item in value]
    if isinstance(value, str) and value.endswith("n") and value[:-1].lstrip("-").isdigit():
        return int(value[:-1])
    if isinstance(value, float) and not np.isfinite(value):
        return str(value).replace("nan", "NaN").replace("inf", "Infinity")
    return value


def pycapnp_dict(buf: bytes, root) -> dict:
    """Decode with pycapnp (explicit limits) into a canonical verbose dict."""
    with root.from_bytes(
        buf, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS, nesting_limit=schemas.NESTING_LIMIT
    ) as reader:
        return canonical(reader.to_dict(verbose=True))


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (v20+) is required on PATH to test ui/*.js")
    return node


def run_node(*args: str) -> object:
    """Run the harness with ``args`` under a bounded timeout; return its parsed JSON output."""
    completed = subprocess.run(
        [_node(), str(HARNESS), *args], capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def run_node_script(script: Path, *args: str) -> object:
    """Run another node script of tests/ui under the same timeout; return its JSON output."""
    completed = subprocess.run(
        [_node(), str(script), *args], capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def stop_server(process: subprocess.Popen, reader) -> None:
    """Stop a ``tickstage run`` subprocess (terminate, kill after 20 s), join its output reader, close the pipe."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    reader.join(timeout=10)
    process.stdout.close()
