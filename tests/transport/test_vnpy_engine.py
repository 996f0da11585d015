"""vn.py is contained: its folder under tickstage's state dir, the working directory kept."""

from __future__ import annotations

import os
from pathlib import Path

import vnpy.trader.utility as vnpy_utility


async def test_desk_when_started_then_cwd_unchanged_and_vnpy_home_under_state_dir(desk):
    """MainEngine's chdir is undone and vn.py's .vntrader lives in TICKSTAGE_STATE_DIR."""
    state_dir = Path(os.environ["TICKSTAGE_STATE_DIR"]).resolve()
    assert Path(os.getcwd()).resolve() != vnpy_utility.TRADER_DIR.resolve()
    assert vnpy_utility.TEMP_DIR.resolve() == state_dir / ".vntrader"
    assert desk.engine.main_engine is not None
