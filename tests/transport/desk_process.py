"""A real ``tickstage run`` process on loopback for restart, kill and memory tests."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from tests.conftest import JWT_SECRET

REPO = Path(__file__).resolve().parents[2]


class DeskProcess:
    """One ``tickstage run`` subprocess: its port, its RSS, its stderr file; stopped by signal.

    Args:
        args: extra ``tickstage run`` arguments (``--state-dir``, ``--replay`` ...).
        stderr_path: where the process's stderr (its logs) goes.
        env: extra environment variables (``TICKSTAGE_STATE_DIR`` is unset unless given here).
    """

    def __init__(self, args: list[str], stderr_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.stderr_path = stderr_path
        self.env = {k: v for k, v in os.environ.items() if k != "TICKSTAGE_STATE_DIR"}
        self.env.update({"TICKSTAGE_JWT_SECRET": JWT_SECRET, **(env or {})})
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 60.0) -> DeskProcess:
        """Start the process and wait (bounded) for its ``listening`` line."""
        with open(self.stderr_path, "ab") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "transport.process.cli", "--log-level", "info", "run", "--port", "0", *self.args,
                cwd=REPO, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=stderr)
        async with asyncio.timeout(timeout_s):
            while True:
                line = (await self.process.stdout.readline()).decode()
                if not line:
                    raise AssertionError(f"tickstage run exited: {self.stderr_path.read_text()[-2000:]}")
                found = re.search(r"listening http://127\.0\.0\.1:(\d+)/", line)
                if found:
                    self.port = int(found.group(1))
                    break
        asyncio.get_running_loop().create_task(self._drain_stdout())
        return self

    async def _drain_stdout(self) -> None:
        while self.process is not None and self.process.stdout is not None:
            if not await self.process.stdout.readline():
                return

    def rss_kib(self) -> int:
        """The process's resident set size now, KiB (``VmRSS`` in /proc/<pid>/status)."""
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1))

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Send ``sig`` and wait (bounded) for the exit; return the exit code."""
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout_s)


__all__ = ["DeskProcess", "REPO"]
