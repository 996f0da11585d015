"""``/api/prefs`` over real HTTP on a whole desk: per user from the token, bounded, hostile input refused."""

from __future__ import annotations

import json

from transport.process.prefs_store import MAX_ITEMS_PER_KIND
from transport.signin.auth import mint_token

LAYOUT = {"panels": ["watchlists", "orderEntry", "blotter"], "groups": ["rb", "IF"],
          "columns": {"rb": ["symbol", "last", "bid", "ask"]}, "sort": {"rb": {"column": "last", "descending": True}}}


def _bearer(jwt_secret: str, user: str, role: str = "trader") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(jwt_secret, user, role)}"}


async def test_prefs_when_put_then_get_returns_it_for_that_user_only(http, jwt_secret):
    """A layout PUT by trader1 comes back to trader1 (item, names, document); trader2 does not see it."""
    response = await http.put("/api/prefs/layouts/morning", json=LAYOUT, headers=http.trader)
    assert response.status == 200, await response.text()
    response = await http.get("/api/prefs/layouts/morning", headers=http.trader)
    assert (response.status, (await response.json())["value"]) == (200, LAYOUT)
    response = await http.get("/api/prefs/layouts", headers=http.trader)
    assert (await response.json())["names"] == ["morning"]
    response = await http.get("/api/prefs", headers=http.trader)
    body = await response.json()
    assert (body["user"], body["layouts"], body["watchlists"]) == ("trader1", {"morning": LAYOUT}, {})

    other = _bearer(jwt_secret, "trader2")
    response = await http.get("/api/prefs/layouts/morning", headers=other)
    assert (response.status, (await response.json())["error"]) == (404, "notFound")
    response = await http.delete("/api/prefs/layouts/morning", headers=http.trader)
    assert response.status == 200
    response = await http.get("/api/prefs/layouts/morning", headers=http.trader)
    assert response.status == 404


async def test_prefs_when_no_token_or_another_users_name_then_refused(http, jwt_secret):
    """No token → 401; ?user= naming another user → 403; a user named like a path reaches only its own file."""
    assert (await http.get("/api/prefs")).status == 401
    response = await http.put("/api/prefs/layouts/x", json=LAYOUT)
    assert response.status == 401
    response = await http.get("/api/prefs/layouts/x?user=trader2", headers=http.trader)
    assert (response.status, (await response.json())["error"]) == (403, "forbidden")
    response = await http.put("/api/prefs/layouts/x?user=trader2", json=LAYOUT, headers=http.trader)
    assert response.status == 403

    await http.put("/api/prefs/layouts/x", json={"mine": 1}, headers=http.trader)
    sneaky = _bearer(jwt_secret, "../trader1")
    response = await http.put("/api/prefs/layouts/x", json={"theirs": 2}, headers=sneaky)
    assert response.status == 200
    response = await http.get("/api/prefs/layouts/x", headers=http.trader)
    assert (await response.json())["value"] == {"mine": 1}


async def test_prefs_when_hostile_input_then_clear_error_and_nothing_lost(http):
    """Huge, wrong type, not JSON, too deep, bad kind or name, too many: each a clear error; the kept layout stays."""
    await http.put("/api/prefs/layouts/keep", json=LAYOUT, headers=http.trader)

    async def put(path: str, body: bytes) -> tuple[int, dict]:
        response = await http.put(path, data=body, headers={**http.trader, "Content-Type": "application/json"})
        return response.status, await response.json()

    status, body = await put("/api/prefs/layouts/keep", json.dumps({"blob": "x" * (64 * 1024)}).encode())
    assert (status, body["error"]) == (413, "tooLarge")
    status, body = await put("/api/prefs/layouts/keep", b'["a", "list"]')
    assert (status, body["error"]) == (400, "wrongType") and "JSON object" in body["message"]
    status, body = await put("/api/prefs/layouts/keep", b"not json{")
    assert (status, body["error"]) == (400, "malformed")
    status, body = await put("/api/prefs/layouts/keep", b"[" * 5000 + b"]" * 5000)
    assert status == 400
    status, body = await put("/api/prefs/layouts/keep", json.dumps({"a": [[[[[[[[[1]]]]]]]]]}).encode())
    assert (status, body["error"]) == (400, "tooDeep")
    status, body = await put("/api/prefs/secrets/keep", b"{}")
    assert (status, body["error"]) == (404, "badKind")
    status, body = await put("/api/prefs/layouts/%2E%2E%2Fetc", b"{}")
    assert (status, body["error"]) == (400, "badName")
    status, body = await put("/api/prefs/layouts/" + "n" * 65, b"{}")
    assert (status, body["error"]) == (400, "badName")
    status, body = await put("/api/prefs/layouts/nan", b'{"x": NaN}')
    assert status == 400

    for index in range(MAX_ITEMS_PER_KIND - 1):
        assert (await put(f"/api/prefs/layouts/l{index}", b"{}"))[0] == 200
    status, body = await put("/api/prefs/layouts/one-too-many", b"{}")
    assert (status, body["error"]) == (409, "tooMany")

    response = await http.get("/api/prefs/layouts/keep", headers=http.trader)
    assert (await response.json())["value"] == LAYOUT
