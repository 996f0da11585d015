"""Cap'n Proto schemas of tickstage, loaded exactly once per process.

pycapnp aborts the whole process ("Duplicate ID") when the same ``.capnp``
file is loaded twice (two ``capnp.load`` calls, the import hook plus a load,
a different ``imports=`` list, a different path spelling; measured with pycapnp 2.2.4).
This module is therefore the only place that calls ``capnp.load``; everything
else imports ``market``, ``orders``, ``accounts``, ``stream``, ``actor``, ``tape`` and ``flight``
from here (in dependency order).

Readers are opened with explicit limits (:data:`TRAVERSAL_LIMIT_WORDS`,
:data:`NESTING_LIMIT`) so hostile input cannot make pycapnp walk forever.
"""

from __future__ import annotations

from pathlib import Path

import capnp

SCHEMA_DIR = Path(__file__).resolve().parent
"""Folder holding the ``.capnp`` files (absolute, so every load spells it alike)."""

SCHEMA_VERSION = 1
"""Written into every Envelope.schemaVersion; bump when a schema gains fields."""

TRAVERSAL_LIMIT_WORDS = 8 * 1024 * 1024
"""pycapnp reader traversal budget, in 8-byte words (64 MiB of reads)."""

NESTING_LIMIT = 16
"""Deepest struct nesting a reader accepts; the schemas nest at most 4 deep."""

capnp.remove_import_hook()

_imports = [str(SCHEMA_DIR)]
market = capnp.load(str(SCHEMA_DIR / "market.capnp"), imports=_imports)
orders = capnp.load(str(SCHEMA_DIR / "orders.capnp"), imports=_imports)
accounts = capnp.load(str(SCHEMA_DIR / "accounts.capnp"), imports=_imports)
stream = capnp.load(str(SCHEMA_DIR / "stream.capnp"), imports=_imports)
actor = capnp.load(str(SCHEMA_DIR / "actor.capnp"), imports=_imports)
tape = capnp.load(str(SCHEMA_DIR / "tape.capnp"), imports=_imports)
flight = capnp.load(str(SCHEMA_DIR / "flight.capnp"), imports=_imports)

__all__ = [
    "NESTING_LIMIT",
    "SCHEMA_DIR",
    "SCHEMA_VERSION",
    "TRAVERSAL_LIMIT_WORDS",
    "accounts",
    "actor",
    "flight",
    "market",
    "orders",
    "stream",
    "tape",
]
