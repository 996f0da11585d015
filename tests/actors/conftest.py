"""Fixtures of the actor tests (the order path's harness lives in tests/actors/order_kit.py)."""

from __future__ import annotations

import pytest

from tests.actors.order_kit import start_harness, stop_harness


@pytest.fixture
async def order_harness(tmp_path):
    """Start order paths on real runtimes: ``await order_harness(config, port=None, market=None)``."""
    started = []

    async def start(config, port=None, market=None, journal_path=None, venues=None):
        harness = await start_harness(tmp_path, config, port, market, journal_path, venues)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await stop_harness(harness)
