"""The simulator venue's drop copy: every order it receives, one JSON line, appended as it arrives.

A real venue's drop copy is what an exchange itself says it received,
independent of the desk's journal; tests count venue orders from it across
kills of the whole desk (the simulator's book dies with the process, the file
does not). Each line::

    {"ts_ns": 1510534800123456789, "vt_orderid": "SIM.1731499000123_7", "reference": "tickstage:acct-01:o-7"}

``ts_ns``: when the venue took the order, ns since UNIX epoch. The venue's
caller (the desk's loop) only queues the line; the drop copy's own thread
opens the file (append mode), writes and flushes every line it is handed, so
a line is in the file within moments of the order and no file I/O runs on the
caller's thread. Lines still queued when the process is killed are lost with
the venue's book: a count from this file is a lower bound of what the venue saw.
"""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path

_STOP = object()


class DropCopy:
    """Appends one JSON line per received order to ``path`` from its own thread.

    Args:
        path: the drop-copy file (created with its folder; appended to, never truncated).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sim.drop_copy", daemon=True)
        self._thread.start()

    def record(self, vt_orderid: str, reference: str, ts_ns: int) -> None:
        """Queue the line of one received order (any thread; never blocks)."""
        self._queue.put(json.dumps({"ts_ns": ts_ns, "vt_orderid": vt_orderid, "reference": reference}))

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued, then stop the thread (at most ``timeout_s``)."""
        self._queue.put(_STOP)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            while True:
                line = self._queue.get()
                if line is _STOP:
                    return
                out.write(line + "\n")
                while True:   # the rest of a burst in the same write, one flush
                    try:
                        line = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if line is _STOP:
                        out.flush()
                        return
                    out.write(line + "\n")
                out.flush()


def read_drop_copy(path: str | Path) -> list[dict]:
    """Return the drop copy's lines as dicts, oldest first (a torn last line, from a kill, is skipped)."""
    records = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


__all__ = ["DropCopy", "read_drop_copy"]
