"""ui/feed.js (the worker's protocol state) driven in node with frames written by pycapnp."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from tests.ui.ui_frames import group_frame_bytes, group_info_bytes, pycapnp_dict, run_node_script, simple_bytes

import schemas
from schemas._columns import L1_DTYPES

HARNESS = Path(__file__).resolve().parent / "feed_harness.mjs"
NOW_MS = 1_510_534_800_500.0
SYMBOLS = ["rb1801", "rb1805", "rb1810"]


def _rows(indexes: list[int], last: list[float], gateway_ms: float = NOW_MS - 7) -> dict[str, np.ndarray]:
    """L1 columns for ``indexes``: given last prices, bid = last - 1, ask = last + 1, volumes from the index."""
    n = len(indexes)
    last_prices = np.array(last, dtype="<f8")
    columns = {
        "indexes": np.array(indexes, dtype="<u4"),
        "lastPrices": last_prices,
        "bidPrices": last_prices - 1,
        "askPrices": last_prices + 1,
        "bidVolumesLots": np.full(n, 10.0),
        "askVolumesLots": np.full(n, 20.0),
        "volumesLots": np.array(indexes, dtype="<f8") * 100,
        "openInterestsLots": np.full(n, 5000.0),
        "exchangeTsNs": np.full(n, int((gateway_ms - 50) * 1e6)),
        "gatewayRecvTsNs": np.full(n, int(gateway_ms * 1e6)),
    }
    return {name: values.astype(L1_DTYPES[name]) for name, values in columns.items()}


class Script:
    """Builds a feed_harness.mjs script: steps plus the frame files they read."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.steps: list[dict] = []

    def do(self, action: str, **fields) -> Script:
        self.steps.append({"do": action, **fields})
        return self

    def frame(self, buf: bytes) -> Script:
        path = self.tmp_path / f"frame{len(self.steps)}.bin"
        path.write_bytes(buf)
        return self.do("frame", file=str(path))

    def live(self, *groups: str) -> Script:
        """Subscribe ``groups``, open, and acknowledge auth (ids: auth 1, subscribes 2, 3, ...)."""
        return self.do("subscribe", groups=list(groups)).do("open", token="T").frame(
            simple_bytes("ack", correlation_id=1, of="auth")
        )

    def run(self) -> dict:
        path = self.tmp_path / "script.json"
        path.write_text(json.dumps({"nowMs": NOW_MS, "steps": self.steps}), encoding="utf-8")
        return run_node_script(HARNESS, str(path))


def _sent(result: dict) -> list[dict]:
    return [pycapnp_dict(bytes.fromhex(item), schemas.stream.ClientMessage) for item in result["sent"]]


def _last(rows: list[dict]) -> list[float | None]:
    return [None if row["last"] == "NaN" else row["last"] for row in rows]


def test_feed_when_auth_acknowledged_then_subscribes_each_wanted_group_in_its_own_message(tmp_path):
    """Auth goes first with the token; after ack(auth) each group gets one subscribe."""
    result = Script(tmp_path).do("subscribe", groups=["rb"]).do("open", token="tok").do(
        "subscribe", groups=["m"]
    ).frame(simple_bytes("ack", correlation_id=1, of="auth")).run()

    sent = _sent(result)
    assert sent[0]["auth"] == {"token": "tok"}
    assert [message.get("subscribe") for message in sent[1:]] == [{"groups": ["rb"]}, {"groups": ["m"]}]
    assert [message["envelope"]["id"] for message in sent] == [1, 2, 3]
    assert all(message["envelope"]["schemaVersion"] == schemas.SCHEMA_VERSION for message in sent)
    assert result["stats"]["connected"] is True


def test_feed_when_delta_seq_skips_then_counts_gap_requests_snapshot_and_ignores_deltas_until_snapshot(tmp_path):
    """seq 6 → 8 is a gap: one snapshotRequest, the next delta ignored, state restored by the snapshot."""
    script = Script(tmp_path).live("rb").frame(group_info_bytes("rb", SYMBOLS))
    script.frame(group_frame_bytes(_rows([0, 1, 2], [3500, 3510, 3520]), kind="snapshot", seq=5))
    script.frame(group_frame_bytes(_rows([1], [3511]), kind="delta", seq=6))
    script.frame(group_frame_bytes(_rows([2], [9999]), kind="delta", seq=8))
    script.frame(group_frame_bytes(_rows([0], [8888]), kind="delta", seq=9))
    script.do("rows", group="rb-during-gap")
    script.frame(group_frame_bytes(_rows([0, 1, 2], [3502, 3512, 3522]), kind="snapshot", seq=9))
    script.frame(group_frame_bytes(_rows([1], [3513]), kind="delta", seq=10))
    result = script.do("rows", group="rb").run()

    requests = [message["snapshotRequest"] for message in _sent(result) if "snapshotRequest" in message]
    assert requests == [{"group": "rb"}]
    assert (result["stats"]["gaps"], result["stats"]["ignoredDeltas"]) == (1, 1)
    assert _last(result["rows"]["rb"]) == [3502, 3513, 3522]
    assert [row["vtSymbol"] for row in result["rows"]["rb"]] == [f"{s}.SHFE" for s in SYMBOLS]


def test_feed_when_epoch_changes_then_resyncs_by_snapshot_and_drops_the_old_epoch(tmp_path):
    """Issue 16: a delta of a newer aggregator epoch is a resync (one snapshotRequest, ignored, even at seq + 1);
    the new epoch's snapshot restores state; the old leader's later frames are dropped."""
    script = Script(tmp_path).live("rb").frame(group_info_bytes("rb", SYMBOLS))
    script.frame(group_frame_bytes(_rows([0, 1, 2], [3500, 3510, 3520]), kind="snapshot", seq=5, epoch=3))
    script.frame(group_frame_bytes(_rows([1], [3511]), kind="delta", seq=6, epoch=3))
    script.frame(group_frame_bytes(_rows([2], [9999]), kind="delta", seq=7, epoch=9))  # new leader, no snapshot
    script.frame(group_frame_bytes(_rows([0, 1, 2], [3502, 3512, 3522]), kind="snapshot", seq=2, epoch=9))
    script.frame(group_frame_bytes(_rows([0], [7777]), kind="delta", seq=7, epoch=3))  # the old leader wakes up
    script.frame(group_frame_bytes(_rows([0, 1, 2], [1, 1, 1]), kind="snapshot", seq=8, epoch=3))
    script.frame(group_frame_bytes(_rows([1], [3513]), kind="delta", seq=3, epoch=9))
    result = script.do("rows", group="rb").run()

    requests = [message["snapshotRequest"] for message in _sent(result) if "snapshotRequest" in message]
    assert requests == [{"group": "rb"}]
    stats = result["stats"]
    assert (stats["epochChanges"], stats["staleEpochFrames"], stats["gaps"]) == (1, 2, 0)
    assert _last(result["rows"]["rb"]) == [3502, 3513, 3522]


def test_feed_when_epoch_silent_past_reset_then_a_lower_epoch_resyncs_instead_of_freezing(tmp_path):
    """An epoch reset (the lease bucket began again at revision 1): while epoch 57 speaks, epoch 1 is an old leader
    and dropped; once 57 has been silent for EPOCH_RESET_MS, epoch 1 is the group's new one: one snapshotRequest,
    its snapshot restores state and its deltas apply (before, every frame after the reset was dropped forever)."""
    script = Script(tmp_path).live("rb").frame(group_info_bytes("rb", SYMBOLS))
    script.frame(group_frame_bytes(_rows([0, 1, 2], [3500, 3510, 3520]), kind="snapshot", seq=5, epoch=57))
    script.do("clock", nowMs=NOW_MS + 400)
    script.frame(group_frame_bytes(_rows([0], [1]), kind="delta", seq=9, epoch=1))   # 57 spoke 0.4 s ago
    script.do("clock", nowMs=NOW_MS + 1500)
    script.frame(group_frame_bytes(_rows([0], [3501]), kind="delta", seq=2, epoch=1))  # 57 silent 1.5 s: reset
    script.frame(group_frame_bytes(_rows([0, 1, 2], [3502, 3512, 3522]), kind="snapshot", seq=2, epoch=1))
    script.frame(group_frame_bytes(_rows([1], [3513]), kind="delta", seq=3, epoch=1))
    result = script.do("rows", group="rb").run()

    requests = [message["snapshotRequest"] for message in _sent(result) if "snapshotRequest" in message]
    assert requests == [{"group": "rb"}]
    stats = result["stats"]
    assert (stats["epochResets"], stats["staleEpochFrames"], stats["gaps"]) == (1, 1, 0)
    assert _last(result["rows"]["rb"]) == [3502, 3513, 3522]


def test_feed_when_delta_seq_repeats_then_drops_it_without_a_gap(tmp_path):
    """A delta at or below the last seq (sent before a snapshot) is stale, not a gap."""
    script = Script(tmp_path).live("rb").frame(group_info_bytes("rb", SYMBOLS))
    script.frame(group_frame_bytes(_rows([0, 1, 2], [1, 2, 3]), kind="snapshot", seq=5))
    script.frame(group_frame_bytes(_rows([0], [100]), kind="delta", seq=5))
    result = script.do("rows", group="rb").run()

    assert (result["stats"]["gaps"], result["stats"]["staleDeltas"]) == (0, 1)
    assert _last(result["rows"]["rb"]) == [1, 2, 3]


@pytest.mark.parametrize(
    "bad",
    [b"\x00" * 3, b"\xff" * 64, "text"],
    ids=["short", "garbage", "text_frame"],
)
def test_feed_when_frame_is_malformed_then_counts_a_decode_error_and_keeps_going(tmp_path, bad):
    """A bad frame bumps decodeErrors; the next delta still applies."""
    script = Script(tmp_path).live("rb").frame(group_info_bytes("rb", SYMBOLS))
    script.frame(group_frame_bytes(_rows([0, 1, 2], [1, 2, 3]), kind="snapshot", seq=1))
    if isinstance(bad, str):
        script.do("text", data=bad)
    else:
        script.frame(bad)
    script.frame(group_frame_bytes(_rows([2], [30]), kind="delta", seq=2))
    result = script.do("rows", group="rb").run()

    assert result["stats"]["decodeErrors"] == 1
    assert _last(result["rows"]["rb"]) == [1, 2, 30]


def test_feed_when_flushed_then_posts_changed_rows_once_with_latency_and_transfers_arrays(tmp_path):
    """flush() posts each changed row once (arrays transferred) with delta latency; a second flush posts nothing."""
    script = Script(tmp_path).live("rb").frame(group_info_bytes("rb", SYMBOLS))
    script.frame(group_frame_bytes(_rows([2, 0], [3520, 3500], gateway_ms=NOW_MS - 12.5), kind="snapshot", seq=1))
    script.frame(group_frame_bytes(_rows([2], [3521], gateway_ms=NOW_MS - 4), kind="delta", seq=2))
    result = script.do("flush").do("flush").run()

    rows_posts = [post for post in result["posts"] if post["type"] == "rows"]
    assert len(rows_posts) == 1
    (batch,) = rows_posts[0]["batches"]
    assert batch["group"] == "rb"
    assert sorted(zip(batch["indexes"], batch["last"], strict=True)) == [(0, 3500), (2, 3521)]
    assert batch["bid"] == [value - 1 for value in batch["last"]]
    assert rows_posts[0]["latencyMs"] == pytest.approx([4.0], abs=1e-3)  # deltas only, not the snapshot
    assert result["transferred"] == 14  # indexes + 7 columns + gateway and decode stamps + latency + 3 hop samples
    assert batch["gatewayMs"] == pytest.approx([NOW_MS - 4.0], abs=1e-3)


def test_feed_when_group_info_appends_then_rows_extend_and_page_gets_the_full_list(tmp_path):
    """groupInfo with firstIndex > 0 appends instruments; the page is sent the whole list, not reset."""
    script = Script(tmp_path).live("rb").frame(group_info_bytes("rb", SYMBOLS))
    script.frame(group_frame_bytes(_rows([0, 1, 2], [1, 2, 3]), kind="snapshot", seq=1))
    script.frame(group_info_bytes("rb", ["rb1901"], version=2, first_index=3))
    script.frame(group_frame_bytes(_rows([3], [4]), kind="delta", seq=2))
    result = script.do("rows", group="rb").run()

    infos = [post for post in result["posts"] if post["type"] == "groupInfo"]
    assert [(info["version"], info["reset"], len(info["instruments"])) for info in infos] == [(1, True, 3), (2, False, 4)]
    assert _last(result["rows"]["rb"]) == [1, 2, 3, 4]


def test_feed_when_group_is_unknown_then_posts_the_error_for_that_group_and_forgets_it(tmp_path):
    """error(unknownGroup) correlated to a subscribe names the group for the page."""
    script = Script(tmp_path).live("rb", "zz")
    script.frame(simple_bytes("error", correlation_id=3, code="unknownGroup", message="no such group: zz"))
    result = script.frame(simple_bytes("ack", correlation_id=3, of="subscribe")).do("rows", group="zz").run()

    errors = [post for post in result["posts"] if post["type"] == "error"]
    assert errors == [{"type": "error", "group": "zz", "code": "unknownGroup", "message": "no such group: zz",
                       "correlationId": "3n"}]
    assert result["rows"]["zz"] == []


def test_feed_when_token_refused_then_reports_auth_failed(tmp_path):
    """error(tokenExpired) before any ack marks the feed authFailed (the worker stops retrying)."""
    script = Script(tmp_path).do("subscribe", groups=["rb"]).do("open", token="old")
    result = script.frame(simple_bytes("error", correlation_id=1, code="tokenExpired", message="token expired")).do(
        "close", code=1008
    ).run()

    states = [post["state"] for post in result["posts"] if post["type"] == "status"]
    assert states[-1] == "authFailed"
    assert len(result["sent"]) == 1  # only the auth


def test_feed_when_token_refused_then_the_refusal_names_the_refused_token(tmp_path):
    """A refusal names the token it refused, so a tab that signed in again meanwhile keeps its new session
    (a stale refusal once signed a re-signed-in trader out again)."""
    script = Script(tmp_path).do("subscribe", groups=["rb"]).do("open", token="old")
    script.frame(simple_bytes("error", correlation_id=1, code="tokenExpired", message="token expired"))
    script.do("close", code=1008).do("open", token="new")
    result = script.frame(simple_bytes("ack", correlation_id=2, of="auth")).run()

    statuses = [post for post in result["posts"] if post["type"] == "status"]
    refused = [post for post in statuses if post["state"] == "authFailed"]
    assert refused and {post["token"] for post in refused} == {"old"}
    assert statuses[-1]["state"] == "live" and statuses[-1]["token"] == "new"


def test_feed_when_reconnected_then_resubscribes_and_waits_for_a_new_snapshot(tmp_path):
    """After a close, deltas are ignored until the new connection's snapshot; groups are subscribed again."""
    script = Script(tmp_path).live("rb").frame(group_info_bytes("rb", SYMBOLS))
    script.frame(group_frame_bytes(_rows([0, 1, 2], [1, 2, 3]), kind="snapshot", seq=1))
    script.do("close", code=1006).do("open", token="T").frame(simple_bytes("ack", correlation_id=3, of="auth"))
    script.frame(group_frame_bytes(_rows([0], [50]), kind="delta", seq=2))
    result = script.do("rows", group="rb").run()

    subscribes = [message["subscribe"] for message in _sent(result) if "subscribe" in message]
    assert subscribes == [{"groups": ["rb"]}, {"groups": ["rb"]}]
    assert result["stats"]["ignoredDeltas"] == 1
    assert result["stats"]["reconnects"] == 1
    assert not math.isnan(_last(result["rows"]["rb"])[0])


def _state_crc(rows_by_index: dict[int, float], n: int = 3) -> int:
    """The server's hash of a group whose rows are ``_rows`` of these last prices."""
    from schemas.state_hash import l1_state_crc32

    indexes = sorted(rows_by_index)
    columns = _rows(indexes, [rows_by_index[i] for i in indexes])
    return l1_state_crc32({name: values for name, values in columns.items() if values.dtype.kind == "f"}, n)


def test_feed_when_hashed_delta_disagrees_then_counts_mismatch_asks_snapshot_and_heals_on_it(tmp_path):
    """A delta tampered in flight (seq intact) is caught by the next hash: one mismatch, one
    snapshotRequest, deltas ignored until the snapshot, whose matching hash counts one heal."""
    script = Script(tmp_path).live("rb").frame(group_info_bytes("rb", SYMBOLS))
    script.frame(group_frame_bytes(_rows([0, 1, 2], [3500, 3510, 3520]), kind="snapshot", seq=5,
                                   state_crc32=_state_crc({0: 3500, 1: 3510, 2: 3520})))
    script.frame(group_frame_bytes(_rows([1], [3999]), kind="delta", seq=6))  # tampered: the server sent 3511
    script.frame(group_frame_bytes(_rows([2], [3521]), kind="delta", seq=7,
                                   state_crc32=_state_crc({0: 3500, 1: 3511, 2: 3521})))
    script.frame(group_frame_bytes(_rows([0], [3501]), kind="delta", seq=8))
    script.frame(group_frame_bytes(_rows([0, 1, 2], [3501, 3511, 3521]), kind="snapshot", seq=8,
                                   state_crc32=_state_crc({0: 3501, 1: 3511, 2: 3521})))
    result = script.do("rows", group="rb").run()

    requests = [message["snapshotRequest"] for message in _sent(result) if "snapshotRequest" in message]
    assert requests == [{"group": "rb"}]
    stats = result["stats"]
    assert (stats["integrityChecks"], stats["integrityMismatches"], stats["integrityHeals"]) == (3, 1, 1)
    assert (stats["gaps"], stats["ignoredDeltas"]) == (0, 1)
    assert _last(result["rows"]["rb"]) == [3501, 3511, 3521]


def test_feed_when_group_status_arrives_then_posts_it_for_the_page(tmp_path):
    """groupStatus of a subscribed group is posted as {type: groupStatus, state, reason, sinceMs, dataMs}."""
    from actors.market.frames import encode_group_status

    script = Script(tmp_path).live("rb")
    script.frame(encode_group_status(group="rb", state="stale", reason="no frame or heartbeat for 1.6 s",
                                     since_ts_ns=int(NOW_MS * 1e6), data_ts_ns=int((NOW_MS - 1600) * 1e6),
                                     source="sessions/session/1"))
    script.frame(encode_group_status(group="zz", state="ended", reason="", since_ts_ns=1, data_ts_ns=0, source="x"))
    result = script.run()

    statuses = [post for post in result["posts"] if post["type"] == "groupStatus"]
    assert statuses == [{"type": "groupStatus", "group": "rb", "state": "stale",
                         "reason": "no frame or heartbeat for 1.6 s", "sinceMs": NOW_MS, "dataMs": NOW_MS - 1600}]
