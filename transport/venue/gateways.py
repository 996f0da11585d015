"""The venues a desk trades on: vn.py gateways chosen by configuration, their secrets kept out of sight.

The desk's TOML lists its gateways under ``[venue.gateways.<name>]``, keyed by the vn.py gateway name
(the ``gateway_name`` of every order, trade and contract it emits; the names ``[accounts.<id>] real``
lists)::

    [venue.gateways.CTP]
    class = "vnpy_ctp:CtpGateway"             # module:Class of a vn.py BaseGateway
    [venue.gateways.CTP.settings]             # the gateway's connect setting (its default_setting keys)
    "用户名" = "000001"
    "密码" = { env = "CTP_PASSWORD" }          # a secret: from the environment ...
    "授权编码" = { file = "/run/secrets/ctp_auth" }   # ... or from a file (trailing newline dropped)
    "交易服务器" = "tcp://180.168.146.187:10201"

A setting value given as ``{ env = NAME }`` or ``{ file = PATH }`` is a secret, read only when the desk
connects (:meth:`GatewayConfig.connect_setting`); so is every key vn.py gateways use for a password
(:data:`SECRET_KEYS`), which must be given that way. A secret's value never appears in a log line, the
admin API or an error message: :meth:`GatewayConfig.public_settings` shows ``"***"`` in its place, and
the errors name the key and the variable or file, never the value.

Without ``[venue]`` the desk runs on the simulator, gateway ``SIM`` (sim/gateway.py), as before 0.2.0;
``[desk] gateway = "module:Class"`` still names that one gateway's class (deprecated, until 0.3.0).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transport.errors import ConfigError

SECRET_KEYS = frozenset({"密码", "授权编码", "动态密码", "password", "auth code", "auth_code", "authcode"})
"""Setting keys vn.py gateways use for secrets (vnpy_ctp, vnpy_sopt: 密码, 授权编码; others in English),
compared case-insensitively; their values must come from ``{ env = ... }`` or ``{ file = ... }``."""

REDACTED = "***"
"""What a secret's value is shown as."""

SIMULATOR_NAME = "SIM"
"""The vn.py gateway name of the simulator when no ``[venue]`` is configured."""

SIMULATOR_CLASS = "sim.gateway:SimGateway"
"""The simulator's gateway class, ``module:Class``."""

_GATEWAY_KEYS = frozenset({"class", "settings"})


def is_secret_key(key: str) -> bool:
    """Return whether a setting key names a secret (:data:`SECRET_KEYS`, case-insensitive)."""
    return key.strip().lower() in SECRET_KEYS


@dataclass(frozen=True)
class SecretRef:
    """Where a secret setting's value comes from: an environment variable or a file (never the value itself).

    Attributes:
        env: the environment variable's name, or ``""``.
        file: the file's path, or ``""``.
    """

    env: str = ""
    file: str = ""

    def read(self, gateway: str, key: str) -> str:
        """Return the secret's value (a file's trailing newline dropped).

        Raises:
            ConfigError: the variable is unset or the file unreadable (the message names the gateway, key and
                variable or path, never a value).
        """
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"gateway {gateway}: setting {key!r} reads environment variable {self.env}, "
                                  "which is not set")
            return value
        try:
            return Path(self.file).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"gateway {gateway}: setting {key!r} reads file {self.file}, which cannot be read "
                              f"({type(exc).__name__})") from None

    def describe(self) -> str:
        """Return where the value comes from, for the admin API (``"env:CTP_PASSWORD"``, ``"file:/run/…"``)."""
        return f"env:{self.env}" if self.env else f"file:{self.file}"


@dataclass(frozen=True)
class GatewayConfig:
    """One configured vn.py gateway.

    Attributes:
        name: the vn.py gateway name (``"CTP"``, ``"SOPT"``, ``"SIM"``): a token, unique in the desk.
        class_spec: the gateway class, ``module:Class`` (imported at connect).
        settings: the connect setting as configured: plain values, and :class:`SecretRef` for secrets.
        legacy: named by the deprecated ``[desk] gateway`` (or the default): it takes the desk's simulator
            setting whatever its class, as before 0.2.0.
    """

    name: str
    class_spec: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    legacy: bool = False

    @property
    def takes_desk_setting(self) -> bool:
        """True: connected with the desk's simulator setting (``[desk]`` replay, speed ..., ``[orders.sim]``)
        under its own settings: a simulator, or the legacy gateway."""
        return self.legacy or self.simulated

    @property
    def simulated(self) -> bool:
        """True: the gateway class lives in the ``sim`` package (the simulator)."""
        return self.class_spec.split(":")[0].split(".")[0] == "sim"

    def connect_setting(self, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the setting to pass to ``MainEngine.connect``: ``base`` overlaid with the configured values,
        secrets read now.

        Raises:
            ConfigError: a secret cannot be read (:meth:`SecretRef.read`).
        """
        setting = dict(base or {})
        for key, value in self.settings.items():
            setting[key] = value.read(self.name, key) if isinstance(value, SecretRef) else value
        return setting

    def public_settings(self) -> dict[str, Any]:
        """Return the settings safe to show: every secret as :data:`REDACTED` with where it comes from."""
        shown: dict[str, Any] = {}
        for key, value in self.settings.items():
            if isinstance(value, SecretRef):
                shown[key] = f"{REDACTED} ({value.describe()})"
            elif is_secret_key(key):
                shown[key] = REDACTED
            else:
                shown[key] = value
        return shown

    def __repr__(self) -> str:
        return f"GatewayConfig(name={self.name!r}, class_spec={self.class_spec!r}, settings={self.public_settings()!r})"


def simulator_gateway(class_spec: str = SIMULATOR_CLASS) -> GatewayConfig:
    """Return the gateway of a desk without ``[venue]``: the simulator as ``SIM`` (or ``[desk] gateway``'s class)."""
    return GatewayConfig(SIMULATOR_NAME, class_spec, legacy=True)


def parse_venue(table: Mapping[str, Any]) -> tuple[GatewayConfig, ...]:
    """Return the gateways of a ``[venue]`` TOML table, in file order.

    Raises:
        ConfigError: no gateways, a gateway name that is not a token, a missing or malformed ``class``,
            unknown keys, a secret given as a plain value, or a malformed ``{ env | file }`` table. Messages
            never quote a setting's value.
    """
    from transport.venue.vnpy_engine import check_gateway_spec

    unknown = set(table) - {"gateways"}
    if unknown:
        raise ConfigError(f"unknown [venue] keys: {sorted(unknown)}")
    gateways = table.get("gateways")
    if not isinstance(gateways, Mapping) or not gateways:
        raise ConfigError("[venue] needs at least one [venue.gateways.<name>] table")
    parsed = []
    for name, spec in gateways.items():
        if not (name and name.replace("_", "").replace("-", "").isalnum() and name.isascii()):
            raise ConfigError(f"[venue.gateways.{name}]: the gateway name must be letters, digits, '_' or '-'")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"[venue.gateways.{name}] must be a table")
        extra = set(spec) - _GATEWAY_KEYS
        if extra:
            raise ConfigError(f"[venue.gateways.{name}]: unknown keys {sorted(extra)} (allowed: class, settings)")
        class_spec = spec.get("class")
        if not isinstance(class_spec, str):
            raise ConfigError(f"[venue.gateways.{name}]: class = \"module:Class\" is required")
        check_gateway_spec(class_spec)
        settings = spec.get("settings", {})
        if not isinstance(settings, Mapping):
            raise ConfigError(f"[venue.gateways.{name}.settings] must be a table")
        parsed.append(GatewayConfig(name, class_spec, {key: _setting(name, key, value)
                                                       for key, value in settings.items()}))
    return tuple(parsed)


def _setting(gateway: str, key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {"env"} and isinstance(value["env"], str) and value["env"]:
            return SecretRef(env=value["env"])
        if set(value) == {"file"} and isinstance(value["file"], str) and value["file"]:
            return SecretRef(file=value["file"])
        raise ConfigError(f"[venue.gateways.{gateway}.settings] {key!r}: a table must be {{ env = \"NAME\" }} "
                          "or { file = \"PATH\" }")
    if is_secret_key(key) and value not in ("", None):
        raise ConfigError(f"[venue.gateways.{gateway}.settings] {key!r} is a secret: give it as "
                          "{ env = \"NAME\" } or { file = \"PATH\" }, never in the file")
    return value


__all__ = ["REDACTED", "SECRET_KEYS", "SIMULATOR_CLASS", "SIMULATOR_NAME", "GatewayConfig", "SecretRef",
           "is_secret_key", "parse_venue", "simulator_gateway"]
