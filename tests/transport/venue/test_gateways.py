"""Gateways by configuration: ``[venue.gateways.<name>]`` tables, secrets only from env or file, never shown."""

from __future__ import annotations

import pytest

from transport.errors import ConfigError
from transport.process.cli import load_config
from transport.venue.gateways import REDACTED, SecretRef, parse_venue

SECRET = "s3cret-never-shown"


def _write(tmp_path, text: str):
    path = tmp_path / "desk.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


CTP = '''
[venue.gateways.CTP]
class = "vnpy_ctp:CtpGateway"
[venue.gateways.CTP.settings]
"用户名" = "000001"
"密码" = { env = "TEST_CTP_PASSWORD" }
"授权编码" = { file = "AUTH_FILE" }
"交易服务器" = "tcp://127.0.0.1:1"
[venue.gateways.SIM]
class = "sim.gateway:SimGateway"
[accounts.acct-01]
trader = "trader1"
real = ["CTP", "SIM"]
'''


def test_load_config_when_venue_tables_then_gateways_in_order_with_secrets_read_at_connect(tmp_path, monkeypatch):
    """Each table is a gateway named by its key; env and file secrets are read only by ``connect_setting``; the
    shown settings, the repr and the desk config's repr carry no secret value."""
    auth = tmp_path / "auth"
    auth.write_text("AUTHCODE-xyz\n")
    config = load_config(_write(tmp_path, CTP.replace("AUTH_FILE", str(auth))))
    monkeypatch.setenv("TEST_CTP_PASSWORD", SECRET)

    ctp, sim = config.venue_gateways()
    assert (ctp.name, ctp.class_spec, sim.name) == ("CTP", "vnpy_ctp:CtpGateway", "SIM")
    assert not config.simulated and sim.simulated
    assert ctp.settings["密码"] == SecretRef(env="TEST_CTP_PASSWORD")
    setting = ctp.connect_setting()
    assert setting["密码"] == SECRET and setting["授权编码"] == "AUTHCODE-xyz" and setting["用户名"] == "000001"
    shown = ctp.public_settings()
    assert shown["密码"] == f"{REDACTED} (env:TEST_CTP_PASSWORD)" and shown["用户名"] == "000001"
    for text in (repr(shown), repr(ctp), repr(config)):
        assert SECRET not in text and "AUTHCODE-xyz" not in text


@pytest.mark.parametrize(("settings", "message"), [
    ('"密码" = "plain"', "is a secret"),
    ('"Password" = "plain"', "is a secret"),
    ('"密码" = { env = "X", file = "Y" }', "must be"),
    ('"密码" = { value = "plain" }', "must be"),
])
def test_parse_venue_when_secret_given_in_the_file_then_config_error_without_the_value(settings, message):
    """A password or auth code written in the file, or a malformed secret table, is refused; the error names the
    key, never the value."""
    import tomllib

    table = tomllib.loads(f'[venue.gateways.CTP]\nclass = "vnpy_ctp:CtpGateway"\n'
                          f'[venue.gateways.CTP.settings]\n{settings}\n')
    with pytest.raises(ConfigError, match=message) as raised:
        parse_venue(table["venue"])
    assert "plain" not in str(raised.value)


@pytest.mark.parametrize(("text", "message"), [
    ('[venue]\n', "at least one"),
    ('[venue.gateways.CTP]\nsettings = {}\n', "class"),
    ('[venue.gateways.CTP]\nclass = "vnpy_ctp.CtpGateway"\n', "module:Class"),
    ('[venue.gateways.CTP]\nclass = "vnpy_ctp:CtpGateway"\nretries = 3\n', "unknown keys"),
    ('[venue.gateways."C T P"]\nclass = "vnpy_ctp:CtpGateway"\n', "gateway name"),
    ('[desk]\ngateway = "sim.gateway:SimGateway"\n[venue.gateways.SIM]\nclass = "sim.gateway:SimGateway"\n',
     "not both"),
    ('[venue.gateways.CTP]\nclass = "vnpy_ctp:CtpGateway"\n[accounts.acct-01]\nreal = ["SIM"]\n',
     "not configured"),
])
def test_load_config_when_venue_malformed_then_config_error_names_it(tmp_path, text, message):
    """Malformed [venue] tables, both [venue] and the deprecated [desk] gateway, and an account on a gateway
    that is not configured are refused at load."""
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, text))


def test_connect_setting_when_env_unset_or_file_missing_then_config_error_names_where(tmp_path, monkeypatch):
    """An unreadable secret is a ConfigError naming the gateway, the key and the variable or file."""
    monkeypatch.delenv("TEST_CTP_PASSWORD", raising=False)
    config = load_config(_write(tmp_path, CTP.replace("AUTH_FILE", str(tmp_path / "absent"))))
    ctp = config.venue_gateways()[0]
    with pytest.raises(ConfigError, match="CTP.*密码.*TEST_CTP_PASSWORD"):
        ctp.connect_setting()
    monkeypatch.setenv("TEST_CTP_PASSWORD", SECRET)
    with pytest.raises(ConfigError, match="授权编码.*absent") as raised:
        ctp.connect_setting()
    assert SECRET not in str(raised.value)


def test_load_config_when_desk_gateway_then_still_the_one_sim_gateway(tmp_path):
    """The deprecated ``[desk] gateway`` still names the class of the one gateway ``SIM``, with the desk's
    simulator setting."""
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        config = load_config(_write(tmp_path, '[desk]\ngateway = "tests.transport.venue.recording_gateway:'
                                              'RecordingGateway"\n'))
    (gateway,) = config.venue_gateways()
    assert (gateway.name, gateway.takes_desk_setting) == ("SIM", True)
    assert any(line["event"] == "desk_gateway_deprecated" for line in logs)
