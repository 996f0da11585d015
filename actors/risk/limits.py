"""Risk limits and kill-switch states: config defaults, run-time changes, the journal.

Effective limits of a rule instance, lowest precedence first: the rule class's
defaults, ``[risk.limits.<rule>]``, ``[risk.accounts.<account>.<rule>]``, then
every run-time change journaled so far (who and when, table
``limit_changes``). Kill-switch states start ``active`` and follow the
journaled changes (``kill_switch_changes``), so a tripped switch stays tripped
across a restart of its actor or of the process.

The store is an in-process object used on the loop thread only: a rule actor
reads its limits at start (memory, no I/O); writes are queued to the
journal's writer thread (never blocking).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from actors.orders.config import OrdersConfig
from actors.risk import GLOBAL_SCOPE
from actors.orders.journal import OnCommit, OrderJournal

KILL_SWITCH_STATES = ("active", "reduceOnly", "halted")
"""accounts.capnp ``KillSwitchState`` names, least strict first."""
KILL_SWITCH_SCOPES = ("account", "group", "global")
"""accounts.capnp ``KillSwitchScope`` names."""


class LimitStore:
    """Effective limits per (rule, scope) and kill-switch states, journaled on change.

    Args:
        config: the order path's configuration.
        defaults: rule → limit name → default (from the rule classes).
        journal: where changes are journaled; ``None`` keeps them in memory only (tests).
    """

    def __init__(self, config: OrdersConfig, defaults: Mapping[str, Mapping[str, float]],
                 journal: OrderJournal | None = None) -> None:
        self._config = config
        self._defaults = {rule: dict(values) for rule, values in defaults.items()}
        self._journal = journal
        self._changes: dict[tuple[str, str], dict[str, float]] = {}
        self._kill_switches: dict[tuple[str, str], str] = {}
        self._kill_switch_rows: dict[tuple[str, str], dict[str, Any]] = {}
        if journal is not None:
            for row in journal.limit_changes():
                self._changes.setdefault((row["rule"], row["scope"]), {})[row["name"]] = row["new_value"]
            for row in journal.kill_switch_changes():
                self._kill_switches[(row["scope"], row["target"])] = row["state"]
                self._kill_switch_rows[(row["scope"], row["target"])] = dict(row)

    def limits(self, rule: str, scope: str) -> dict[str, float]:
        """Return the effective limits of ``rule`` for ``scope`` (an account id or ``"global"``).

        Raises:
            KeyError: unknown rule.
        """
        if rule not in self._defaults:
            raise KeyError(rule)
        values = dict(self._defaults[rule])
        values.update(self._config.limits.get(rule, {}))
        if scope != GLOBAL_SCOPE:
            values.update(self._config.account_limits.get(scope, {}).get(rule, {}))
        values.update(self._changes.get((rule, scope), {}))
        return values

    def change_nowait(self, rule: str, scope: str, name: str, value: float, changed_by: str,
                      on_commit: OnCommit | None = None) -> dict[str, Any]:
        """Change one limit now and journal who and when.

        Args:
            rule: rule name, ``"active_order"``.
            scope: account id or ``"global"``.
            name: limit name, ``"limit"``.
            value: the new value, in the rule's unit (finite, ≥ 0).
            changed_by: user from the admin token.
            on_commit: called on the loop once the change is durable.

        Returns:
            The journal row (``ts_ns``, ``changed_by``, ``rule``, ``scope``, ``name``,
            ``old_value``, ``new_value``).

        Raises:
            KeyError: unknown rule or limit name.
            ValueError: the value is not a finite number ≥ 0.
        """
        current = self.limits(rule, scope)
        if name not in current:
            raise KeyError(f"{rule} has no limit {name!r} (has {sorted(current)})")
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"limit {rule}.{name} must be a finite number ≥ 0, not {value!r}")
        row = {"ts_ns": time.time_ns(), "changed_by": changed_by, "rule": rule, "scope": scope,
               "name": name, "old_value": current[name], "new_value": value}
        self._changes.setdefault((rule, scope), {})[name] = value
        if self._journal is not None:
            self._journal.append_limit_change_nowait(row, on_commit)
        elif on_commit is not None:
            on_commit(True, "")
        return row

    def kill_switch(self, scope: str, target: str) -> str:
        """Return the state (``active``, ``reduceOnly``, ``halted``) of one kill switch."""
        return self._kill_switches.get((scope, target), "active")

    def kill_switch_change(self, scope: str, target: str) -> dict[str, Any] | None:
        """Return the last change of one kill switch (``ts_ns``, ``changed_by``, ``state``, ``previous``,
        ``reason``), or ``None`` when it never changed."""
        row = self._kill_switch_rows.get((scope, target))
        return dict(row) if row is not None else None

    def kill_switches(self) -> dict[tuple[str, str], str]:
        """Return every kill switch that is not ``active``: (scope, target) → state."""
        return {key: state for key, state in self._kill_switches.items() if state != "active"}

    def set_kill_switch_nowait(self, scope: str, target: str, state: str, changed_by: str, reason: str,
                               on_commit: OnCommit | None = None) -> dict[str, Any]:
        """Set a kill switch now and journal who, when and why.

        Returns:
            The journal row (``previous`` is the state before).

        Raises:
            ValueError: unknown scope or state.
        """
        if scope not in KILL_SWITCH_SCOPES or state not in KILL_SWITCH_STATES:
            raise ValueError(f"kill switch scope {scope!r} / state {state!r} unknown")
        row = {"ts_ns": time.time_ns(), "changed_by": changed_by, "scope": scope, "target": target,
               "state": state, "previous": self.kill_switch(scope, target), "reason": reason}
        self._kill_switches[(scope, target)] = state
        self._kill_switch_rows[(scope, target)] = row
        if self._journal is not None:
            self._journal.append_kill_switch_change_nowait(row, on_commit)
        elif on_commit is not None:
            on_commit(True, "")
        return row


__all__ = ["KILL_SWITCH_SCOPES", "KILL_SWITCH_STATES", "LimitStore"]
