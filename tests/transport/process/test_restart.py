"""A crashed GroupActor is restarted at its path and its sessions get a snapshot again."""

from __future__ import annotations

import numpy as np

from actors import encode_actor_message


async def test_group_actor_when_crashed_then_restarted_at_same_path_and_session_gets_snapshot(connect, desk):
    """Crash market/group/rb: same path, new instance, subscribed sockets get info + a filled snapshot."""
    client = await connect()
    await client.send(subscribe={"groups": ["rb"]})
    info = await client.recv_until(lambda m: m["which"] == "groupInfo")
    await client.recv_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "delta")
    old_address = desk.runtime.registry.address("market/group/rb")
    desk.runtime.tell_path("market/group/rb", encode_actor_message("crash", "test"))
    again = await client.recv_until(lambda m: m["which"] == "groupInfo")
    snapshot = await client.recv_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "snapshot")
    entry = desk.runtime.registry.entry("market/group/rb")
    assert entry.restarts == 1 and entry.address != old_address
    assert [i["vtSymbol"] for i in again["instruments"]] == [i["vtSymbol"] for i in info["instruments"]]
    index = [i["vtSymbol"] for i in info["instruments"]].index("rb1801.SHFE")
    assert not np.isnan(snapshot["columns"]["lastPrices"][index])
    delta = await client.recv_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "delta")
    assert delta["seq"] == snapshot["seq"] + 1
