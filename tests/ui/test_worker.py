"""ui/worker.js (the dedicated-worker fallback: hub, socket, retry timer) in node with a fake WebSocket and timers."""

from __future__ import annotations

from pathlib import Path

from tests.ui.ui_frames import run_node_script, simple_bytes

HARNESS = Path(__file__).resolve().parent / "worker_harness.mjs"


def _run(tmp_path: Path, scenario: str) -> dict:
    ack = tmp_path / "ack.bin"
    ack.write_bytes(simple_bytes("ack", of="auth"))
    refusal = tmp_path / "refusal.bin"
    refusal.write_bytes(simple_bytes("error", correlation_id=1, code="tokenExpired", message="token expired"))
    return run_node_script(HARNESS, scenario, str(ack), str(refusal))


def test_worker_when_socket_drops_after_auth_then_retries_with_backoff_and_resubscribes(tmp_path):
    """A dropped socket schedules one retry (~250 ms); the new socket sends auth, then the subscribe."""
    result = _run(tmp_path, "reconnect")

    assert [socket["url"] for socket in result["sockets"]] == ["ws://desk/ws", "ws://desk/ws"]
    assert [socket["sent"] for socket in result["sockets"]] == [2, 2]  # auth + subscribe rb, twice
    (delay_ms,) = result["timers"]
    assert 200 <= delay_ms <= 300
    assert result["pendingTimers"] == 0
    assert result["states"][-1] == "live"
    assert "reconnecting" in result["states"]
    assert sorted(result["intervals"]) == [16, 2000, 5000]  # flush to the page, ping, sweep of silent tabs


def test_worker_when_token_refused_then_does_not_retry(tmp_path):
    """error(tokenExpired) and close 1008 leave the worker in authFailed with no retry timer."""
    result = _run(tmp_path, "refused")

    assert len(result["sockets"]) == 1
    assert result["timers"] == []
    assert result["pendingTimers"] == 0
    assert result["states"][-1] == "authFailed"
