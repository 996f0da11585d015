"""Scenario files: a desk to start, clients to attach, faults on a timeline (TOML).

::

    [scenario]
    name = "matrix"
    duration_s = 60          # run length after warm-up, seconds
    seed = 7                 # route faults' choices, garbage bytes
    max_recovery_ms = 1000   # a fault recovering later fails the run

    [desk]                   # the in-process desk (keys of sim.settings plus socket water marks)
    contracts = 2000         # synthetic market (no replay)
    rate = 2000.0            # mean ticks/s
    peak = 4000.0            # peak ticks/s outside bursts
    instruments = "data:cn_futopt_instruments_20171113.csv"   # "data:" → the recorded-data folder
    replay = ""              # a CSV or .tape instead of the synthetic market
    speed = 20.0             # replay speed
    copies = 1               # replay copies (sim/multiplex.py)
    loop = false             # restart the replayed tape at its end (the soak judges a second pass)
    high_water_bytes = 262144
    nats = false             # true: the desk runs on a nats-server of its own (a nats_disconnect stops it)

    [clients]
    probes = 2               # sessions subscribing and measuring recovery
    groups = ["rb", "m_o"]   # every probe subscribes these (and every fault target's group)
    traders = 2              # traders submitting orders with retries (synthetic market only)
    orders_per_s = 5.0

    [[fault]]
    at_s = 3
    kind = "crash"           # FAULT_KINDS
    target = "market/group/rb"
    optional = false         # true: a fault that cannot apply here is skipped without failing the run

Targets are actor paths; ``session:<client>`` names the session of a
simulated client (``session:probe1``). Paths relative to the scenario file
are resolved beside it; ``data:NAME`` in the recorded-data folder
(``TICKSTAGE_DATA_DIR``, default ``../shared/data`` beside the checkout).
"""

from __future__ import annotations

import json
import math
import os
import tomllib
import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError

FAULT_KINDS = (
    "crash", "kill", "stall", "drop", "duplicate", "delay", "corrupt", "slow_client", "garbage_client",
    "gateway_disconnect", "venue_disconnect", "nats_disconnect", "burst", "clock_skew", "tamper", "restart_desk",
)  # fmt: skip
"""Every fault kind a scenario may name."""

TARGETED = frozenset({"crash", "kill", "stall", "drop", "duplicate", "delay", "corrupt", "tamper"})
"""Kinds that need an actor ``target``."""

TIMED = frozenset({"stall", "drop", "duplicate", "delay", "corrupt", "slow_client", "gateway_disconnect",
                   "venue_disconnect",
                   "nats_disconnect", "burst", "clock_skew", "tamper"})
"""Kinds that last ``duration_ms``."""


def data_dir() -> Path:
    """The recorded-data folder: ``TICKSTAGE_DATA_DIR`` or ``../shared/data`` beside the checkout."""
    default = Path(__file__).resolve().parents[3] / "shared" / "data"
    return Path(os.environ.get("TICKSTAGE_DATA_DIR", default))


@dataclass(frozen=True)
class FaultSpec:
    """One fault of the timeline.

    Attributes:
        at_s: when, seconds after the warm-up.
        kind: one of :data:`FAULT_KINDS`.
        target: actor path or ``session:<client>`` (targeted kinds).
        duration_ms: how long a timed fault lasts, ms.
        probability: share of route messages affected (drop, duplicate, corrupt, tamper).
        delay_ms: per-message delay (delay), ms.
        factor: rate multiplier (burst).
        skew_ms: exchange-time shift (clock_skew), ms.
        frames: garbage frames sent (garbage_client).
        read_interval_ms: slow client's pause between reads, ms (0: no reads at all).
        groups: groups a slow or garbage client subscribes (default: the probes').
        optional: when the fault cannot apply to this desk (a ``nats_disconnect`` on a desk
            without NATS) it is skipped and the run may still pass; a skipped fault that is not
            optional fails the run.
    """

    at_s: float
    kind: str
    target: str = ""
    duration_ms: float = 500.0
    probability: float = 1.0
    delay_ms: float = 100.0
    factor: float = 10.0
    skew_ms: float = 5000.0
    frames: int = 40
    read_interval_ms: float = 0.0
    groups: tuple[str, ...] = ()
    optional: bool = False


@dataclass(frozen=True)
class DeskSpec:
    """The in-process desk of a scenario (see the module docstring for keys).

    ``nats``: run the desk (role ``all``) connected to a nats-server the run
    starts and owns (sim/harness/nats_server.py), so ``nats_disconnect`` stops
    and restarts that server; false (the default) runs it without NATS.
    """

    contracts: int = 2000
    rate: float = 2000.0
    peak: float = 0.0
    seed: int = 7
    instruments: str = ""
    replay: str = ""
    speed: float = 20.0
    copies: int = 1
    loop: bool = False
    shift_s: float = 3.0
    max_gap_s: float = 0.0
    high_water_bytes: int = 256 * 1024
    low_water_bytes: int = 64 * 1024
    nats: bool = False


@dataclass(frozen=True)
class ClientsSpec:
    """Simulated clients.

    Attributes:
        probes: sessions subscribing ``groups`` that show recovery.
        groups: groups every probe subscribes (fault targets' groups are added).
        busiest: the N groups carrying the most ticks are added too.
        traders: traders submitting orders with retries, one account each (sim/harness/traders.py).
        orders_per_s: each trader's submission rate.
    """

    probes: int = 1
    groups: tuple[str, ...] = ()
    busiest: int = 3
    traders: int = 0
    orders_per_s: float = 5.0


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file."""

    name: str
    path: Path
    duration_s: float
    seed: int
    max_recovery_ms: float
    desk: DeskSpec
    clients: ClientsSpec
    faults: tuple[FaultSpec, ...] = field(default_factory=tuple)

    def resolve(self, value: str) -> str:
        """Resolve a file reference of the scenario: ``data:NAME``, relative to the file, or as given."""
        if not value:
            return ""
        if value.startswith("data:"):
            return str(data_dir() / value.removeprefix("data:"))
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else self.path.parent / path)


def _build(kind: type, table: dict[str, Any], path: Path, where: str) -> Any:
    known = {f.name: f.type for f in fields(kind)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ScenarioError(path, where, f"unknown keys {unknown}; known: {sorted(known)}")
    values = {}
    for key, value in table.items():
        if isinstance(value, list):
            value = tuple(value)
        values[key] = value
    try:
        return kind(**values)
    except TypeError as exc:
        raise ScenarioError(path, where, str(exc)) from None


def _check_fault(spec: FaultSpec, path: Path, where: str, duration_s: float) -> None:
    if spec.kind not in FAULT_KINDS:
        raise ScenarioError(path, where, f"unknown kind {spec.kind!r}; kinds: {', '.join(FAULT_KINDS)}")
    if not isinstance(spec.at_s, int | float) or not 0 <= spec.at_s < duration_s:
        raise ScenarioError(path, where, f"at_s must be within [0, duration_s={duration_s}), got {spec.at_s!r}")
    if spec.kind in TARGETED and not spec.target:
        raise ScenarioError(path, where, f"kind {spec.kind!r} needs a target (an actor path)")
    if spec.kind in TIMED and not spec.duration_ms > 0:
        raise ScenarioError(path, where, f"kind {spec.kind!r} needs duration_ms > 0")
    if not 0.0 <= spec.probability <= 1.0:
        raise ScenarioError(path, where, f"probability must be within [0, 1], got {spec.probability}")
    if not isinstance(spec.optional, bool):
        raise ScenarioError(path, where, f"optional must be true or false, got {spec.optional!r}")
    if spec.kind == "burst" and not spec.factor > 0:
        raise ScenarioError(path, where, f"factor must be > 0, got {spec.factor}")


def parse_scenario(text: str, path: str | Path = "<scenario>") -> Scenario:
    """Parse scenario TOML.

    Raises:
        ScenarioError: bad TOML, an unknown table, key, kind or value.
    """
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, "toml", str(exc)) from None
    unknown = sorted(set(data) - {"scenario", "desk", "clients", "fault"})
    if unknown:
        raise ScenarioError(path, "file", f"unknown tables {unknown}; known: scenario, desk, clients, fault")
    head = dict(data.get("scenario", {}))
    extra = sorted(set(head) - {"name", "duration_s", "seed", "max_recovery_ms"})
    if extra:
        raise ScenarioError(path, "[scenario]", f"unknown keys {extra}")
    duration_s = head.get("duration_s", 30.0)
    if not isinstance(duration_s, int | float) or not duration_s > 0:
        raise ScenarioError(path, "[scenario]", f"duration_s must be > 0, got {duration_s!r}")
    faults = []
    for i, table in enumerate(data.get("fault", [])):
        where = f"fault[{i}]"
        if "at_s" not in table or "kind" not in table:
            raise ScenarioError(path, where, "needs at_s and kind")
        spec = _build(FaultSpec, table, path, where)
        _check_fault(spec, path, where, float(duration_s))
        faults.append(spec)
    return Scenario(
        name=str(head.get("name", path.stem)),
        path=path,
        duration_s=float(duration_s),
        seed=int(head.get("seed", 7)),
        max_recovery_ms=float(head.get("max_recovery_ms", 1000.0)),
        desk=_build(DeskSpec, dict(data.get("desk", {})), path, "[desk]"),
        clients=_build(ClientsSpec, dict(data.get("clients", {})), path, "[clients]"),
        faults=tuple(sorted(faults, key=lambda f: f.at_s)),
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and parse a scenario file.

    Raises:
        ScenarioError: unreadable file or bad content.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(path, "file", f"cannot read: {exc}") from None
    return parse_scenario(text, path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a scenario value must be finite, got {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ValueError(f"no TOML form for {type(value).__name__}")


def _table(spec: Any, always: tuple[str, ...] = ()) -> list[str]:
    """``key = value`` lines of a spec's fields that differ from their defaults (and those in ``always``)."""
    lines = []
    for f in fields(spec):
        value = getattr(spec, f.name)
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.name in always or value != default:
            lines.append(f"{f.name} = {_toml_value(value)}")
    return lines


def scenario_toml(name: str, duration_s: float, desk: DeskSpec, faults: tuple[FaultSpec, ...] | list[FaultSpec],
                  clients: ClientsSpec | None = None, seed: int = 7, max_recovery_ms: float = 1000.0,
                  comment: str = "") -> str:
    """Return scenario TOML that :func:`parse_scenario` reads back to the same desk, clients and faults.

    Args:
        name: the scenario's name.
        duration_s: run length after the warm-up, seconds (> every fault's ``at_s``).
        desk: the desk to start.
        faults: the timeline (each fault's keys that differ from the defaults are written).
        clients: the simulated clients (default :class:`ClientsSpec`).
        seed: route faults' choices.
        max_recovery_ms: a fault recovering later fails the run, ms.
        comment: lines written as ``#`` comments at the top.

    Raises:
        ValueError: a value with no TOML form (a non-finite float, an unknown type).
    """
    lines = [f"# {line}" if line else "#" for line in comment.splitlines()]
    lines += ["[scenario]", f"name = {_toml_value(name)}", f"duration_s = {_toml_value(float(duration_s))}",
              f"seed = {_toml_value(int(seed))}", f"max_recovery_ms = {_toml_value(float(max_recovery_ms))}", "",
              "[desk]", *_table(desk), "", "[clients]", *_table(clients or ClientsSpec())]
    for spec in faults:
        lines += ["", "[[fault]]", *_table(spec, always=("at_s", "kind"))]
    return "\n".join(lines) + "\n"


__all__ = [
    "FAULT_KINDS", "TARGETED", "TIMED", "ClientsSpec", "DeskSpec", "FaultSpec", "Scenario", "data_dir",
    "load_scenario", "parse_scenario", "scenario_toml",
]  # fmt: skip
