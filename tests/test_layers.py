"""The floor plan as a test: imports point one way between the rooms (schemas ← actors ← transport ← assembly).

transport/README.md draws the map; this test keeps it true.

Layers, lowest first:

- ``schemas``: imports nothing of the desk.
- the actor kernel (``actors/_*.py``, ``actors/errors.py``, ``actors/__init__.py``): imports no actor domain
  (market, orders, risk, accounts, sessions, the market-source and root actors), as trio's ``_core`` imports none of
  the tools built on it.
- ``actors``: imports neither ``transport`` nor ``sim``.
- the simulator's venue (``sim/`` but ``sim/harness/``): imports nothing of ``actors`` or ``transport``;
  it is a vn.py gateway like any other venue, named to the desk by configuration (``module:Class``).
- ``transport``'s rooms (edge, cluster, venue, admin, signin and the shared ``transport/*.py``): import no
  ``sim`` and not the process assembly (``transport.process``), which sits on top of them.
- the process assembly (``transport/process/``) and the simulator's harness (``sim/harness/``): may import
  ``transport`` and ``sim``; they put a desk together and drive it.
- nothing outside ``actors`` (and its mirror, ``tests/actors``) imports a private module (``actors._*``,
  ``actors.risk._rule``): the packages export what others use.

:data:`KNOWN` lists the breaches that exist today, each to be removed by the restructuring that fixes it; the
test fails on a new breach and on a listed one that no longer exists, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("actors", "transport", "schemas", "sim", "perf", "tests")
ACTOR_DOMAINS = ("actors.market", "actors.orders", "actors.risk", "actors.accounts", "actors.sessions",
                 "actors.market_source", "actors.root")
SIM_HARNESS = "sim/harness/"
"""The simulator's harness: it drives a whole desk, so it may import the desk; the rest of sim/ is the venue."""
ASSEMBLY = "transport/process/"
"""The process assembly: app, cli, the watcher, the faults API; it may import the simulator."""

KNOWN: frozenset[tuple[str, str]] = frozenset()
"""(module file, imported module) breaches that exist today, each to go with the restructuring that fixes it."""


def imports_of(source: str) -> set[str]:
    """Every absolute module name ``source`` imports, at any depth (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name.startswith("_"))
    return found


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def breaches(path: str, names: set[str]) -> set[tuple[str, str]]:
    """The layer rules ``path`` (relative, ``"actors/_runtime.py"``) breaks by importing ``names``."""
    found = set()
    top = path.split("/")[0]
    kernel = top == "actors" and (path.count("/") == 1 and (Path(path).name.startswith("_")
                                                            or Path(path).name == "errors.py"))
    for name in names:
        bad = False
        if top == "schemas":
            bad = _under(name, "actors", "transport", "sim", "ui", "perf")
        elif kernel:
            bad = _under(name, *ACTOR_DOMAINS, "transport", "sim")
        elif top == "actors":
            bad = _under(name, "transport", "sim")
        elif top == "sim" and not path.startswith(SIM_HARNESS):
            bad = _under(name, "actors", "transport")
        elif top == "transport" and not path.startswith(ASSEMBLY):
            bad = _under(name, "sim", "transport.process")
        if name.split(".")[0] == "actors" and "._" in name and top != "actors" \
                and not path.startswith("tests/actors/"):
            bad = True   # tests/actors/ mirrors actors/ and may test a private module directly
        if top == "tests" and _under(name, "perf") and any(part.startswith("_") for part in name.split(".")[1:]):
            bad = True
        if bad:
            found.add((path, name))
    return found


def scan() -> set[tuple[str, str]]:
    """Every breach in the repository's packages."""
    found = set()
    for package in PACKAGES:
        for file in sorted((REPO / package).rglob("*.py")):
            relative = str(file.relative_to(REPO))
            if ".venv" in relative:
                continue
            found |= breaches(relative, imports_of(file.read_text()))
    return found


def test_layers_when_scanned_then_no_new_breach():
    """No module imports against the layers beyond the listed breaches."""
    assert sorted(scan() - KNOWN) == []


def test_known_breaches_when_scanned_then_each_still_exists():
    """A listed breach that was fixed is removed from the list (it only shrinks)."""
    assert sorted(KNOWN - scan()) == []


def test_rules_when_forbidden_imports_are_added_then_each_is_found():
    """The checker sees each kind of breach, at module and function level."""
    source = "import transport.edge.ws\ndef f():\n    from sim.gateway import SimGateway\n"
    assert breaches("actors/orders/order.py", imports_of(source)) == {
        ("actors/orders/order.py", "transport.edge.ws"), ("actors/orders/order.py", "sim.gateway")}
    assert breaches("actors/_runtime.py", imports_of("from actors.market.frames import x")) >= {
        ("actors/_runtime.py", "actors.market.frames")}
    assert breaches("sim/exchange.py", imports_of("import actors.orders")) == {("sim/exchange.py", "actors.orders")}
    assert breaches("sim/harness/runner.py", imports_of("import actors.orders")) == set()
    assert breaches("transport/venue/vnpy_engine.py", imports_of("from sim.gateway import SimGateway")) == {
        ("transport/venue/vnpy_engine.py", "sim.gateway")}
    assert breaches("transport/edge/ws.py", imports_of("from transport.process.watch import x")) == {
        ("transport/edge/ws.py", "transport.process.watch")}
    assert breaches("transport/process/cli.py", imports_of("from sim.harness.runner import sim_main")) == set()
    assert breaches("transport/edge/ws.py", imports_of("from actors._runtime import ActorRuntime")) >= {
        ("transport/edge/ws.py", "actors._runtime")}
    assert breaches("transport/edge/ws.py", imports_of("from actors import ActorRuntime")) == set()
    assert breaches("schemas/jslayout.py", imports_of("import actors")) == {("schemas/jslayout.py", "actors")}
    assert breaches("tests/x.py", imports_of("from perf._common import p")) == {("tests/x.py", "perf._common")}
    assert breaches("transport/x.py", imports_of("from actors import _runtime")) == {("transport/x.py", "actors._runtime")}


def test_kernel_when_imported_alone_then_no_domain_module_is_loaded():
    """``import actors`` loads the kernel only: no market, orders, risk, accounts or sessions module (issue 13)."""
    import subprocess
    import sys

    code = "import actors, sys; print('\\n'.join(sorted(m for m in sys.modules if m.startswith('actors.'))))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            check=True).stdout.split()
    assert [m for m in loaded if _under(m, *ACTOR_DOMAINS)] == []
