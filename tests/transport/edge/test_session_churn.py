"""Closed sockets leave nothing behind: the registry, /admin/tree and /metrics return to their size before."""

from __future__ import annotations

import aiohttp

from transport.signin.auth import mint_token
from transport.edge.client import client_message

SOCKETS = 300
SLACK = 3
"""Entries, tree nodes or metric lines a churn may leave (a scrape racing a late exit), not per socket."""


def _is_group(text: str) -> bool:
    # Aggregators appear as the replay meets new products; they are not what a socket leaves.
    return "market/group/" in text


def _tree_nodes(node) -> int:
    return (0 if _is_group(node["path"]) else 1) + sum(_tree_nodes(child) for child in node["children"])


async def _sizes(desk, http, admin) -> tuple[int, int, int, int]:
    """Registry entries, /admin/tree nodes, /metrics lines and Thespian's addresses, aggregators left out."""
    async with http.get(f"http://127.0.0.1:{desk.port}/metrics", headers=admin) as response:
        assert response.status == 200
        lines = [line for line in (await response.text()).splitlines() if not _is_group(line)]
    async with http.get(f"http://127.0.0.1:{desk.port}/admin/tree", headers=admin) as response:
        assert response.status == 200
        nodes = _tree_nodes((await response.json())["tree"])
    entries = [e for e in desk.runtime.registry.entries() if not _is_group(e.path)]
    groups = sum(_is_group(e.path) for e in desk.runtime.registry.entries())
    return len(entries), nodes, len(lines), desk.runtime.statistics().thespian_addresses - groups


async def test_sockets_when_300_opened_and_closed_then_registry_tree_and_metrics_back_to_size_before(
        desk, jwt_secret, eventually):
    """A session whose socket closed leaves the registry, its supervisor's children, the tree and /metrics."""
    admin = {"Authorization": f"Bearer {mint_token(jwt_secret, 'ops1', 'admin')}"}
    token = mint_token(jwt_secret, "trader1")
    sessions = desk.runtime.registry.entry("sessions").instance
    async with aiohttp.ClientSession() as http:
        before = await _sizes(desk, http, admin)
        children_before = sessions.extra_statistics()["children"]
        for i in range(SOCKETS):
            ws = await http.ws_connect(f"ws://127.0.0.1:{desk.port}/ws")
            await ws.send_bytes(client_message(1, auth={"token": token}))
            await ws.receive(timeout=5)  # the auth ack: the session is running
            if i % 3 == 0:  # some sockets subscribe and trade before they go
                await ws.send_bytes(client_message(2, subscribe={"groups": ["rb"]}))
            await ws.close()
        await eventually(lambda: desk.sockets.statistics().sockets_open == 0, what="every socket closed")
        await eventually(lambda: not any(e.path.startswith("sessions/session/")
                                         for e in desk.runtime.registry.entries()),
                         timeout_s=10, what="no session left in the registry")
        after = await _sizes(desk, http, admin)
    assert all(abs(a - b) <= SLACK for a, b in zip(after, before)), (before, after)
    statistics = sessions.extra_statistics()
    assert (statistics["children"], statistics["running_children"]) == (children_before, 0)
    assert not sessions.by_account and not sessions.admins
