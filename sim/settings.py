"""The simulator gateway's settings, checked once at ``connect``.

vn.py hands a gateway a plain dict shaped like its ``default_setting``
(values may arrive as strings from a JSON file or a form); :class:`SimSettings`
turns the market's keys into typed, validated values and :class:`ExchangeSettings`
the exchange's (sim/exchange.py's docstring lists them; prices in quote
currency, volumes in lots).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.errors import SimSettingError

INSTRUMENTS_FILE_NAME = "cn_futopt_instruments_20171113.csv"
"""Instruments file looked for beside a replay file when ``instruments`` is empty."""

DEFAULT_SETTING: dict[str, str | int | float | bool] = {
    "replay": "",
    "speed": 20.0,
    "contracts": 2000,
    "rate": 2000.0,
    "seed": 7,
    "instruments": "",
    "loop": False,
    "peak": 0.0,
    "copies": 1,
    "shift_s": 3.0,
    "max_gap_s": 0.0,
    "record": "",
}
"""The gateway's ``default_setting`` (vn.py shows these keys and types in its connect dialog)."""


@dataclass(frozen=True, slots=True)
class SimSettings:
    """Typed gateway settings.

    Attributes:
        replay: tape to replay (CSV or CSV.gz), or None for a synthetic market.
        speed: replay speed as a multiple of exchange time; ``math.inf`` when
            the setting is 0 or inf (as fast as possible).
        contracts: synthetic contracts, >= 1.
        rate_per_s: synthetic mean tick rate, ticks per second of wall time (> 0).
        seed: synthetic random seed.
        instruments: instruments CSV, or None.
        loop: restart the tape from its beginning at its end.
        peak_per_s: synthetic peak rate outside bursts, ticks per second; None
            (setting 0) → 2 × ``rate_per_s``.
        copies: replay the tape as this many time-shifted copies under distinct
            symbols (sim/multiplex.py), >= 1.
        shift_s: exchange-time shift between copies, seconds (>= 0).
        max_gap_s: pauses in the tape longer than this are cut to it, seconds;
            None (setting 0) keeps them.
        record: write every emitted tick to this tape file (sim/tape.py), or None.
    """

    replay: Path | None
    speed: float
    contracts: int
    rate_per_s: float
    seed: int
    instruments: Path | None
    loop: bool
    peak_per_s: float | None = None
    copies: int = 1
    shift_s: float = 3.0
    max_gap_s: float | None = None
    record: Path | None = None

    @property
    def paced(self) -> bool:
        """Whether ticks wait for their due time (False when speed is unlimited)."""
        return math.isfinite(self.speed)

    @classmethod
    def from_setting(cls, setting: Mapping[str, object]) -> SimSettings:
        """Check and type a vn.py setting dict; missing keys take :data:`DEFAULT_SETTING`.

        Args:
            setting: keys of :data:`DEFAULT_SETTING`; unknown keys are ignored.

        Returns:
            The typed settings. ``instruments`` defaults to
            :data:`INSTRUMENTS_FILE_NAME` beside the replay file when that file exists.

        Raises:
            SimSettingError: a value has the wrong type or is out of range, or
                a named file does not exist.
        """
        merged = {**DEFAULT_SETTING, **setting}
        replay = _path(merged, "replay")
        instruments = _path(merged, "instruments")
        if instruments is None and replay is not None and (replay.parent / INSTRUMENTS_FILE_NAME).is_file():
            instruments = replay.parent / INSTRUMENTS_FILE_NAME
        speed = _number(merged, "speed", float)
        if math.isnan(speed) or speed < 0:
            raise SimSettingError("speed", merged["speed"], "must be >= 0 (0 or inf: as fast as possible)")
        contracts = _number(merged, "contracts", int)
        if contracts < 1:
            raise SimSettingError("contracts", contracts, "must be >= 1")
        rate_per_s = _number(merged, "rate", float)
        if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
            raise SimSettingError("rate", rate_per_s, "must be a finite number > 0 (ticks per second)")
        peak = _number(merged, "peak", float)
        if math.isnan(peak) or peak < 0:
            raise SimSettingError("peak", merged["peak"], "must be >= 0 ticks per second (0: 2 × rate)")
        copies = _number(merged, "copies", int)
        if copies < 1:
            raise SimSettingError("copies", copies, "must be >= 1")
        shift_s = _number(merged, "shift_s", float)
        if not (shift_s >= 0 and math.isfinite(shift_s)):
            raise SimSettingError("shift_s", merged["shift_s"], "must be a finite number >= 0 (seconds)")
        max_gap_s = _number(merged, "max_gap_s", float)
        if not (max_gap_s >= 0 and math.isfinite(max_gap_s)):
            raise SimSettingError("max_gap_s", merged["max_gap_s"], "must be a finite number >= 0 (0: keep gaps)")
        record = merged["record"] or None
        if record is not None and (not isinstance(record, str | Path) or not Path(record).parent.is_dir()):
            raise SimSettingError("record", record, "must be a file path in an existing folder")
        return cls(
            peak_per_s=peak or None,
            copies=copies,
            shift_s=shift_s,
            max_gap_s=max_gap_s or None,
            record=Path(record) if record is not None else None,
            replay=replay,
            speed=math.inf if speed == 0 else speed,
            contracts=contracts,
            rate_per_s=rate_per_s,
            seed=_number(merged, "seed", int),
            instruments=instruments,
            loop=_flag(merged, "loop"),
        )


DROP_COPY_ENV = "TICKSTAGE_SIM_DROP_COPY"
"""Environment variable naming the venue's drop-copy file when the ``drop_copy`` setting is empty."""


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    """Typed exchange settings (keys listed in sim/exchange.py's docstring).

    Attributes:
        venue: venue name; gateways connecting with the same name share one exchange.
        latency_ms: delay of each answer (accept, reject, cancel), milliseconds.
        no_answer_probability: chance that an order's answer is never sent, 0..1.
        seed: seed of the no-answer draws.
        capital: starting balance of each real account, quote currency.
        margin_rate: margin per position value, 0..1.
        price_limit_percent: price limits, ± percent of the first price seen of a contract.
        drop_copy: append every received order to this file (sim/drop_copy.py); ``""``: none. Setting
            ``drop_copy``, else the environment variable ``TICKSTAGE_SIM_DROP_COPY``.
    """

    venue: str = "SIM"
    latency_ms: float = 0.0
    no_answer_probability: float = 0.0
    seed: int = 7
    capital: float = 10_000_000.0
    margin_rate: float = 0.1
    price_limit_percent: float = 10.0
    drop_copy: str = ""

    @classmethod
    def from_setting(cls, setting: Mapping[str, Any]) -> ExchangeSettings:
        """Read the exchange's keys of a gateway setting; missing keys take the defaults.

        Raises:
            SimSettingError: a value is of the wrong type or out of range.
        """
        def number(key: str, default: float) -> float:
            value = setting.get(key, default)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise SimSettingError(key, value, "must be a number") from None
            if not math.isfinite(number) or number < 0:
                raise SimSettingError(key, value, "must be a finite number >= 0")
            return number

        probability = number("order_no_answer_probability", 0.0)
        if probability > 1:
            raise SimSettingError("order_no_answer_probability", probability, "must be within 0..1")
        return cls(venue=str(setting.get("venue", "SIM") or "SIM"), latency_ms=number("order_latency_ms", 0.0),
                   no_answer_probability=probability, seed=int(number("order_seed", 7)),
                   capital=number("account_capital", 10_000_000.0), margin_rate=number("margin_rate", 0.1),
                   price_limit_percent=number("price_limit_percent", 10.0),
                   drop_copy=str(setting.get("drop_copy") or os.environ.get(DROP_COPY_ENV, "")))


def _path(setting: Mapping[str, object], key: str) -> Path | None:
    value = setting[key]
    if value is None or value == "":
        return None
    if not isinstance(value, str | Path):
        raise SimSettingError(key, value, "must be a file path")
    path = Path(value).expanduser()
    if not path.is_file():
        raise SimSettingError(key, value, "no such file")
    return path


def _number(setting: Mapping[str, object], key: str, kind: type[int] | type[float]) -> int | float:
    value = setting[key]
    if isinstance(value, bool):
        raise SimSettingError(key, value, f"must be a number ({kind.__name__})")
    try:
        number = kind(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SimSettingError(key, value, f"must be a number ({kind.__name__})") from None
    if kind is int and isinstance(value, float) and number != value:
        raise SimSettingError(key, value, "must be a whole number")
    return number


def _flag(setting: Mapping[str, object], key: str) -> bool:
    value = setting[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "false", "0", "no", ""}:
        return value.strip().lower() in {"true", "1", "yes"}
    if isinstance(value, int):
        return bool(value)
    raise SimSettingError(key, value, "must be a boolean")


__all__ = ["DEFAULT_SETTING", "DROP_COPY_ENV", "INSTRUMENTS_FILE_NAME", "ExchangeSettings", "SimSettings"]
