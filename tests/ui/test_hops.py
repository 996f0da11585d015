"""Latency per hop in the browser's code (issue 14): ui/hops.js, the hop rings of ui/metrics.js, ui/feed.js."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.ui.test_feed import NOW_MS, Script, _rows
from tests.ui.ui_frames import group_frame_bytes, group_info_bytes, run_node_script, simple_bytes

import schemas

HARNESS = Path(__file__).resolve().parent / "hops_harness.mjs"


def _run(tmp_path: Path, **case) -> dict:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case), encoding="utf-8")
    return run_node_script(HARNESS, str(path))


def test_frame_hops_when_stamps_known_then_each_hop_corrected_for_its_clocks(tmp_path):
    """exchange → venue subtracts the skew; built → decoded adds the browser's offset to the desk's clock."""
    result = _run(tmp_path, frames=[
        {"exchangeMs": 1_000.0, "venueMs": 5_000_030.0, "skewMs": 4_999_000.0, "builtMs": 5_000_050.0,
         "decodedMs": 5_000_040.0, "offsetMs": 25.0},
        {"exchangeMs": 1_000.0, "venueMs": 2_000.0, "skewMs": 0, "builtMs": 2_010.0, "decodedMs": 2_020.0},
    ])
    assert result["frames"][0] == {"exchange_venue": 30.0, "venue_built": 20.0, "built_decoded": 15.0}
    assert result["frames"][1]["exchange_venue"] == "NaN", "no skew measured: the hop is not guessed"
    assert result["frames"][1]["venue_built"] == 10.0 and result["frames"][1]["built_decoded"] == 10.0


def test_clock_offset_when_pongs_then_offset_of_the_least_round_trip(tmp_path):
    """offset = server − midpoint of send and receive, from the fastest of the last exchanges."""
    result = _run(tmp_path, pongs=[[0, 1_000 + 50, 100], [200, 1_200 + 12, 210], [300, 0, 310], [400, 1, 390]])
    assert result["clock"] == {"offsetMs": 1_007, "roundTripMs": 10, "known": True}


def test_hop_rings_when_samples_then_p50_p95_p99_over_the_last_10_s(tmp_path):
    """Each hop's ring gives p50/p95/p99 by nearest rank; samples older than 10 s are out."""
    samples = [["venue_built", float(v), 20_000.0] for v in range(1, 101)]
    samples += [["venue_built", 9_999.0, 5_000.0]]  # 15 s before ringsAtMs: out of the window
    samples += [["tick_painted", 40.0, 20_000.0]]
    result = _run(tmp_path, rings=samples, ringsAtMs=20_000.0)
    rings = result["rings"]
    assert rings["venue_built"] == {"p50_ms": 51, "p95_ms": 96, "p99_ms": 100, "samples": 100}
    assert rings["tick_painted"] == {"p50_ms": 40, "p95_ms": 40, "p99_ms": 40, "samples": 1}
    assert rings["exchange_venue"] == {"p50_ms": None, "p95_ms": None, "p99_ms": None, "samples": 0}
    assert set(rings) == {"exchange_venue", "venue_built", "built_decoded", "decoded_painted", "tick_painted"}


def test_frame_painted_when_ticks_applied_then_paint_hops_share_one_paint_time(tmp_path):
    """tick → paint (offset-corrected) and decoded → painted of one frame differ by decoded + offset − venue."""
    result = _run(tmp_path, applied={"gatewayMs": [1_000.0, 2_000.0], "decodedMs": [1_030.0, 2_005.0],
                                     "offsetMs": 4.0})
    painted = result["painted"]
    tick, decoded = painted["tick_painted"], painted["decoded_painted"]
    assert len(tick) == len(decoded) == 2
    assert [round(t - d, 6) for t, d in zip(tick, decoded, strict=True)] == [34.0, 9.0]
    assert result["paintMs"] == tick, "the HUD's TICK→PAINT is the corrected end-to-end hop"


def test_format_skew_when_years_or_ms_then_readable(tmp_path):
    """A replay's skew of years reads in days; small skews in s or ms, signed."""
    result = _run(tmp_path, skews=[283_000_000_123.0, -1_500.0, 12.34, None])
    assert result["skews"] == ["+3275 d 11:06:40 (replay)", "−1.500 s", "+12.3 ms", "–"]


def test_feed_when_pong_and_delta_then_posts_hop_samples_offset_skew_and_socket_send(tmp_path):
    """The worker turns a delta's stamps into one sample per hop, corrected by the pong's offset and the frame's
    skew; the rows post carries them, each batch's decode times, the offset and the desk's built → sent figures."""
    ns = lambda ms: int(round(ms * 1e6))  # noqa: E731
    pong = simple_bytes("pong", clientTsNs=ns(NOW_MS - 4), socketSend={
        "p50Ns": 2_000_000, "p95Ns": 3_000_000, "p99Ns": 9_000_000, "samples": 40})
    with schemas.stream.ServerMessage.from_bytes(pong) as reader:
        message = reader.as_builder()
    message.envelope.sentTsNs = ns(NOW_MS - 2 + 5)  # desk 5 ms ahead of the browser
    gateway_ms = NOW_MS - 7
    result = (Script(tmp_path).live("rb")
              .frame(group_info_bytes("rb", ["rb1801", "rb1805"]))
              .frame(group_frame_bytes(_rows([0, 1], [3900.0, 3910.0], gateway_ms), kind="snapshot", seq=1))
              .frame(message.to_bytes())
              .frame(group_frame_bytes(_rows([1], [3911.0], gateway_ms), kind="delta", seq=2,
                                       built_ts_ns=ns(NOW_MS - 3), exchange_skew_ns=ns(40)))
              .do("flush").run())
    rows = [post for post in result["posts"] if post["type"] == "rows"][-1]
    assert rows["hopsMs"] == {"exchange_venue": [pytest.approx(10.0, abs=0.01)],  # ns → ms: µs precision
                              "venue_built": [pytest.approx(4.0, abs=0.01)],
                              "built_decoded": [pytest.approx(8.0, abs=0.01)]}
    assert rows["batches"][0]["decodedMs"] == [NOW_MS]
    stats = rows["stats"]
    assert stats["clockOffsetMs"] == pytest.approx(5.0, abs=0.01)
    assert stats["clockRoundTripMs"] == pytest.approx(4.0, abs=0.01)
    assert stats["exchangeSkewMs"] == {"rb": pytest.approx(40.0)}
    assert stats["socketSend"] == {"p50Ms": 2.0, "p95Ms": 3.0, "p99Ms": 9.0, "samples": 40}
