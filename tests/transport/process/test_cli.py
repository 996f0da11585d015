"""The tickstage command: config file, token, and run + watch as real processes on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from transport.process.cli import load_config, main
from transport.errors import ConfigError

PYTHON = [sys.executable, "-m", "transport.process.cli"]


def test_load_config_when_file_valid_then_desk_config(tmp_path):
    """A TOML file sets desk, market, limits and watchlists."""
    path = tmp_path / "desk.toml"
    path.write_text('[desk]\nport = 9001\nreplay = "a.csv.gz"\nspeed = 5\n[market]\nwindow_ms = 40\n'
                    '[limits]\nmax_frame_bytes = 1024\n[watchlists]\nfront = ["rb1801.SHFE"]\n')
    config = load_config(str(path))
    assert (config.port, config.replay, config.speed) == (9001, ("a.csv.gz",), 5)
    assert config.market == {"window_ms": 40}
    assert config.limits.max_frame_bytes == 1024
    assert config.watchlists == {"front": ["rb1801.SHFE"]}


def test_group_args_when_replay_synthetic_or_overridden_then_sessions_and_clock_follow_the_venue(tmp_path):
    """Issue 14: a replay judges its contracts' sessions at the replay's clock, the synthetic market (trading at any
    hour) does not; ``[market]`` keys override either default."""
    from transport.process.app import DeskConfig

    assert DeskConfig(replay=("a.csv.gz",)).group_args() == {"product_sessions": True, "exchange_clock": "ticks"}
    assert DeskConfig().group_args()["product_sessions"] is False
    # a replay with its pauses cut has no exchange clock (its times moved earlier by each cut): no sessions
    assert DeskConfig(replay=("a.csv.gz",), sim={"max_gap_s": 1.0}).group_args()["product_sessions"] is False
    path = tmp_path / "desk.toml"
    path.write_text('[market]\nproduct_sessions = true\nwindow_ms = 40\n')
    assert load_config(str(path)).group_args() == {"product_sessions": True, "exchange_clock": "wall",
                                                   "window_ms": 40}


@pytest.mark.parametrize("text", ['[desk]\nprot = 1\n', '[limits]\nmax_frames = 1\n', 'not toml [',
                                  '[market]\nexchange_clock = "sundial"\n'])
def test_load_config_when_file_invalid_then_config_error(tmp_path, text):
    """Unknown keys and bad TOML are refused with a ConfigError naming the file."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(str(path))


def test_load_config_when_aggregator_shard_then_groups_tuple(tmp_path):
    """[desk] role, nats and groups (a string or a list) configure an aggregator node."""
    path = tmp_path / "aggregator.toml"
    path.write_text('[desk]\nrole = "aggregator"\nnats = "nats://127.0.0.1:4222"\ngroups = ["rb", "IF"]\n')
    config = load_config(str(path))
    assert (config.role, config.nats, config.groups) == ("aggregator", ("nats://127.0.0.1:4222",), ("rb", "IF"))


def test_load_config_when_order_tables_then_orders_config(tmp_path):
    """[orders], [risk] (and [accounts], else the two development accounts) configure the order path."""
    path = tmp_path / "orders.toml"
    path.write_text('[orders]\nanswer_timeout_s = 1.5\n[risk.limits.order_flow]\nlimit = 500\n')
    config = load_config(str(path))
    assert config.orders.answer_timeout_s == 1.5 and config.orders.limits == {"order_flow": {"limit": 500.0}}
    assert [spec.account for spec in config.orders.accounts] == ["acct-01", "acct-02"]


@pytest.mark.parametrize("argv", [["--role", "aggregator"], ["--role", "venue-host"],
                                  ["--role", "edge", "--nats", "nats://127.0.0.1:1", "--groups", "rb"]])
def test_run_when_node_role_misconfigured_then_exit_2_with_reason(argv, tmp_path):
    """Node roles need --nats and only an aggregator takes --groups: exit 2 with the reason, before any I/O."""
    env = {**os.environ, "TICKSTAGE_STATE_DIR": str(tmp_path)}
    result = subprocess.run(PYTHON + ["run", "--port", "0", *argv], capture_output=True, text=True, timeout=60,
                            env=env)
    assert result.returncode == 2
    assert "--nats" in result.stderr or "--groups" in result.stderr


def test_token_when_no_secret_then_exit_2(monkeypatch, capsys):
    """`tickstage token` without a secret refuses to mint."""
    monkeypatch.delenv("TICKSTAGE_JWT_SECRET", raising=False)
    assert main(["token", "--user", "u", "--jwt-secret", ""]) == 2
    assert "TICKSTAGE_JWT_SECRET" in capsys.readouterr().err


def test_run_and_watch_when_replaying_real_data_then_watch_reports_frames_without_gaps(data_dir, jwt_secret):
    """`tickstage run --replay` serves frames that `tickstage watch` counts, with no seq gap; it prints each
    hop's p50/p95/p99 up to receipt, the exchange's clock skew and its clock offset to the desk."""
    env = {**os.environ, "TICKSTAGE_JWT_SECRET": jwt_secret}
    server = subprocess.Popen(
        [*PYTHON, "run", "--port", "0", "--replay", str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"),
         "--speed", "20"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        line = server.stdout.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1)
        token = subprocess.run([*PYTHON, "token", "--user", "ops"], env=env, capture_output=True, text=True,
                               timeout=30, check=True).stdout.strip()
        watched = subprocess.run([*PYTHON, "watch", "--url", f"ws://127.0.0.1:{port}/ws", "--token", token,
                                  "--group", "rb", "--seconds", "3"], env=env, capture_output=True, text=True,
                                 timeout=60)
        assert watched.returncode == 0, watched.stderr
        summary = json.loads(watched.stdout.strip().splitlines()[-1])
        assert {"frames", "rows", "bytes", "seq_gaps", "latency_p50_ms", "latency_p99_ms"} <= set(summary)
        assert summary["frames"] > 0 and summary["rows"] > 0
        assert summary["seq_gaps"] == 0 and summary["seq_not_increasing"] == 0
        hops = summary["hops"]
        assert list(hops) == ["exchange_venue", "venue_built", "built_sent", "built_received"]
        for name, figures in hops.items():
            assert figures["samples"] > 0, name
            assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"], (name, figures)
        assert hops["exchange_venue"]["p50_ms"] >= 0 and hops["venue_built"]["p50_ms"] >= 0
        assert summary["exchange_skew_ms"] > 8 * 365 * 86_400_000, "the replay's 2017 stamps: skew shown"
        assert summary["clock_offset_ms"] is not None and summary["round_trip_ms"] >= 0
        lines = watched.stdout.strip().splitlines()[:-1]
        assert lines, watched.stdout
        for text in ("exchange→venue*", "venue→built", "built→sent (server)", "built→received†",
                     "exchange skew +", "clock offset"):
            assert text in lines[-1], lines[-1]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        server.stdout.close()


def test_run_when_no_secret_then_prints_trader_and_admin_urls_and_token_signs_with_the_kept_secret(tmp_path):
    """Development mode (real processes): a trader URL and an admin (ops) URL; `tickstage token` signs with the
    secret kept in the state folder (0600), and the desk's /api/groups takes that token."""
    import stat
    import urllib.request

    env = {k: v for k, v in os.environ.items() if k != "TICKSTAGE_JWT_SECRET"}
    env["TICKSTAGE_STATE_DIR"] = str(tmp_path)
    server = subprocess.Popen([*PYTHON, "run", "--port", "0", "--synthetic", "--contracts", "20", "--rate", "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        lines = [server.stdout.readline() for _ in range(5)]
        text = "".join(lines)
        base = re.search(r"http://127\.0\.0\.1:\d+/", lines[0]).group(0)
        assert re.search(rf"trader trader1: open {re.escape(base)}#token=\S+", text), text
        assert re.search(rf"admin \(ops\): open {re.escape(base)}ops#token=\S+", text), text
        assert stat.S_IMODE(os.stat(tmp_path / "jwt-secret").st_mode) == 0o600
        token = subprocess.run([*PYTHON, "token", "--user", "ann"], env=env, capture_output=True, text=True,
                               timeout=30, check=True).stdout.strip()
        request = urllib.request.Request(f"{base}api/groups", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["watchlist"] == "watch-ann"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        server.stdout.close()
def test_load_config_when_state_dir_and_header_timeout_then_desk_config(tmp_path):
    """[desk] state_dir and http_header_timeout_s reach DeskConfig; [auth] max_lifetime_s reaches AuthConfig."""
    path = tmp_path / "desk.toml"
    path.write_text(f'[desk]\nstate_dir = "{tmp_path / "s"}"\nhttp_header_timeout_s = 2.5\n'
                    '[auth]\nmax_lifetime_s = 3600\n')
    config = load_config(str(path))
    assert (config.state_dir, config.http_header_timeout_s) == (str(tmp_path / "s"), 2.5)
    assert config.auth.max_lifetime_s == 3600


def test_run_parser_when_state_dir_given_or_in_environment_then_flag_wins(monkeypatch):
    """--state-dir overrides TICKSTAGE_STATE_DIR, which is the default of the flag."""
    from transport.process.cli import _parser

    monkeypatch.setenv("TICKSTAGE_STATE_DIR", "/from/env")
    assert _parser().parse_args(["run"]).state_dir == "/from/env"
    assert _parser().parse_args(["run", "--state-dir", "/from/flag"]).state_dir == "/from/flag"
    monkeypatch.delenv("TICKSTAGE_STATE_DIR")
    assert _parser().parse_args(["run"]).state_dir is None
