"""Pre-trade risk: one actor per rule and scope under ``risk/<rule>/<scope>``, their limits and events.

Public surface (the underscore module holds the rule base): :func:`rule_path` (built in actors/paths.py) and
:data:`GLOBAL_SCOPE`.

A rule instance's scope is the account it guards (``risk/order_flow/acct-01``) or :data:`GLOBAL_SCOPE` for the
desk-wide instance (``risk/kill_switch/global``); an account may therefore not be named ``global``
(``actors.orders.config.AccountSpec`` refuses it).
"""

from actors.paths import rule_path

GLOBAL_SCOPE = "global"
"""The scope name of desk-wide rule instances; not a valid account id."""

__all__ = ["GLOBAL_SCOPE", "rule_path"]
