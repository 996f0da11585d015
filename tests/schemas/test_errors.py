"""schemas/errors.py: one error root for the desk and the venue, importable without either."""

from __future__ import annotations

import subprocess
import sys

from schemas.errors import TickstageError


def test_error_root_when_imported_by_every_package_then_one_class():
    """actors, transport and sim errors all derive from the one TickstageError (actors.errors re-exports it)."""
    from actors.errors import ActorError
    from actors.errors import TickstageError as actors_root
    from sim.errors import SimError
    from transport.errors import TransportError

    assert actors_root is TickstageError
    assert all(issubclass(error, TickstageError) for error in (ActorError, SimError, TransportError))


def test_sim_errors_when_imported_alone_then_no_desk_module_loaded():
    """The venue's errors load neither actors nor transport (the venue imports nothing of the desk)."""
    code = ("import sys, sim.errors; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('actors', 'transport')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
