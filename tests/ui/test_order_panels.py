"""The order panels' logic in node: the blotter's order book and the ticket's send-until-replied loop."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ui.ui_frames import run_node_script

HARNESS = Path(__file__).resolve().parent / "orders_harness.mjs"
ORDER = {"clientOrderId": "t-1", "account": "acct-01", "vtSymbol": "rb1801.SHFE", "direction": "long",
         "offset": "open", "orderType": "limit", "price": 3800.0, "volumeLots": 1, "reference": "ticket"}


def _view(state: str, updated_ns: int, **fields) -> dict:
    return {"clientOrderId": "t-1", "account": "acct-01", "vtSymbol": "rb1801.SHFE", "direction": "long",
            "offset": "open", "orderType": "limit", "price": 3800.0, "volumeLots": 1.0, "state": state,
            "status": "notTraded", "tradedLots": 0.0, "avgPrice": 0.0, "vtOrderId": "SIM.1",
            "rejection": {"rule": "", "limit": 0, "observed": 0, "reason": ""},
            "createdTsNs": 1_000_000_000, "updatedTsNs": updated_ns, "reference": "ticket", **fields}


def _run(tmp_path: Path, **script) -> dict:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script), encoding="utf-8")
    return run_node_script(HARNESS, str(path))


def test_order_book_when_events_arrive_out_of_order_then_the_newest_state_stays(tmp_path):
    """A filled view, then an older working view and a late accepted reply: the row stays filled."""
    result = _run(tmp_path, book=[
        {"do": "local", "order": ORDER, "state": "sending"},
        {"do": "view", "view": _view("filled", 3_000_000_000, status="allTraded", tradedLots=1.0)},
        {"do": "view", "view": _view("working", 2_000_000_000)},
        {"do": "reply", "reply": {"clientOrderId": "t-1", "account": "acct-01", "status": "accepted",
                                  "vtOrderId": "SIM.1"}},
    ])

    (row,) = result["rows"]
    assert (row["state"], row["status"], row["tradedLots"]) == ("filled", "allTraded", 1.0)
    assert row["updatedTsNs"] == "3000000000"


def test_order_book_when_outcome_unknown_then_resolved_by_a_later_view(tmp_path):
    """outcomeUnknown keeps its reason until a newer view resolves the order (here: working)."""
    unknown = _run(tmp_path, book=[
        {"do": "reply", "reply": {"clientOrderId": "t-1", "account": "acct-01", "status": "outcomeUnknown"}},
        {"do": "view", "view": _view("outcomeUnknown", 2_000_000_000), "reason": "no exchange answer within 2.0 s"},
    ])
    resolved = _run(tmp_path, book=[
        {"do": "view", "view": _view("outcomeUnknown", 2_000_000_000), "reason": "no exchange answer within 2.0 s"},
        {"do": "view", "view": _view("working", 2_500_000_000)},
    ])

    assert (unknown["rows"][0]["state"], unknown["rows"][0]["reason"]) == (
        "outcomeUnknown", "no exchange answer within 2.0 s")
    assert (resolved["rows"][0]["state"], resolved["rows"][0]["reason"]) == ("working", "")


def test_send_once_when_replies_time_out_then_the_same_order_is_re_sent_until_one_comes(tmp_path):
    """Two timeouts and a dropped socket, then the reply: four sends of the identical submitOrder."""
    reply = {"member": "orderReply", "body": {"clientOrderId": "t-1", "account": "acct-01", "status": "accepted"}}
    result = _run(tmp_path, send={"order": ORDER, "retryMs": 50, "replies": [
        {"member": "error", "body": {"code": "timeout", "message": "no reply within 50 ms"}},
        {"member": "error", "body": {"code": "notConnected", "message": "not connected (reconnecting)"}},
        {"member": "error", "body": {"code": "timeout", "message": "no reply within 50 ms"}},
        reply,
    ]})

    send = result["send"]
    assert send["result"]["member"] == "orderReply" and send["result"]["attempts"] == 4
    assert [s["body"] for s in send["sent"]] == [ORDER] * 4  # same client order id every time
    assert {s["member"] for s in send["sent"]} == {"submitOrder"} and {s["timeoutMs"] for s in send["sent"]} == {50}
    assert send["progress"] == [["sending", 1], ["retrying", 2], ["retrying", 3], ["retrying", 4]]


def test_send_once_when_refused_for_good_or_too_long_then_stops(tmp_path):
    """forbidden stops at once; endless timeouts stop after giveUpMs as noReply, never as a new order."""
    forbidden = _run(tmp_path, send={"order": ORDER, "replies": [
        {"member": "error", "body": {"code": "forbidden", "message": "account not granted"}}]})
    gave_up = _run(tmp_path, send={"order": ORDER, "retryMs": 5, "giveUpMs": 0, "replies": []})

    assert forbidden["send"]["result"]["member"] == "error" and len(forbidden["send"]["sent"]) == 1
    assert gave_up["send"]["result"]["member"] == "noReply" and len(gave_up["send"]["sent"]) == 1
