"""Desk.start freezes the startup heap so a full collection skips it (issue 18: gen-2 pauses)."""

from __future__ import annotations

import gc


async def test_desk_when_started_then_startup_heap_frozen_for_the_collector(tmp_path):
    """After start the startup objects are in the permanent generation; a full collection leaves them there."""
    from tests.conftest import JWT_SECRET
    from transport.process.app import Desk, DeskConfig

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    desk = Desk(DeskConfig(port=0, contracts=50, rate=50.0, jwt_secret=JWT_SECRET, progress_interval_s=0,
                           state_dir=str(tmp_path)))
    await desk.start()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000
        gc.collect()
        assert gc.get_freeze_count() > frozen * 0.9  # reference counting still frees a few
    finally:
        await desk.stop()
        gc.unfreeze()
