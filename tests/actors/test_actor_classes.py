"""Actor classes never shadow a base class's private machinery by accident.

``SessionsSupervisor`` once defined its own ``_forget(path)`` (its account
index) over ``Supervisor._forget(name)`` (drop a child's spec and registry
entry): every closed socket then stayed in the registry as ``stopping``,
with its /metrics series and its node in the admin tree. Hooks (``on_*``)
and handlers (``_on_<member>``) are meant to be overridden; other private
methods of a base are not.
"""

from __future__ import annotations

import importlib
import pkgutil

import actors
import sim
import transport
from actors._dispatch import TickstageActor

PACKAGES = (actors, transport, sim)


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def _shadowed(classes) -> list[str]:
    """``module.Class._name`` for each private method a class redefines over one of a base's."""
    offenders = []
    for cls in classes:
        for name, value in vars(cls).items():
            if (not callable(value) or not name.startswith("_") or name.startswith("__")
                    or name.startswith("_on_")):
                continue
            if any(name in vars(base) for base in cls.__mro__[1:] if base.__module__.split(".")[0] in
                   {p.__name__ for p in PACKAGES}):
                offenders.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    return sorted(offenders)


def test_actor_classes_when_scanned_then_none_redefines_a_private_method_of_its_base():
    """No TickstageActor subclass in actors/, transport/ or sim/ redefines a base's private method."""
    for package in PACKAGES:
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    classes = [c for c in _subclasses(TickstageActor) if c.__module__.split(".")[0] in
               {p.__name__ for p in PACKAGES}]
    assert len(classes) > 10
    assert _shadowed(classes) == []


def test_shadow_check_when_a_subclass_redefines_a_private_method_then_reported():
    """The check itself catches a redefinition and lets hooks and handlers through."""
    from actors._supervisor import Supervisor

    class Leaky(Supervisor):
        def _forget(self, path):  # the old SessionsSupervisor bug
            pass

        def _on_timer(self, timer, message, sender):  # a handler: allowed
            pass

        def on_start(self, restarts):  # a hook: allowed
            pass

    assert _shadowed([Leaky]) == [f"{__name__}.{Leaky.__qualname__}._forget"]
