"""Pre-trade risk: one actor per rule and scope under ``risk/<rule>/<scope>``, their limits and events.

Public surface (the underscore module holds the rule base): :func:`rule_path` (built in actors/paths.py).
"""

from actors.paths import rule_path

__all__ = ["rule_path"]
