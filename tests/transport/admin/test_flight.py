"""Per-session flight recordings: the bounded ring, token redaction, the file, and /admin/recordings on a desk."""

from __future__ import annotations

import pytest

import schemas
from transport.signin.auth import mint_token
from transport.admin.flight import MAGIC, REDACTED, FlightRecorder, read_recording, redact
from transport.edge.client import client_message


def _server_member(payload: bytes) -> tuple[str, str]:
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        member = message.which()
        group = getattr(message, member).group if member in ("groupFrame", "groupInfo") else ""
        return member, group


def test_recorder_when_over_its_bounds_then_drops_the_oldest_and_counts_them():
    """The ring keeps at most max_records entries and max_bytes of payload; the rest are counted as dropped."""
    recorder = FlightRecorder("sessions/session/1", "ann", "trader", "ops", max_bytes=100, max_records=3)
    for i in range(5):
        recorder.record_down(bytes([i]) * 30)
    stats = recorder.statistics()

    assert (stats.records, stats.payload_bytes) == (3, 90)
    assert (stats.records_dropped, stats.bytes_dropped) == (2, 60)
    header, entries = read_recording(recorder.export())
    assert [payload[0] for _, _, payload in entries] == [2, 3, 4]
    assert header["recordsDropped"] == 2 and header["user"] == "ann" and header["startedBy"] == "ops"


def test_recorder_when_stopped_then_keeps_what_it_has_and_records_nothing_more():
    """After stop() nothing is added; the export carries the end time."""
    recorder = FlightRecorder("sessions/session/1", "ann", "trader", "ops")
    recorder.record_up(client_message(1, subscribe={"groups": ["rb"]}))
    recorder.stop()
    recorder.record_down(b"late")
    header, entries = read_recording(recorder.export())

    assert [direction for _, direction, _ in entries] == ["up"]
    assert header["endedTsNs"] >= header["startedTsNs"] > 0


@pytest.mark.parametrize("member", ["auth", "refresh"])
def test_redact_when_message_carries_a_token_then_token_is_replaced(member):
    """auth/refresh tokens never reach a recording; other messages and garbage pass unchanged."""
    secret = mint_token("s" * 40, "ann")
    redacted = redact(client_message(3, **{member: {"token": secret}}))
    with schemas.stream.ClientMessage.from_bytes(redacted) as message:
        assert getattr(message, member).token == REDACTED
        assert message.envelope.id == 3
    assert secret.encode() not in redacted
    plain = client_message(4, subscribe={"groups": ["rb"]})
    assert redact(plain) == plain
    assert redact(b"\x00garbage") == b"\x00garbage"


def test_read_recording_when_not_a_recording_or_truncated_then_value_error():
    """A file without the magic, or cut in the middle of a record, is refused with ValueError."""
    data = FlightRecorder("s", "u", "trader", "ops").export()
    with pytest.raises(ValueError):
        read_recording(b"notarecording")
    with pytest.raises(ValueError):
        read_recording(data[:-3])
    assert data.startswith(MAGIC)


async def test_recordings_when_not_admin_then_401_or_403(http):
    """Every recordings route needs an admin token."""
    for method, route in (("GET", "/admin/recordings"), ("POST", "/admin/recordings"),
                          ("GET", "/admin/recordings/1")):
        async with http.request(method, route, json={}) as response:
            assert response.status == 401
        async with http.request(method, route, headers=http.trader, json={}) as response:
            assert response.status == 403


async def test_recording_when_admin_records_a_session_then_file_holds_its_frames_and_commands(
        http, connect, eventually):
    """Start → the session's groups are re-sent (info + snapshot), its later commands and frames are kept;
    stop → nothing more; the download replays: groupInfo first, then frames, the subscribe, no token."""
    trader = await connect("ann")
    await trader.send(subscribe={"groups": ["rb"]})
    await trader.recv_until(lambda m: m["which"] == "groupFrame")
    async with http.get("/admin/recordings", headers=http.admin) as response:
        (row,) = [r for r in (await response.json())["sessions"] if r["user"] == "ann"]
    assert row["open"] and row["recording"] is None and row["groups"] == ["rb"]
    async with http.post("/admin/recordings", headers=http.admin,
                         json={"session": row["session"], "action": "start"}) as response:
        assert response.status == 200
    await trader.send(subscribe={"groups": ["cu"]})
    await trader.send(ping={"clientTsNs": 5})
    await trader.recv_until(lambda m: m["which"] == "groupFrame" and m["group"] == "cu")
    async with http.post("/admin/recordings", headers=http.admin,
                         json={"session": row["session"], "action": "stop"}) as response:
        assert response.status == 200
    async with http.get(f"/admin/recordings/{row['id']}", headers=http.admin) as response:
        assert response.status == 200
        header, entries = read_recording(await response.read())
    async with http.get("/admin/audit", headers=http.admin) as response:
        audit = [(r["action"], r["target"], r["result"]) for r in (await response.json())["records"]]

    down = [_server_member(payload) for _, direction, payload in entries if direction == "down"]
    up = [payload for _, direction, payload in entries if direction == "up"]
    assert header["sessionPath"] == row["session"] and header["endedTsNs"] > 0
    assert ("groupInfo", "rb") in down and ("groupInfo", "cu") in down
    assert down.index(("groupInfo", "rb")) < down.index(("groupFrame", "rb"))
    assert len(up) == 2  # subscribe cu, ping
    with schemas.stream.ClientMessage.from_bytes(up[0]) as first:
        assert list(first.subscribe.groups) == ["cu"]
    assert ("record", row["session"], "started") in audit and ("record", row["session"], "stopped") in audit


async def test_recording_when_session_unknown_or_body_bad_then_404_or_400(http):
    """Start for a session that is not open → 404; stop without a recording → 404; a bad body → 400."""
    async with http.post("/admin/recordings", headers=http.admin,
                         json={"session": "sessions/session/999", "action": "start"}) as response:
        assert response.status == 404
    async with http.post("/admin/recordings", headers=http.admin,
                         json={"session": "sessions/session/999", "action": "stop"}) as response:
        assert response.status == 404
    async with http.post("/admin/recordings", headers=http.admin, json={"action": "start"}) as response:
        assert response.status == 400
    async with http.get("/admin/recordings/999", headers=http.admin) as response:
        assert response.status == 404
