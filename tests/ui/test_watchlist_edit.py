"""ui/watchlist_edit.js (stars → one debounced watchlistUpdate) and its reply path through ui/hub.js, in node."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ui.test_hub import Script as HubScript
from tests.ui.ui_frames import pycapnp_dict, run_node_script, simple_bytes

import schemas

HARNESS = Path(__file__).resolve().parent / "watchlist_edit_harness.mjs"
DEBOUNCE_MS = 300  # ui/watchlist_edit.js WATCHLIST_DEBOUNCE_MS
A, B, C = "rb1801.SHFE", "IF1711.CFFEX", "m1801.DCE"


def _run(tmp_path: Path, steps: list[dict]) -> dict:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"symbols": [A, B, C], "steps": steps}), encoding="utf-8")
    return run_node_script(HARNESS, str(path))


def _toggle(symbol: str) -> dict:
    return {"do": "toggle", "vtSymbol": symbol}


def test_editor_when_stars_clicked_within_the_debounce_then_one_update_and_stars_show_at_once(tmp_path):
    """Three clicks (one undone) before the 300 ms timer fires send ONE watchlistUpdate with the net change;
    the stars change at each click; the ack names the group, which the page is told to subscribe."""
    result = _run(tmp_path, [_toggle(A), _toggle(B), _toggle(C), _toggle(C), {"do": "fire"},
                             {"do": "reply", "member": "ack", "body": {"of": "watchlistUpdate", "detail": "watch-t1"}}])

    assert set(result["timers"]) == {DEBOUNCE_MS}
    assert result["sent"] == [{"member": "watchlistUpdate", "body": {"add": [A, B], "remove": []}}]
    assert result["stars"][2] == {A: True, B: True, C: True} and result["stars"][3][C] is False
    assert result["stars"][-1] == {A: True, B: True, C: False}
    assert (result["applied"], result["group"], result["updates"]) == (["watch-t1"], "watch-t1", 1)


def test_editor_when_update_refused_then_stars_revert_and_the_error_is_shown(tmp_path):
    """An error reply reverts the batch's stars and reaches onError with its code; nothing is subscribed."""
    result = _run(tmp_path, [{"do": "learn", "vtSymbols": [A]}, _toggle(A), _toggle(B), {"do": "fire"},
                             {"do": "reply", "member": "error",
                              "body": {"code": "limitExceeded", "message": "over 200"}}])

    assert result["sent"][0]["body"] == {"add": [B], "remove": [A]}
    assert result["stars"][-1] == {A: True, B: False, C: False}
    assert result["applied"] == [] and "limitExceeded" in result["errors"][0]


def test_editor_when_clicked_while_an_update_is_in_flight_then_the_next_waits_for_its_reply(tmp_path):
    """A click during an unanswered update is sent as a second update only after the first one's reply;
    a GroupInfo arriving meanwhile does not hide the unanswered click."""
    result = _run(tmp_path, [_toggle(A), {"do": "fire"}, _toggle(B), {"do": "fire"},
                             {"do": "learn", "vtSymbols": [A]},
                             {"do": "reply", "member": "ack", "body": {"of": "watchlistUpdate", "detail": "watch-t1"}},
                             {"do": "reply", "member": "ack", "body": {"of": "watchlistUpdate", "detail": "watch-t1"}}])

    assert [s["body"] for s in result["sent"]] == [{"add": [A], "remove": []}, {"add": [B], "remove": []}]
    assert result["stars"][4] == {A: True, B: True, C: False}
    assert result["stars"][-1] == {A: True, B: True, C: False} and result["updates"] == 2


def test_hub_when_a_tab_sends_watchlist_update_then_its_ack_is_that_tabs_reply(tmp_path):
    """The hub builds watchlistUpdate from a tab's `send`; the server's ack (by correlation id) is that tab's
    reply, while the feed's own acks (subscribe) are not posted to tabs."""
    script = HubScript(tmp_path).do("hello", tab="a", token="T", groups=["rb"]).live()
    script.frame(simple_bytes("ack", correlation_id=2, of="subscribe", detail="rb"))
    script.do("send", tab="a", requestId=4, member="watchlistUpdate", body={"add": [A], "remove": []})
    script.frame(simple_bytes("ack", correlation_id=3, of="watchlistUpdate", detail="watch-T"))
    result = script.run()

    sent = pycapnp_dict(bytes.fromhex(result["sockets"][0]["sent"][-1]), schemas.stream.ClientMessage)
    assert sent["watchlistUpdate"] == {"add": [A], "remove": []}
    reply = {"type": "reply", "requestId": 4, "member": "ack", "body": {"of": "watchlistUpdate", "detail": "watch-T"}}
    assert [post for post in result["tabs"]["a"] if post["type"] in ("reply", "message")] == [reply]
