"""The order bridge: vn.py's events routed to the order and account actors on the loop thread."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from actors import ActorRuntime, ChildSpec, Supervisor, start_root
from actors.accounts.account import AccountActor
from actors.orders.config import AccountSpec, OrdersConfig
from transport.vnpy_orders import OrderBridge


class _Events:
    """Stands in for vn.py's EventEngine: keeps the handlers the bridge registers."""

    def __init__(self) -> None:
        self.handlers: dict[str, list] = {}

    def register(self, event_type: str, handler) -> None:
        self.handlers.setdefault(event_type, []).append(handler)

    def emit(self, event_type: str, data) -> None:
        for handler in self.handlers.get(event_type, ()):
            handler(SimpleNamespace(type=event_type, data=data))


async def test_drain_when_runtime_shut_down_then_events_dropped_without_raising():
    """vn.py may emit while the desk stops: the bridge's drain after the runtime's shutdown drops the batch
    (and routes nothing) instead of raising in the loop callback."""
    from vnpy.trader.event import EVENT_ACCOUNT

    runtime = ActorRuntime()
    config = OrdersConfig(accounts=(AccountSpec("acct-01", "trader1"),))
    start_root(runtime, Supervisor, {"children": [ChildSpec("accounts", Supervisor, {"children": [
        ChildSpec("acct-01", AccountActor, {"account": "acct-01", "market": None, "port": SimpleNamespace(
            trades_for=lambda account: [], account_data=lambda gateway: None), "status_interval_s": 60.0})]})]})
    await runtime.wait_idle()
    bridge = OrderBridge(runtime, config)
    events = _Events()
    bridge.attach(events)
    account = SimpleNamespace(balance=1.0, frozen=0.0, available=1.0, gateway_name="SIM", vt_accountid="SIM.x")
    errors = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        runtime.shutdown()
        events.emit(EVENT_ACCOUNT, account)   # the wake-up drain runs on the loop, after the shutdown
        await asyncio.sleep(0.01)
        bridge.drain()
    finally:
        loop.set_exception_handler(None)

    assert errors == []
    assert bridge.statistics().accounts_in <= 1
