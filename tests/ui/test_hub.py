"""ui/hub.js (the SharedWorker's hub: one socket for every tab) in node with fake ports, socket and timers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tests.ui.ui_frames import group_frame_bytes, group_info_bytes, pycapnp_dict, run_node_script, simple_bytes

import schemas
from schemas._columns import L1_DTYPES

HARNESS = Path(__file__).resolve().parent / "hub_harness.mjs"
NOW_MS = 1_510_534_800_500.0


def _rows(indexes: list[int], last: float) -> dict[str, np.ndarray]:
    n = len(indexes)
    columns = {name: np.full(n, last) for name, dtype in L1_DTYPES.items() if dtype.kind == "f"}
    columns["indexes"] = np.array(indexes)
    columns["exchangeTsNs"] = np.full(n, int((NOW_MS - 20) * 1e6))
    columns["gatewayRecvTsNs"] = np.full(n, int((NOW_MS - 10) * 1e6))
    return {name: values.astype(L1_DTYPES[name]) for name, values in columns.items()}


class Script:
    """Builds a hub_harness.mjs script: steps plus the frame files they read."""

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

    def live(self) -> Script:
        """Open the socket the first hello with a token asked for, and acknowledge auth (envelope id 1)."""
        return self.do("open").frame(simple_bytes("ack", correlation_id=1, of="auth"))

    def run(self, **options) -> dict:
        path = self.tmp_path / "script.json"
        path.write_text(json.dumps({"nowMs": NOW_MS, "steps": self.steps, **options}), encoding="utf-8")
        return run_node_script(HARNESS, str(path))


def _sent(result: dict, socket: int = -1) -> list[tuple[str, object]]:
    """(member, groups or group) of every ClientMessage a socket was sent."""
    out = []
    for item in result["sockets"][socket]["sent"]:
        message = pycapnp_dict(bytes.fromhex(item), schemas.stream.ClientMessage)
        member = next(key for key in message if key != "envelope")
        body = message[member]
        out.append((member, body.get("groups", body.get("group")) if isinstance(body, dict) else None))
    return out


def _types(posts: list[dict]) -> list[str]:
    return [post["type"] for post in posts]


def test_hub_when_three_tabs_want_one_group_then_server_hears_one_subscribe_and_one_unsubscribe(tmp_path):
    """Subscriptions are reference-counted: subscribe on the first tab, unsubscribe only when the last lets go."""
    script = Script(tmp_path).do("hello", tab="a", token="T", groups=["rb"]).live()
    script.do("hello", tab="b", groups=["rb"]).do("hello", tab="c", token="T", groups=["rb", "m"])
    script.do("unsubscribe", tab="a", groups=["rb"]).do("bye", tab="b").do("unsubscribe", tab="c", groups=["rb"])
    result = script.run()

    assert len(result["sockets"]) == 1
    assert _sent(result) == [("auth", None), ("subscribe", ["rb"]), ("subscribe", ["m"]), ("unsubscribe", ["rb"])]
    assert result["refs"] == {"m": 1}


def test_hub_when_a_tab_joins_a_live_group_then_it_gets_info_and_rows_at_once_and_only_its_groups(tmp_path):
    """A late tab gets groupInfo + every row now; rows go only to the tabs holding their group."""
    script = Script(tmp_path).do("hello", tab="a", token="T", groups=["rb"]).live()
    script.frame(group_info_bytes("rb", ["rb1801", "rb1805", "rb1810"]))
    script.frame(group_frame_bytes(_rows([0, 1, 2], 3500.0), kind="snapshot", seq=1))
    script.do("flush")
    script.do("hello", tab="b", groups=["rb"]).do("hello", tab="c", groups=["m"])
    script.frame(group_frame_bytes(_rows([1], 3501.0), kind="delta", seq=2)).do("flush")
    result = script.run()

    b = result["tabs"]["b"]
    assert _types(b)[:4] == ["session", "status", "groupInfo", "rows"]
    assert b[0]["token"] == "T"  # a tab without a token joins the shared session
    assert b[3]["rows"] == 3
    assert b[-1] == {"type": "rows", "groups": ["rb"], "rows": 1}
    assert result["tabs"]["c"][-1] == {"type": "rows", "groups": [], "rows": 0}
    assert [p for p in result["tabs"]["a"] if p["type"] == "rows"][-1] == {"type": "rows", "groups": ["rb"], "rows": 1}
    assert _sent(result).count(("subscribe", ["rb"])) == 1


def test_hub_when_tab_sends_a_command_then_only_that_tab_gets_the_reply_and_events_go_to_all(tmp_path):
    """`send` builds the ClientMessage; the answer (by correlation id) goes to the asking tab; events to every tab."""
    script = Script(tmp_path).do("hello", tab="a", token="T").live().do("hello", tab="b")
    script.do("send", tab="b", requestId=7, member="snapshotRequest", body={"group": "zz"})
    script.frame(simple_bytes("error", correlation_id=2, code="unknownGroup", message="not subscribed to 'zz'"))
    script.frame(simple_bytes("killSwitchChanged", target="global", changedBy="ops", reason="drill"))
    result = script.run()

    reply = {"type": "reply", "requestId": 7, "member": "error",
             "body": {"code": "unknownGroup", "message": "not subscribed to 'zz'"}}
    assert reply in result["tabs"]["b"]
    assert all(post.get("type") != "reply" for post in result["tabs"]["a"])
    for tab in "ab":
        (event,) = [post for post in result["tabs"][tab] if post["type"] == "message"]
        assert event["member"] == "killSwitchChanged" and event["body"]["reason"] == "drill"
    assert _sent(result)[-1] == ("snapshotRequest", "zz")


def test_hub_when_socket_drops_then_every_tab_sees_reconnecting_and_groups_are_resubscribed_once(tmp_path):
    """A dropped socket: status reconnecting to all tabs, one retry timer (~250 ms), then auth and one subscribe per group."""
    script = Script(tmp_path).do("hello", tab="a", token="T", groups=["rb"]).live()
    script.do("hello", tab="b", groups=["rb", "m"]).do("drop", code=1006).do("fire").live()
    result = script.run()

    assert len(result["sockets"]) == 2
    assert _sent(result, 1) == [("auth", None), ("subscribe", ["rb"]), ("subscribe", ["m"])]
    assert len(result["timers"]) == 1 and 200 <= result["timers"][0] <= 300
    for tab in "ab":
        states = [post["state"] for post in result["tabs"][tab] if post["type"] == "status"]
        assert "reconnecting" in states and states[-1] == "live"


def test_hub_when_socket_drops_with_several_edge_urls_then_next_url_and_groups_resubscribed(tmp_path):
    """A comma-separated URL list: the retry after a drop opens the next edge node, authenticates and resubscribes."""
    hello = {"type": "hello", "tabId": "a", "url": "ws://gw-a/ws,ws://gw-b/ws", "token": "T", "groups": ["rb"]}
    script = Script(tmp_path).do("raw", tab="a", message=hello).live()
    script.do("drop", code=1006).do("fire").live().do("drop", code=1006).do("fire")
    result = script.run()

    assert [s["url"] for s in result["sockets"]] == ["ws://gw-a/ws", "ws://gw-b/ws", "ws://gw-a/ws"]
    assert _sent(result, 1) == [("auth", None), ("subscribe", ["rb"])]


def test_hub_when_tab_goes_silent_or_speaks_unknown_then_released_and_asked_to_say_hello(tmp_path):
    """A tab silent past TAB_TIMEOUT_MS lets its groups go; a port the hub does not know gets unknownTab."""
    script = Script(tmp_path).do("hello", tab="a", token="T", groups=["rb"]).live()
    script.do("hello", tab="b", groups=["m"]).do("advance", ms=60_000).do("beat", tab="a")
    script.do("advance", ms=40_000).do("sweep").do("subscribe", tab="b", groups=["rb"])
    script.do("raw", tab="a", message={"type": "subscribe", "groups": 5})
    result = script.run()

    assert result["refs"] == {"rb": 1}
    assert ("unsubscribe", ["m"]) in _sent(result)
    assert result["tabs"]["b"][-1] == {"type": "unknownTab"}
    assert result["hubErrors"] == 1  # a malformed request is counted, never thrown


def test_hub_when_every_tab_logs_in_with_the_same_token_then_one_socket_and_logout_reaches_all(tmp_path):
    """Five logins with one token keep one socket; a logout closes it and every tab hears loggedOut."""
    script = Script(tmp_path)
    for tab in "abcde":
        script.do("hello", tab=tab, token="T", groups=["rb"]).do("login", tab=tab, token="T")
    script.live().do("logout", tab="c")
    result = script.run()

    assert len(result["sockets"]) == 1
    assert _sent(result) == [("auth", None), ("subscribe", ["rb"])]
    for tab in "abcde":
        assert result["tabs"][tab][-1]["type"] == "loggedOut"
    assert result["refs"] == {}


def _tick_detail_bytes(vt_symbol: str, prices: list[float], history: bool) -> bytes:
    from actors.market.ticks import encode_server_tick_detail

    stamp = int(NOW_MS * 1e6)
    rows = [(p, p - 1, p + 1, 1.0, 2.0, 10.0 + i, 100.0, stamp + i, stamp + i) for i, p in enumerate(prices)]
    return encode_server_tick_detail(vt_symbol, rows, history, "ticks")


def _tick_requests(result: dict) -> list[tuple[str, list[str]]]:
    out = []
    for item in result["sockets"][-1]["sent"]:
        message = pycapnp_dict(bytes.fromhex(item), schemas.stream.ClientMessage)
        for member in ("subscribeTicks", "unsubscribeTicks"):
            if member in message:
                out.append((member, message[member]["vtSymbols"]))
    return out


def test_hub_when_two_tabs_follow_a_contract_then_ticks_go_to_both_and_unsubscribe_waits_for_the_last(tmp_path):
    """Contract detail subscriptions are reference-counted like groups; a late tab makes the hub ask again
    (for the history); each tickDetail reaches only the tabs following its contract, decoded."""
    symbol = "rb1801.SHFE"
    script = Script(tmp_path).do("hello", tab="a", token="T").live().do("hello", tab="b").do("hello", tab="c")
    script.do("raw", tab="a", message={"type": "subscribeTicks", "vtSymbols": [symbol]})
    script.do("raw", tab="b", message={"type": "subscribeTicks", "vtSymbols": [symbol]})
    script.frame(_tick_detail_bytes(symbol, [3800.0, 3801.0], history=True))
    script.do("raw", tab="a", message={"type": "unsubscribeTicks", "vtSymbols": [symbol]})
    script.frame(_tick_detail_bytes(symbol, [3802.0], history=False))
    script.do("bye", tab="b")
    result = script.run()

    assert _tick_requests(result) == [("subscribeTicks", [symbol]), ("subscribeTicks", [symbol]),
                                      ("unsubscribeTicks", [symbol])]
    ticks = {tab: [p for p in posts if p["type"] == "ticks"] for tab, posts in result["tabs"].items()}
    assert [t["last"] for t in ticks["a"]] == [[3800.0, 3801.0]]
    assert [(t["history"], t["last"]) for t in ticks["b"]] == [(True, [3800.0, 3801.0]), (False, [3802.0])]
    assert ticks["b"][1]["exchangeMs"] == [NOW_MS] and ticks["b"][1]["ask"] == [3803.0]
    assert ticks["c"] == []


def _jwt(issued_s: float, expires_s: float, user: str = "ann") -> str:
    """An unsigned JWT-shaped token: the hub reads only its iat and exp."""
    import base64

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'sub': user, 'iat': int(issued_s), 'exp': int(expires_s)})}.sig"


def test_hub_when_renewal_succeeds_then_refresh_sent_on_the_same_socket_and_tabs_told_renewed(tmp_path):
    """At 75 % of the token's life the hub asks the issuer (same-origin POST with X-Tickstage) and sends refresh on
    the open socket: no new socket, no resubscribe; every tab gets the renewed token; a refused renewal is told."""
    now_s = NOW_MS / 1000
    first, second = _jwt(now_s, now_s + 60), _jwt(now_s + 45, now_s + 105)
    script = Script(tmp_path).do("hello", tab="a", token=first, groups=["rb"]).live().do("hello", tab="b")
    script.do("renew").do("renew")
    result = script.run(refreshReplies=[{"status": 200, "body": {"access_token": second}},
                                        {"status": 401, "body": {"error": "refreshRevoked", "message": "revoked"}}])
    assert len(result["sockets"]) == 1
    assert [member for member, _ in _sent(result)] == ["auth", "subscribe", "refresh"]
    assert 45_000 - 1000 <= result["timers"][0] <= 45_000  # 75 % of 60 s (iat/exp are whole seconds)
    fetch = result["fetches"][0]
    assert fetch["method"] == "POST" and fetch["headers"]["X-Tickstage"] == "1"
    for tab in ("a", "b"):
        posts = result["tabs"][tab]
        assert {"type": "session", "token": second, "renewed": True} in posts
        failed = [post for post in posts if post["type"] == "renewal"]
        assert failed and failed[-1]["state"] == "failed" and failed[-1]["code"] == "refreshRevoked"


def _viewports(result: dict, socket: int = -1) -> list[dict]:
    """The ``viewport`` ClientMessages a socket was sent, as dicts."""
    out = []
    for item in result["sockets"][socket]["sent"]:
        message = pycapnp_dict(bytes.fromhex(item), schemas.stream.ClientMessage)
        if "viewport" in message:
            out.append(message["viewport"])
    return out


def test_hub_when_tabs_show_rows_then_desk_hears_their_union_on_change_only_and_again_after_reconnect(tmp_path):
    """Issue 18: the desk hears one viewport per change, the union of the tabs' rows (a run as firstRow/rowCount,
    scattered rows as rowIndexes); the same rows again send nothing; a tab leaving narrows it; a new socket gets it."""
    script = Script(tmp_path).do("hello", tab="a", token="T", groups=["m_o"]).live().do("hello", tab="b", groups=["m_o"])
    script.do("raw", tab="a", message={"type": "viewport", "group": "m_o", "rows": [3, 4, 5]})
    script.do("raw", tab="a", message={"type": "viewport", "group": "m_o", "rows": [3, 4, 5]})     # unchanged
    script.do("raw", tab="b", message={"type": "viewport", "group": "m_o", "rows": [40, 9]})       # sorted view
    script.do("raw", tab="b", message={"type": "viewport", "group": "zz", "rows": [1]})            # not held
    script.do("bye", tab="b")
    script.do("drop", code=1006).do("fire").live()
    result = script.run()

    sent = _viewports(result, socket=0)
    assert [v["rowIndexes"] or (v["firstRow"], v["rowCount"]) for v in sent] == [(3, 3), [3, 4, 5, 9, 40], (3, 3)]
    assert all(v["group"] == "m_o" for v in sent)
    assert [(v["firstRow"], v["rowCount"]) for v in _viewports(result)] == [(3, 3)]   # resent on the new socket
    assert result["hubErrors"] == 0
