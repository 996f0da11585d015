"""Nothing outside the runtime driver and the actor base touches their private names (issue 13): counters,
the pump and the crash flag are reached through public methods (``count_dropped``, ``count_reply_dropped``,
``schedule``, ``crashed``)."""

from __future__ import annotations

import ast
from pathlib import Path

from actors import ActorRuntime, TickstageActor

REPO = Path(__file__).resolve().parents[2]
OWNERS = ("actors/_runtime.py", "actors/_dispatch.py")
SCANNED = ("actors", "transport", "sim", "perf")


def _private_fields(path: str) -> set[str]:
    """The ``self._x`` names a module assigns (its classes' private state) and its private methods."""
    tree = ast.parse((REPO / path).read_text())
    names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
             and node.name.startswith("_") and not node.name.startswith("__")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name) \
                and node.value.id == "self" and node.attr.startswith("_") and not node.attr.startswith("__"):
            names.add(node.attr)
    return names


def pokes(source: str, private: set[str]) -> list[str]:
    """``obj._name`` uses in ``source`` of a name in ``private``, on anything but ``self``/``cls``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in private \
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            found.append(f"{ast.unparse(node)} (line {node.lineno})")
    for node in ast.walk(ast.parse(source)):   # getattr(x, "_crashed") is a poke too
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr") \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in private:
            found.append(f"{ast.unparse(node)} (line {node.lineno})")
    return found


def test_modules_when_scanned_then_none_pokes_the_runtime_or_actor_privates():
    """Modules other than the owners reach the runtime and actor base through public names only."""
    private = set().union(*(_private_fields(owner) for owner in OWNERS))
    found = {}
    for package in SCANNED:
        for file in sorted((REPO / package).rglob("*.py")):
            relative = str(file.relative_to(REPO))
            if relative in OWNERS or ".venv" in relative:
                continue
            hits = [h for h in pokes(file.read_text(), private) if "event_engine._queue" not in h]  # vn.py's own
            if hits:
                found[relative] = hits
    assert found == {}


def test_checker_when_a_poke_is_added_then_it_is_found():
    """The checker sees attribute and getattr pokes, and leaves ``self`` alone."""
    source = "runtime._dropped += 1\ngetattr(entry.instance, '_crashed', False)\nself._dropped = 0\n"
    assert len(pokes(source, {"_dropped", "_crashed"})) == 2


async def test_runtime_when_counted_through_public_methods_then_statistics_show_them():
    """count_dropped and count_reply_dropped feed dropped_dead and replies_dropped; schedule is idempotent."""
    runtime = ActorRuntime()
    try:
        before = runtime.statistics()
        runtime.count_dropped()
        runtime.count_reply_dropped()
        runtime.schedule()
        runtime.schedule()
        after = runtime.statistics()
        assert after.dropped_dead == before.dropped_dead + 1
        assert after.replies_dropped == before.replies_dropped + 1
        assert isinstance(TickstageActor.crashed, property)
    finally:
        runtime.shutdown()
