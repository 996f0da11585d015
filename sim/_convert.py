"""Build vn.py objects from simulator rows: ``ContractData`` and ``TickData``.

Times follow vn.py's CTP gateway: tick datetimes are aware, in Asia/Shanghai;
an absent price is 0.0 (vnpy_ctp turns CTP's DBL_MAX into 0).
"""

from __future__ import annotations

import datetime as dt

from vnpy.trader.constant import Exchange, OptionType, Product
from vnpy.trader.object import ContractData, TickData

from sim.instruments import OPTIONS, InstrumentRef, option_terms
from sim.replay import EXCHANGE_TZ, ReplayTick

_DEPTH_ATTRIBUTES = tuple(f"{side}_{what}_{level}" for side, what in (("bid", "price"), ("bid", "volume"),
                                                                      ("ask", "price"), ("ask", "volume"))
                          for level in range(2, 6))
"""vn.py TickData fields of levels 2..5, in :attr:`sim.replay.ReplayTick.depth` order."""

SIM_EXCHANGES: tuple[Exchange, ...] = (
    Exchange.SHFE,
    Exchange.INE,
    Exchange.DCE,
    Exchange.CZCE,
    Exchange.CFFEX,
    Exchange.GFEX,
    Exchange.SSE,
    Exchange.SZSE,
)
"""Exchanges the simulator gateway serves: the Chinese futures exchanges, and SSE/SZSE for stock options."""

_EXCHANGE_BY_CODE = {exchange.value: exchange for exchange in SIM_EXCHANGES}
_SECOND_CACHE_LIMIT = 4096


def exchange_of(code: str) -> Exchange | None:
    """Return the vn.py exchange for a CTP exchange code, or None when the simulator does not serve it."""
    return _EXCHANGE_BY_CODE.get(code)


def contract_data(ref: InstrumentRef, exchange: Exchange, gateway_name: str) -> ContractData:
    """Build vn.py contract data for an instrument.

    Args:
        ref: reference data; options also get strike, right, underlying and
            expiry parsed from the symbol (``option_portfolio`` is the product).
        exchange: the instrument's vn.py exchange.
        gateway_name: name of the gateway emitting it.

    Returns:
        ``ContractData`` with ``size`` = multiplier (units per lot),
        ``pricetick`` = tick, quote currency, ``min_volume`` 1 lot, and the CTP
        margin ratios in ``extra`` (``long_margin_ratio``, ``short_margin_ratio``,
        0..1) when the reference data has them: vn.py's ``ContractData`` has no
        field for them.
    """
    contract = ContractData(
        symbol=ref.symbol,
        exchange=exchange,
        name=ref.name,
        product=Product.OPTION if ref.product_class == OPTIONS else Product.FUTURES,
        size=ref.multiplier,
        pricetick=ref.price_tick,
        gateway_name=gateway_name,
        min_volume=1,
    )
    if ref.long_margin_ratio or ref.short_margin_ratio:
        contract.extra = {"long_margin_ratio": ref.long_margin_ratio, "short_margin_ratio": ref.short_margin_ratio}
    terms = option_terms(ref) if ref.product_class == OPTIONS else None
    if terms is not None:
        contract.option_strike = terms.strike
        contract.option_type = OptionType.CALL if terms.right == "C" else OptionType.PUT
        contract.option_underlying = f"{terms.underlying}.{exchange.value}"
        contract.option_portfolio = ref.product
        contract.option_index = f"{terms.strike:g}"
        if ref.expiry is not None:
            contract.option_expiry = dt.datetime.combine(ref.expiry, dt.time(15), EXCHANGE_TZ)
    return contract


class TickBuilder:
    """Turn :class:`ReplayTick` rows into vn.py ``TickData``, caching per-second datetimes.

    Args:
        gateway_name: name stamped on every tick.

    Not thread-safe: one builder per feed thread.
    """

    def __init__(self, gateway_name: str) -> None:
        self._gateway_name = gateway_name
        self._seconds: dict[int, dt.datetime] = {}

    def datetime_of(self, ts_ns: int) -> dt.datetime:
        """Return an aware Asia/Shanghai datetime for a UNIX timestamp (nanoseconds), to the microsecond."""
        second, rest_ns = divmod(ts_ns, 1_000_000_000)
        base = self._seconds.get(second)
        if base is None:
            if len(self._seconds) >= _SECOND_CACHE_LIMIT:
                self._seconds.clear()
            base = self._seconds[second] = dt.datetime.fromtimestamp(second, EXCHANGE_TZ)
        return base.replace(microsecond=rest_ns // 1000) if rest_ns else base

    def tick(self, row: ReplayTick, exchange: Exchange, name: str) -> TickData:
        """Build the vn.py tick of one row.

        Args:
            row: the row; prices in quote currency, volumes in lots.
            exchange: the row's vn.py exchange.
            name: the contract's display name.

        Returns:
            ``TickData`` with level-1 fields set, levels 2..5 when the row has them
            (``bid_price_2`` ... ``ask_volume_5``), and ``localtime`` None.
        """
        tick = TickData(
            symbol=row.symbol,
            exchange=exchange,
            datetime=self.datetime_of(row.ts_ns),
            name=name,
            volume=row.volume,
            open_interest=row.open_interest,
            last_price=row.last,
            bid_price_1=row.bid,
            ask_price_1=row.ask,
            bid_volume_1=row.bid_volume,
            ask_volume_1=row.ask_volume,
            gateway_name=self._gateway_name,
        )
        if row.depth is not None:
            for name, value in zip(_DEPTH_ATTRIBUTES, row.depth, strict=True):
                setattr(tick, name, value)
        return tick


__all__ = ["SIM_EXCHANGES", "TickBuilder", "contract_data", "exchange_of"]
