"""Preferences outlive a SIGTERM and a kill -9 of a real ``tickstage run`` (same state folder)."""

from __future__ import annotations

import signal

import aiohttp

from tests.conftest import JWT_SECRET
from tests.transport.desk_process import DeskProcess
from transport.signin.auth import mint_token

ARGS = ["--synthetic", "--contracts", "50", "--rate", "50"]


async def test_prefs_when_desk_stopped_by_sigterm_or_killed_then_kept(tmp_path):
    """A layout PUT before SIGTERM and one PUT right before kill -9 are both there after the restarts."""
    args = [*ARGS, "--state-dir", str(tmp_path / "state")]
    headers = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'trader1', 'trader')}"}
    first = await DeskProcess(args, tmp_path / "first.log").start()
    try:
        async with aiohttp.ClientSession(base_url=first.url) as http:
            response = await http.put("/api/prefs/layouts/day", json={"groups": ["rb"]}, headers=headers)
            assert response.status == 200
    finally:
        assert await first.stop(signal.SIGTERM) == 0

    second = await DeskProcess(args, tmp_path / "second.log").start()
    try:
        async with aiohttp.ClientSession(base_url=second.url) as http:
            response = await http.put("/api/prefs/layouts/night", json={"groups": ["cu"]}, headers=headers)
            assert response.status == 200
    finally:
        await second.stop(signal.SIGKILL)

    third = await DeskProcess(args, tmp_path / "third.log").start()
    try:
        async with aiohttp.ClientSession(base_url=third.url) as http:
            body = await (await http.get("/api/prefs", headers=headers)).json()
        assert body["layouts"] == {"day": {"groups": ["rb"]}, "night": {"groups": ["cu"]}}
    finally:
        await third.stop(signal.SIGTERM)
