"""Where the headless browser of the tests and perf/bench_browser.py is, and its flags.

Debian's ``chromium`` (``.ci/run`` installs it when missing), driven by
Playwright through ``executable_path``; ``playwright install`` cannot
download here. ``TICKSTAGE_CHROMIUM`` points elsewhere.
"""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("TICKSTAGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

__all__ = ["CHROMIUM", "CHROMIUM_ARGS"]
