"""Node role names: ``edge`` and ``venue-host``, and the names before 0.2.0 kept as deprecated aliases (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from structlog.testing import capture_logs

from transport.cluster.roles import DEPRECATED_ROLES, ROLES, canonical_role
from transport.process.app import DeskConfig
from transport.process.cli import load_config

RENAMED = sorted(DEPRECATED_ROLES.items())


@pytest.mark.parametrize(("old", "new"), RENAMED)
def test_desk_config_when_deprecated_role_then_new_role_with_warning_and_log_line(old, new):
    """``gateway`` → ``edge``, ``gateway-host`` → ``venue-host``: a DeprecationWarning and a structlog warning."""
    with capture_logs() as logs, pytest.warns(DeprecationWarning, match=f"{old!r} is deprecated.*{new!r}"):
        config = DeskConfig(role=old, nats=("nats://127.0.0.1:1",))
    assert config.role == new
    assert [entry for entry in logs if entry["event"] == "role_name_deprecated"] == [
        {"event": "role_name_deprecated", "log_level": "warning", "role": old, "replacement": new}]


@pytest.mark.parametrize("role", ROLES)
def test_canonical_role_when_current_name_then_unchanged_and_silent(role):
    """The current names pass through with no warning (setup.cfg turns warnings into errors)."""
    with capture_logs() as logs:
        assert canonical_role(role) == role
    assert logs == []


def test_load_config_when_desk_file_names_deprecated_role_then_new_role(tmp_path):
    """``[desk] role = "gateway-host"`` in a config file still works, as ``venue-host``."""
    path = tmp_path / "desk.toml"
    path.write_text('[desk]\nrole = "gateway-host"\nnats = ["nats://127.0.0.1:1"]\n')
    with pytest.warns(DeprecationWarning, match="gateway-host"):
        config = load_config(str(path))
    assert config.role == "venue-host"


def test_run_when_deprecated_role_on_command_line_then_accepted_as_new_role_with_log_line(tmp_path):
    """``tickstage run --role gateway`` is accepted (not an argparse invalid choice) and checked as ``edge``."""
    env = {**os.environ, "TICKSTAGE_STATE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "transport.process.cli", "run", "--port", "0", "--role", "gateway"],
                            capture_output=True, text=True, timeout=60, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "invalid choice" not in output
    assert "role 'edge' needs --nats" in output and "role_name_deprecated" in output
