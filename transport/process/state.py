"""A desk's state folder: where its journal (orders, limit and kill-switch changes, admin audit) and the users'
preferences (``prefs/``: layouts, watchlists, settings) live.

Each desk's state belongs to that desk and its venue; nothing is shared
through a per-user default folder any more (desks on one machine used to
share ``~/.tickstage/orders.sqlite3``, so a replay desk showed a synthetic
run's orders).

Where (first found): ``tickstage run --state-dir DIR``, the environment
variable ``TICKSTAGE_STATE_DIR``, the TOML key ``[desk] state_dir``
(:attr:`transport.process.app.DeskConfig.state_dir`). ``[orders] journal = FILE``
still names one journal file outright.

* A desk on the **simulator** (every desk of this build: the vn.py gateway is
  sim/gateway.py) with no state folder gets a fresh temporary folder,
  removed when the desk stops: each simulated run starts clean, and a
  simulated venue's orders can never leak into another run.
* A desk with a state folder keeps one journal per **trading day**,
  ``<state>/journal-<YYYYMMDD>.sqlite3`` (:func:`journal_file`): a restart
  within the trading day reopens it (blotter, account panel, risk counters
  and the admin audit come back from it); the next trading day starts a new
  file; older files stay for the record. The file is chosen when the desk
  starts: restart the desk between the day session's close (15:00) and the
  night session (21:00), as China futures desks do, to roll.
* A desk on a real venue must be given a state folder (:class:`ConfigError`
  otherwise): its journal must outlive the process.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from transport.errors import ConfigError

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
"""China futures exchanges' clock (UTC+8, no daylight saving)."""
NIGHT_SESSION_START_HOUR = 21
"""The night session opens at 21:00 China Standard Time and belongs to the next trading day."""


def trading_day(ts_ns: int | None = None) -> date:
    """Return the China futures trading day of a moment.

    From 21:00 China Standard Time (UTC+8) the night session belongs to the
    next trading day, and a Friday night (through Saturday's early hours)
    and the weekend belong to Monday. Exchange holidays are not modelled
    (the day after a holiday eve's night session is taken as the next
    weekday). Source: the trading rules of SHFE, DCE and ZCE ("the night
    session is part of the next trading day"), as CTP reports it in
    ``TradingDay``.

    Args:
        ts_ns: UNIX timestamp (nanoseconds); default now.

    Returns:
        The trading day (a date in China Standard Time).
    """
    moment = datetime.fromtimestamp((time.time_ns() if ts_ns is None else ts_ns) / 1e9, CHINA_STANDARD_TIME)
    day = moment.date()
    if moment.hour >= NIGHT_SESSION_START_HOUR:
        day += timedelta(days=1)
    while day.weekday() >= 5:  # Saturday, Sunday → Monday
        day += timedelta(days=1)
    return day


def journal_file(folder: Path, day: date) -> Path:
    """Return the journal of trading day ``day`` in ``folder``: ``journal-20171113.sqlite3``."""
    return folder / f"journal-{day:%Y%m%d}.sqlite3"


@dataclass
class StateFolder:
    """The folder of one running desk.

    Attributes:
        path: the folder (exists once :meth:`open` returns).
        temporary: True for a simulator desk's fresh folder, removed by :meth:`close`.
    """

    path: Path
    temporary: bool

    @classmethod
    def open(cls, configured: str | Path | None, simulated: bool) -> StateFolder:
        """Return the desk's state folder: ``configured`` (created when missing) or a fresh temporary one.

        Args:
            configured: the state folder from the CLI, environment or config; empty or None: none.
            simulated: the desk trades on the simulator (a temporary folder is allowed).

        Raises:
            ConfigError: no folder for a desk on a real venue, or the folder cannot be created.
        """
        if configured:
            path = Path(configured).expanduser()
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create the state folder {path}: {exc.strerror}") from None
            return cls(path.resolve(), temporary=False)
        if not simulated:
            raise ConfigError("a desk on a real venue needs a state folder (--state-dir, TICKSTAGE_STATE_DIR "
                              "or [desk] state_dir): its journal must outlive the process")
        return cls(Path(tempfile.mkdtemp(prefix="tickstage-desk-")), temporary=True)

    def journal_path(self, ts_ns: int | None = None) -> Path:
        """Return the journal file of the trading day of ``ts_ns`` (UNIX ns; default now)."""
        return journal_file(self.path, trading_day(ts_ns))

    def prefs_path(self) -> Path:
        """Return the folder of the users' preferences, ``<state>/prefs`` (transport/process/prefs_store.py)."""
        return self.path / "prefs"

    def close(self) -> None:
        """Remove a temporary folder (blocking; call it once the journal is closed). Idempotent."""
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)


__all__ = ["CHINA_STANDARD_TIME", "NIGHT_SESSION_START_HOUR", "StateFolder", "journal_file", "trading_day"]
