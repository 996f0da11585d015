"""``tickstage admin tree|restart PATH|stop PATH|audit|limits|kill-switch|fault KIND [TARGET]``: the admin API
from a terminal.

``fault KIND [TARGET] [--duration-ms N] ...`` posts a simulator fault to
``POST /admin/faults`` (transport/process/faults_api.py) and prints its record
and the scenario file the desk appended it to (replay it with ``tickstage sim``).

``limits`` lists every rule instance's limits and the kill switches not
active (``GET /admin/limits``); with ``--rule --scope --name --value`` it
changes one limit (``POST /admin/limits``). ``kill-switch --scope
account|group|global [--target T] --state halted|reduce-only|active
--reason R`` sets a kill switch (``POST /admin/kill-switch``). Both go through
the desk's admin API (transport/admin/risk_admin.py), which audits them with
the old and new values.

The tree prints as an indented table with the columns of ``GET /admin/tree``::

    PATH                      KIND               STATE       RESTARTS  MAILBOX  MSGS/S  LAST ERROR
    root                      RootSupervisor     running            0        0       0  -
      market                  MarketSupervisor   running            1        0      12  RestartIntensityExceeded: ...
        market/group/rb       GroupActor         running            0        0     210  -

Exit status: 0 on success, 1 when the desk answered with an error (401,
403, 404, 409 ...) or could not be reached, 2 for a usage error.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

COLUMNS = ("PATH", "KIND", "STATE", "RESTARTS", "MAILBOX", "MSGS/S", "LAST ERROR")
ERROR_WIDTH = 60
"""Characters of the last error shown in the table."""


STATE_NAMES = {"active": "active", "allowed": "active", "reduce-only": "reduceOnly", "reduceOnly": "reduceOnly",
               "halted": "halted"}
"""Kill-switch state as typed → the API's name (``reduce-only`` and ``allowed`` are the desk's words)."""
STATE_WORDS = {"active": "trading allowed", "reduceOnly": "reduce-only", "halted": "halted"}
"""The API's kill-switch state → what it means to a trader."""


async def admin_request(url: str, token: str, action: str, path: str | None = None,
                        timeout_s: float = 15.0, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Call the admin API of the desk at ``url``.

    Args:
        url: the desk's base URL, ``http://127.0.0.1:8700``.
        token: an admin JWT.
        action: ``"tree"``, ``"restart"``, ``"stop"``, ``"audit"``, ``"limits"``, ``"kill-switch"`` or ``"fault"``.
        path: the actor path for ``restart`` / ``stop``.
        body: a JSON body to POST to ``/admin/<action>`` (``limits``, ``kill-switch``; ``fault`` posts to
            ``/admin/faults``, e.g. ``{"kind": "crash", "target": "market/group/rb"}``); None: GET.
        timeout_s: total request timeout, seconds.

    Returns:
        (HTTP status, decoded JSON body or the text of a non-JSON body).

    Raises:
        aiohttp.ClientError: the desk could not be reached.
        TimeoutError: no answer within ``timeout_s``.
    """
    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        if action in ("restart", "stop"):
            body = {"path": path}
        if body is not None:
            target = "faults" if action == "fault" else action
            request = http.post(f"{base}/admin/{target}", json=body, headers=headers)
        else:
            request = http.get(f"{base}/admin/{action}", headers=headers)
        async with request as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text


def _last_error(node: dict) -> str:
    error = node.get("last_error")
    if not error:
        return "-"
    text = f"{error['type']}: {error['message']}".replace("\n", " ")
    return text if len(text) <= ERROR_WIDTH else text[:ERROR_WIDTH - 1] + "…"


def tree_rows(tree: dict) -> list[tuple[str, ...]]:
    """Return one row of :data:`COLUMNS` per node, depth first, the path indented two spaces a level."""
    rows: list[tuple[str, ...]] = []

    def visit(node: dict, depth: int) -> None:
        rows.append(("  " * depth + node["path"], node["kind"], node["state"], str(node["restarts"]),
                     str(node["mailbox"]), f"{node['msgs_per_s']:.0f}", _last_error(node)))
        for child in node.get("children", ()):
            visit(child, depth + 1)

    visit(tree, 0)
    return rows


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]], right: frozenset[int] = frozenset()) -> str:
    """Return ``rows`` under ``header`` as aligned text (columns in ``right`` right-aligned)."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def format_tree(tree: dict) -> str:
    """Return the tree of ``GET /admin/tree`` as an indented table."""
    return format_table(COLUMNS, tree_rows(tree), right=frozenset({3, 4, 5}))


def format_audit(records: list[dict]) -> str:
    """Return the records of ``GET /admin/audit`` as a table, oldest first."""
    rows = [(r["ts"], r["user"], r["action"], r["target"], r["result"]) for r in records]
    return format_table(("TS", "USER", "ACTION", "TARGET", "RESULT"), rows)


def format_fault(record: dict) -> str:
    """Return one line for a fault record of ``POST /admin/faults`` (and where it was recorded)."""
    where = f" -> {record['target']}" if record.get("target") else ""
    reason = f" ({record['reason']})" if record.get("reason") else ""
    line = f"fault {record['index']} {record['kind']}{where}: {record['status']}{reason}"
    return line + (f"\nscenario {record['scenario']}" if record.get("scenario") else "")


def format_limits(body: dict) -> str:
    """Return ``GET /admin/limits`` as a table of RULE SCOPE LIMIT VALUE, then the kill switches not active."""
    rows = [(rule, scope, name, _number(value))
            for rule, scopes in sorted(body.get("limits", {}).items())
            for scope, limits in sorted(scopes.items())
            for name, value in sorted(limits.items())]
    lines = [format_table(("RULE", "SCOPE", "LIMIT", "VALUE"), rows, right=frozenset({3}))]
    switches = body.get("kill_switches") or []
    if not switches:
        lines.append("kill switches: trading allowed everywhere")
    for switch in switches:
        when = iso_of_ns(switch.get("ts_ns", 0))
        who = f" by {switch['changed_by']}" if switch.get("changed_by") else ""
        why = f": {switch['reason']}" if switch.get("reason") else ""
        lines.append(f"kill switch {switch['scope']} {switch['target']}: {STATE_WORDS.get(switch['state'], switch['state'])}"
                     f"{who}{f' at {when}' if when else ''}{why}")
    return "\n".join(lines)


def iso_of_ns(ts_ns: int) -> str:
    """``2026-12-04 21:30:01 UTC`` of a UNIX ns timestamp; ``""`` for 0."""
    from datetime import datetime, timezone

    if not ts_ns:
        return ""
    return datetime.fromtimestamp(ts_ns / 1e9, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def limit_body(rule: str | None, scope: str | None, name: str | None, value: str | None) -> dict | None:
    """Return the ``POST /admin/limits`` body, None to list (no option given).

    Raises:
        ValueError: some but not all of rule, scope, name and value given, or a value that is not a number.
    """
    given = {"rule": rule, "scope": scope, "name": name, "value": value}
    if all(v is None for v in given.values()):
        return None
    missing = [f"--{k}" for k, v in given.items() if v is None]
    if missing:
        raise ValueError(f"to change a limit give --rule, --scope, --name and --value (missing {', '.join(missing)})")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"--value must be a number, not {value!r}") from None
    return {"rule": rule, "scope": scope, "name": name, "value": number}


def kill_switch_body(scope: str | None, target: str | None, state: str | None, reason: str | None) -> dict:
    """Return the ``POST /admin/kill-switch`` body.

    Raises:
        ValueError: no scope or state, an unknown state word, or no target for an account or group switch.
    """
    if scope not in ("account", "group", "global"):
        raise ValueError("give --scope account, group or global")
    if state not in STATE_NAMES:
        raise ValueError(f"give --state, one of {', '.join(sorted(STATE_NAMES))}")
    if scope != "global" and not target:
        raise ValueError(f"give --target: the {scope} whose switch to set")
    return {"scope": scope, "target": target or "global", "state": STATE_NAMES[state], "reason": reason or ""}


async def run_admin(url: str, token: str, action: str, path: str | None, as_json: bool = False,
                    body: dict[str, Any] | None = None) -> tuple[int, str]:
    """Run one admin command; return (exit status, text to print).

    Text goes to stdout on success and to stderr on failure (the caller decides).

    Args:
        body: the JSON body of a ``limits`` change or a ``kill-switch`` (None: list the limits), or for
            ``fault`` the fault's keys (``kind``, ``target``, ``duration_ms`` ...).
    """
    if action in ("restart", "stop") and not path:
        return 2, f"tickstage admin {action}: give the actor PATH (e.g. market/group/rb)"
    if action == "fault" and not (body or {}).get("kind"):
        return 2, "tickstage admin fault: give the fault KIND (e.g. crash market/group/rb)"
    try:
        status, body = await admin_request(url, token, action, path, body=body)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return 1, f"tickstage admin: cannot reach {url}: {exc or type(exc).__name__}"
    if as_json:
        return (0 if status < 400 else 1), json.dumps(body, indent=2, default=str)
    if status >= 400:
        detail = (body.get("message") or body.get("error") or body.get("result")) if isinstance(body, dict) else body
        return 1, f"tickstage admin {action}: HTTP {status}: {detail}"
    if action == "tree":
        if body.get("tree") is None:
            return 1, "tickstage admin tree: the desk has no actor tree"
        health = "healthy" if body.get("healthy") else "ROOT FAILED"
        return 0, f"{format_tree(body['tree'])}\n({health}; {body['runtime']['pending']} messages pending)"
    if action == "fault":
        return 0, format_fault(body)
    if action == "audit":
        return 0, format_audit(body["records"]) if body["records"] else "(no admin actions yet)"
    if action == "limits" and "change" in body:
        change = body["change"]
        return 0, (f"limit {change['rule']}/{change['scope']} {change['name']}: {_number(change['old_value'])} -> "
                   f"{_number(change['new_value'])} (changed by {change['changed_by']})")
    if action == "limits":
        return 0, format_limits(body)
    if action == "kill-switch":
        return 0, (f"kill switch {body['scope']} {body['target']}: {STATE_WORDS.get(body.get('previous'), '?')} -> "
                   f"{STATE_WORDS.get(body['state'], body['state'])}"
                   + (" (its open orders are being cancelled)" if body["state"] == "halted" else ""))
    return 0, f"{action} {body['path']}: {body['result']} (state {body.get('state')}, restarts {body.get('restarts')})"


__all__ = ["COLUMNS", "STATE_NAMES", "STATE_WORDS", "admin_request", "format_audit", "format_fault", "format_limits",
           "format_tree", "iso_of_ns", "kill_switch_body", "limit_body", "run_admin", "tree_rows"]
