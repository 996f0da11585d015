"""Contain vn.py's process-wide side effects before it is imported.

vn.py 4.5 (observed headless): importing ``vnpy.trader`` creates
``~/.vntrader`` unless ``./.vntrader`` exists, reads ``vt_setting.json`` from
there, and adds loguru sinks to stdout and a log file; ``MainEngine()``
``chdir``\\s into that folder. :func:`contain_vnpy` points vn.py at
``<state_dir>/.vntrader`` with console and file logging off, and
:func:`restoring_cwd` undoes the working-directory change.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def restoring_cwd() -> Iterator[None]:
    """Run a block and put the working directory back afterwards."""
    cwd = os.getcwd()
    try:
        yield
    finally:
        os.chdir(cwd)


def state_dir() -> Path:
    """Return the folder for vn.py's home: ``$TICKSTAGE_STATE_DIR``, else a temporary folder for this process.

    Nothing goes to a per-user default folder (``~/.tickstage``): a temporary
    folder is removed when the process exits.
    """
    configured = os.environ.get("TICKSTAGE_STATE_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    folder = Path(tempfile.mkdtemp(prefix="tickstage-vnpy-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def contain_vnpy(folder: Path | None = None) -> Path:
    """Import vn.py with its home folder under ``folder`` and its log sinks off.

    Idempotent: once vn.py is imported its folder is fixed for the process,
    and later calls return it unchanged.

    Args:
        folder: the desk's state folder (default :func:`state_dir`); vn.py gets
            ``folder/.vntrader``.

    Returns:
        vn.py's ``TEMP_DIR`` (the ``.vntrader`` folder it uses).
    """
    if "vnpy.trader.utility" not in sys.modules:
        folder = (folder or state_dir()).resolve()
        vn_home = folder / ".vntrader"
        vn_home.mkdir(parents=True, exist_ok=True)
        settings_file = vn_home / "vt_setting.json"
        settings = json.loads(settings_file.read_text()) if settings_file.exists() else {}
        settings.update({"log.console": False, "log.file": False})
        settings_file.write_text(json.dumps(settings, indent=2))
        with restoring_cwd():
            os.chdir(folder)
            import vnpy.trader.logger  # noqa: F401  (reads settings, sets loguru sinks)
            import vnpy.trader.utility  # noqa: F401
    from vnpy.trader.utility import TEMP_DIR

    return TEMP_DIR


__all__ = ["contain_vnpy", "restoring_cwd", "state_dir"]
