"""The admin audit: every admin action, durable in the desk's journal, bounded, queryable.

Each record (:class:`AuditRecord`) names who (the token's ``sub``), when
(UNIX ns), the action (``restart``, ``stop``, ``fault``, ``limit``,
``kill_switch``, ``record``), its target and how it ended. Every field is cut
to :data:`MAX_FIELD_CHARS` characters (``…`` marks a cut): nothing a client
sends can make a record, a log line or the audit table grow past that.

Where it lives: on a desk with an order path, in the journal's SQLite file
(table ``audit``, append-only, committed before the admin's answer goes out:
:meth:`actors.orders.journal.OrderJournal.append_audit_now`), so it survives
a restart, a SIGTERM or a kill -9. Retention: the newest
:data:`AUDIT_KEPT_ROWS` rows and at most :data:`AUDIT_MAX_AGE_S` old; older
rows are deleted at start and every :data:`PRUNE_EVERY` records (off the
loop). A node without an order path (``edge`` or ``aggregator`` role)
keeps the last :data:`AUDIT_KEPT` records in memory only.

Refusals (result ``forbidden``) are folded: one record per user and action
per :data:`REFUSAL_WINDOW_S`; later identical refusals in the window are
counted, and the next refusal written after it carries that count in
``repeated``. A trader hammering an admin route adds one record a minute.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from schemas.errors import TickstageError

if TYPE_CHECKING:
    from actors.orders.journal import OrderJournal

AUDIT_KEPT = 1000
"""Records kept in memory on a node without a journal."""
AUDIT_KEPT_ROWS = 100_000
"""Newest audit rows kept in the journal."""
AUDIT_MAX_AGE_S = 90 * 24 * 3600
"""Oldest audit row kept in the journal, seconds (90 days)."""
PRUNE_EVERY = 1000
"""Records between two prunes of the audit table."""
MAX_FIELD_CHARS = 256
"""Longest user, action, target or result kept, characters."""
MAX_QUERY_ROWS = 1000
"""Most records one ``GET /admin/audit`` returns."""
REFUSAL_WINDOW_S = 60.0
"""One ``forbidden`` record per user and action within this window, seconds."""

_log = structlog.get_logger("transport.admin.audit")


def cap(text: Any, limit: int = MAX_FIELD_CHARS) -> str:
    """Return ``str(text)`` cut to ``limit`` characters (the last one ``…`` when cut)."""
    text = text if isinstance(text, str) else str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class AuditRecord:
    """One admin action.

    Attributes:
        user: the token's ``sub`` (≤ :data:`MAX_FIELD_CHARS` characters, as every text field).
        ts: when, ISO 8601 UTC.
        ts_ns: when, UNIX timestamp (nanoseconds).
        action: ``"restart"``, ``"stop"``, ``"fault"``, ``"limit"``, ``"kill_switch"``, ``"record"``.
        target: what was acted on (an actor path, a limit, a route for a refusal).
        result: ``"restarted"``, ``"forbidden"``, ``"malformed"``, ``"changed"`` ... (per action).
        repeated: identical refusals folded into this record (see the module docstring).
    """

    user: str
    ts: str
    ts_ns: int
    action: str
    target: str
    result: str
    repeated: int = 0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AuditRecord:
        """Build from an ``audit`` table row (``ts_ns``, ``user``, ``action``, ``target``, ``result``, ``repeated``)."""
        return cls(row["user"], iso_utc(row["ts_ns"]), row["ts_ns"], row["action"], row["target"], row["result"],
                   row["repeated"] or 0)


def iso_utc(ts_ns: int) -> str:
    """Return ``ts_ns`` (UNIX ns) as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ns // 1_000_000_000))
    return f"{stamp}.{ts_ns // 1_000_000 % 1000:03d}Z"


@dataclass(frozen=True)
class AuditStatistics:
    """Counters of the audit.

    Attributes:
        records: records written since start.
        refusals_folded: ``forbidden`` records folded into a later one.
        write_errors: records the journal failed to commit (kept in memory and logged).
        pruned: rows deleted by retention since start.
    """

    records: int
    refusals_folded: int
    write_errors: int
    pruned: int


class AuditLog:
    """The desk's admin audit (loop thread).

    Args:
        journal: the desk's :class:`~actors.orders.journal.OrderJournal`, or ``None`` (memory only).
        kept: records kept in memory.
        kept_rows: see :data:`AUDIT_KEPT_ROWS`.
        max_age_s: see :data:`AUDIT_MAX_AGE_S`.
    """

    def __init__(self, journal: OrderJournal | None = None, kept: int = AUDIT_KEPT, kept_rows: int = AUDIT_KEPT_ROWS,
                 max_age_s: float = AUDIT_MAX_AGE_S) -> None:
        self.journal = journal
        self.kept_rows = kept_rows
        self.max_age_s = max_age_s
        self._records: collections.deque[AuditRecord] = collections.deque(maxlen=kept)
        self._refusals: dict[tuple[str, str], tuple[float, int]] = {}  # (user, action) → (window start, folded)
        self._written = self._folded = self._errors = self._pruned = 0
        self._prune_task: asyncio.Task | None = None

    def record(self, user: str, action: str, target: str, result: str) -> AuditRecord | None:
        """Append and log one action (fields capped); return it, or ``None`` for a folded refusal."""
        user, action, target, result = cap(user), cap(action), cap(target), cap(result)
        repeated = 0
        if result == "forbidden":
            now = time.monotonic()
            key = (user, action)
            window = self._refusals.get(key)
            if window is not None and now - window[0] < REFUSAL_WINDOW_S:
                self._refusals[key] = (window[0], window[1] + 1)
                self._folded += 1
                return None
            if len(self._refusals) > 10_000:  # many users: drop the closed windows
                self._refusals = {k: w for k, w in self._refusals.items() if now - w[0] < REFUSAL_WINDOW_S}
            repeated = window[1] if window is not None else 0
            self._refusals[key] = (now, 0)
        now_ns = time.time_ns()
        entry = AuditRecord(user, iso_utc(now_ns), now_ns, action, target, result, repeated)
        self._records.append(entry)
        self._written += 1
        _log.info("admin_action_audited", user=user, action=action, target=target, result=result, repeated=repeated)
        if self.journal is not None:
            self._write(entry)
        return entry

    def _write(self, entry: AuditRecord) -> None:
        row = {"ts_ns": entry.ts_ns, "user": entry.user, "action": entry.action, "target": entry.target,
               "result": entry.result, "repeated": entry.repeated}
        try:
            ok, error = self.journal.append_audit_now(row)
        except TickstageError as exc:  # journal closed (the desk is stopping)
            ok, error = False, str(exc)
        if not ok:
            self._errors += 1
            _log.error("admin_audit_write_failed", error=error)
        if self._written % PRUNE_EVERY == 0:
            self.prune_soon()

    def prune_soon(self) -> None:
        """Delete rows past the retention off the loop (one prune at a time; loop thread)."""
        if self.journal is None or (self._prune_task is not None and not self._prune_task.done()):
            return
        min_ts_ns = time.time_ns() - int(self.max_age_s * 1e9)
        self._prune_task = asyncio.get_running_loop().create_task(self._prune(min_ts_ns))

    async def _prune(self, min_ts_ns: int) -> None:
        try:
            self._pruned += await asyncio.to_thread(self.journal.prune_audit, self.kept_rows, min_ts_ns)
        except TickstageError as exc:
            _log.warning("admin_audit_prune_failed", error=str(exc))

    async def query(self, since_ns: int = 0, until_ns: int = 2**63 - 1, user: str | None = None,
                    limit: int = MAX_QUERY_ROWS) -> list[AuditRecord]:
        """Return the newest ``limit`` records with ``since_ns <= ts_ns < until_ns`` (and ``user``), oldest first.

        Reads the journal off the loop; without a journal, the records in memory.

        Raises:
            JournalError: the journal cannot be read.
        """
        if self.journal is None:
            found = [r for r in self._records
                     if since_ns <= r.ts_ns < until_ns and (user is None or r.user == user)]
            return found[-limit:] if limit else []
        self.journal.flush()
        rows = await asyncio.to_thread(self.journal.audit_rows, since_ns, until_ns, user, limit)
        return [AuditRecord.from_row(row) for row in rows]

    def records(self) -> list[AuditRecord]:
        """Return the records written by this process and kept in memory, oldest first."""
        return list(self._records)

    def statistics(self) -> AuditStatistics:
        """Return the audit's counters now."""
        return AuditStatistics(self._written, self._folded, self._errors, self._pruned)

    async def close(self) -> None:
        """Wait for a running prune. Idempotent."""
        if self._prune_task is not None:
            await asyncio.gather(self._prune_task, return_exceptions=True)
            self._prune_task = None


__all__ = ["AUDIT_KEPT", "AUDIT_KEPT_ROWS", "AUDIT_MAX_AGE_S", "MAX_FIELD_CHARS", "MAX_QUERY_ROWS",
           "REFUSAL_WINDOW_S", "AuditLog", "AuditRecord", "AuditStatistics", "cap", "iso_utc"]
