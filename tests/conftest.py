"""Test-wide setup: vn.py's folder in a temporary state dir, the data folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_STATE = tempfile.mkdtemp(prefix="tickstage-test-state-")
os.environ.setdefault("TICKSTAGE_STATE_DIR", _STATE)

from transport.vnpy_home import contain_vnpy  # noqa: E402

contain_vnpy(Path(os.environ["TICKSTAGE_STATE_DIR"]))

DATA_DIR = Path(os.environ.get("TICKSTAGE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
"""Recorded CTP ticks (../shared/data beside the checkout)."""


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of recorded market data; fails clearly when it is missing."""
    if not (DATA_DIR / "cn_futopt_l1_20171113_0900-1000.csv.gz").exists():
        pytest.fail(f"recorded data not found in {DATA_DIR}; set TICKSTAGE_DATA_DIR")
    return DATA_DIR
