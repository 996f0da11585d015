"""Hostile input: hypothesis on the frame decoder, then ≥ 100,000 seeded hostile frames over real sockets."""

from __future__ import annotations

import gc
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import ActorState
from perf.fuzz_frames import HostileFrames, client_message, fuzz_sockets, rss_bytes
from tests.transport.conftest import wait_groups
from transport.signin.auth import mint_token
from transport.errors import FrameRefusedError
from transport.edge.inbound import GROUP_NAME_CHARS, read_client_frame
from transport.edge.limits import SocketLimits

LIMITS = SocketLimits()
SOCKET_SERVER_CODES = {"malformed", "tooLarge", "limitExceeded"}
FUZZ_FRAMES = int(os.environ.get("TICKSTAGE_FUZZ_FRAMES", "100000"))
"""Hostile frames of the socket fuzz (CI: 100,000; perf/fuzz_stream.py runs millions)."""
FUZZ_SOCKETS = 8
RSS_BOUND_BYTES = 96 * 1024 * 1024
"""Most the process may grow over the fuzz: generous against allocator noise, far below a leak
of per-frame state (100,000 frames × the ~1 KiB a leaked frame or reply would hold)."""
FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
BASES = HostileFrames(1).bases


def _decode(data: bytes):
    try:
        return read_client_frame(data, LIMITS)
    except FrameRefusedError as refused:
        assert refused.code in SOCKET_SERVER_CODES, refused.code
        return None


@FUZZ
@given(st.binary(max_size=1024))
def test_read_client_frame_when_random_bytes_then_decoded_or_refused_with_code(data):
    """Random bytes decode or are refused with a socket server code; nothing else escapes."""
    _decode(data)


@FUZZ
@given(st.sampled_from(BASES), st.lists(st.integers(min_value=0), min_size=1, max_size=8), st.integers(0, 1))
def test_read_client_frame_when_bits_flipped_or_truncated_then_decoded_or_refused(base, bits, truncate):
    """Valid messages with flipped bits or cut short decode or are refused with a socket server code."""
    data = bytearray(base)
    for bit in bits:
        bit %= 8 * len(data)
        data[bit // 8] ^= 1 << (bit % 8)
    _decode(bytes(data[: bits[0] % len(data)] if truncate else data))


@FUZZ
@given(st.lists(st.text(max_size=80), max_size=80), st.sampled_from(["subscribe", "unsubscribe"]))
def test_read_client_frame_when_group_lists_arbitrary_then_only_valid_names_pass(groups, member):
    """Decoded group lists hold only bounded names of the allowed charset, at most max_list_items of them."""
    frame = _decode(client_message(1, **{member: {"groups": groups}}))
    if frame is not None:
        assert len(frame.groups) <= LIMITS.max_list_items
        assert all(0 < len(g) <= LIMITS.max_name_chars and GROUP_NAME_CHARS.issuperset(g) for g in frame.groups)


def test_read_client_frame_when_enum_outside_its_enumerants_then_malformed():
    """A submitOrder whose direction enum holds 999 (pycapnp raises RuntimeError reading it) is malformed."""
    data = bytearray(client_message(1, submitOrder={
        "clientOrderId": "c1", "account": "acct-01", "vtSymbol": "rb1801.SHFE", "direction": "short",
        "offset": "closeYesterday", "orderType": "rfq", "price": 3900.0, "volumeLots": 1.0}))
    at = data.find(bytes([1, 0, 4, 0, 5, 0]))
    assert at > 0
    data[at:at + 2] = (999).to_bytes(2, "little")
    try:
        read_client_frame(bytes(data), LIMITS)
    except FrameRefusedError as refused:
        assert refused.code == "malformed"
    else:
        raise AssertionError("an enum outside its enumerants was taken")


ACTOR_CODES = frozenset({"unknownGroup", "unknownContract", "forbidden", "limitExceeded"})
"""Codes an actor may answer a forwarded frame with, besides the socket server's own refusals."""


async def test_fuzz_when_100k_hostile_frames_then_every_actor_survives_counts_match_memory_bounded(
        desk_factory, jwt_secret):
    """≥ 100,000 hostile frames over 8 sockets: the desk and every actor survive, every frame is
    counted by the socket server and answered code for code, and RSS stays under a bound."""
    desk = await desk_factory(limits=SocketLimits(max_bad_frames=10**9, messages_per_s=1e9, message_burst=10**9,
                                                  auth_timeout_s=5.0))
    await wait_groups(desk, 2)
    frames = HostileFrames(seed=20171113, groups=("rb", "IF")).generate(FUZZ_FRAMES)
    tokens = [mint_token(jwt_secret, f"fuzz-{i}", groups=["rb"]) for i in range(FUZZ_SOCKETS)]
    gc.collect()
    rss_before = rss_bytes()

    report = await fuzz_sockets(f"ws://127.0.0.1:{desk.port}/ws", tokens, frames)

    gc.collect()
    rss_growth = rss_bytes() - rss_before
    stats = desk.sockets.statistics()
    assert report.frames_sent == FUZZ_FRAMES and report.closed_early == 0
    # every frame read by the socket server: the hostile ones, plus one auth and one sentinel ping per socket
    assert stats.frames_received == FUZZ_FRAMES + 2 * FUZZ_SOCKETS
    assert stats.frames_received == stats.frames_forwarded + stats.frames_handled + stats.frames_refused
    # every refusal reached its client as an error with the same code; forwarded frames may get more from the
    # actors (unknownGroup from a session; unknownContract, forbidden or limitExceeded for a contract detail
    # or watchlist edit whose list, mutated, still decodes), never more than one per forwarded frame
    assert sum(stats.refused.values()) == stats.frames_refused
    actor_answered = 0
    for code in set(stats.refused) | set(report.errors):
        if code in ACTOR_CODES:
            assert report.errors[code] >= stats.refused.get(code, 0), code
            actor_answered += report.errors[code] - stats.refused.get(code, 0)
        else:
            assert report.errors[code] == stats.refused.get(code, 0), code
    assert actor_answered <= stats.frames_forwarded
    assert {"malformed", "tooLarge", "limitExceeded", "forbidden", "unknownMessage",
            "unauthenticated"} <= set(stats.refused)
    # the process and every actor survive
    runtime = desk.runtime
    assert runtime.root_failure is None
    for entry in runtime.registry.entries():
        assert entry.state is ActorState.RUNNING and entry.restarts == 0, entry
        assert entry.instance is None or entry.instance.statistics().last_error is None, entry.path
    assert rss_growth < RSS_BOUND_BYTES, f"RSS grew {rss_growth / 2**20:.1f} MiB"
    print(f"\nfuzz: {report.frames_sent} frames in {report.seconds:.1f} s ({report.frames_per_s:,.0f}/s), "
          f"errors {dict(report.errors)}, RSS +{rss_growth / 2**20:.1f} MiB")
