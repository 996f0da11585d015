"""The gateway lifecycle from vn.py's events: the CTP family's log texts, the 1 s timer, feed status to groups."""

from __future__ import annotations

from types import SimpleNamespace

from schemas.venue_events import FeedStatus
from transport.venue import connection as connection_module
from transport.venue.connection import VenueConnections


class _Engine:
    def __init__(self) -> None:
        self.put_events = []

    def put(self, event) -> None:
        self.put_events.append(event)


def _log(text: str, gateway: str = "CTP"):
    return SimpleNamespace(data=SimpleNamespace(msg=text, gateway_name=gateway))


def _contract(vt_symbol: str, gateway: str = "CTP"):
    return SimpleNamespace(data=SimpleNamespace(vt_symbol=vt_symbol, gateway_name=gateway))


def test_log_texts_when_ctp_connects_drops_and_reconnects_then_states_follow_and_groups_hear_it():
    """connecting → connected → contractsReady (listeners first) → reconnecting on 交易服务器连接断开 → ready again;
    the groups get sourceDown when the feed goes and live when it returns."""
    connections = VenueConnections([("CTP", "vnpy_ctp:CtpGateway")])
    engine = _Engine()
    connections._event_engine = engine   # the events it puts; attach() needs a real EventEngine
    seen_states = []
    connections.on_ready.append(lambda c: seen_states.append(connections.status("CTP").state))

    connections.connecting("CTP")
    assert connections.venue_state("CTP")[0] == "connecting"
    connections.on_log_event(_log("交易服务器连接成功"))
    connections.on_log_event(_log("交易服务器登录成功"))
    assert connections.status("CTP").state == "connected"
    connections.on_contract_event(_contract("rb2501.SHFE"))
    connections.on_log_event(_log("合约信息查询成功"))
    connections.on_log_event(_log("行情服务器登录成功"))
    status = connections.status("CTP")
    assert (status.state, status.contracts, status.connects, status.market_data) == ("contractsReady", 1, 1, True)
    assert seen_states == ["connected"]   # the listener (subscriptions) ran before the state said ready
    connections.on_log_event(_log("交易服务器连接断开，原因4097"))
    assert connections.status("CTP").state == "reconnecting"
    assert connections.status("CTP").last_error == "交易服务器连接断开，原因4097"
    connections.on_log_event(_log("交易服务器登录成功"))
    connections.on_log_event(_log("合约信息查询成功"))
    assert connections.status("CTP").connects == 2
    feed = [event.data for event in engine.put_events]
    assert all(isinstance(status, FeedStatus) for status in feed)
    assert [status.state for status in feed] == ["live", "sourceDown", "live"]
    assert "CTP" in feed[1].reason


def test_log_texts_when_login_refused_then_failed_with_the_error_and_other_gateways_untouched():
    """``交易服务器登录失败`` is ``failed`` with its text; a log of an unknown gateway changes nothing."""
    connections = VenueConnections([("CTP", "vnpy_ctp:CtpGateway"), ("SOPT", "vnpy_sopt:SoptGateway")])
    connections.on_log_event(_log("交易服务器登录失败，代码：3，信息：不合法的登录", "CTP"))
    connections.on_log_event(_log("交易服务器登录成功", "OTHER"))
    assert connections.status("CTP").state == "failed" and "不合法的登录" in connections.status("CTP").last_error
    connections.on_log_event(_log("交易服务器连接断开，原因4097", "CTP"))
    assert connections.status("CTP").state == "failed"   # vnpy_ctp never retries a refused login
    assert connections.status("SOPT").state == "disconnected"
    assert connections.venue_state("OTHER") is None


def test_timer_when_connecting_past_the_timeout_then_reconnecting(monkeypatch):
    """A CTP API that cannot reach its front says nothing: past CONNECT_TIMEOUT_S the gateway shows reconnecting."""
    connections = VenueConnections([("CTP", "vnpy_ctp:CtpGateway")])
    connections.connecting("CTP")
    connections.on_timer_event(None)
    assert connections.status("CTP").state == "connecting"
    monkeypatch.setattr(connection_module, "CONNECT_TIMEOUT_S", -1.0)
    connections.on_timer_event(None)
    status = connections.status("CTP")
    assert status.state == "reconnecting" and "retrying" in status.last_error
