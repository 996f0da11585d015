"""Field-level entitlements: which market data fields of which exchange a user may receive.

A user's token may carry an ``ent`` claim: exchange (vn.py Exchange name,
``"CFFEX"``; ``"*"`` for every exchange not named) → list of field classes::

    "ent": {"CFFEX": ["l1"], "*": ["l1", "oi", "depth"]}

An absent claim means every field of every exchange (as before entitlements).
An exchange neither named nor covered by ``"*"`` grants nothing. Field classes
(:data:`FIELD_CLASSES`):

===========  ==========================================================================
``l1``       last, best bid and ask prices and volumes, traded volume (GroupFrame rows,
             TickDetail ticks and depth level 1)
``oi``       open interest (``openInterestsLots``)
``depth``    levels 2..5 of the book (TickDetail ``depth``)
===========  ==========================================================================

A class name this desk does not know grants nothing (a newer issuer's class is
not an error). Unentitled fields are sent as NaN ("absent", the value a row has
before its first tick): the group actor encodes each frame once per
*entitlement class* present among its subscribers (:func:`mask_key`), never once
per session, and hashes the masked state that class sees (schemas/state_hash.py).

Source: issue 17 ("field-level entitlements in shared frames"): exchanges
license their data per field class (level 1, open interest, depth) and per user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from actors.market.errors import EntitlementError

FIELD_CLASSES = ("l1", "oi", "depth")
"""Field classes an ``ent`` claim may grant."""
CLASS_COLUMNS: dict[str, tuple[str, ...]] = {
    "l1": ("lastPrices", "bidPrices", "askPrices", "bidVolumesLots", "askVolumesLots", "volumesLots"),
    "oi": ("openInterestsLots",),
}
"""L1Columns (schemas/market.capnp) of each field class; ``depth`` is TickDetail's ``depth``."""
ANY_EXCHANGE = "*"
"""The claim key standing for every exchange not named."""
MAX_EXCHANGES = 64
"""Most exchanges in one claim."""
MAX_EXCHANGE_CHARS = 32
"""Longest exchange name in a claim."""

MaskKey = tuple[tuple[str, tuple[str, ...]], ...]
"""An entitlement class within one group: (exchange, masked L1 columns) for each exchange with any masked."""


@dataclass(frozen=True)
class Entitlements:
    """The field classes one user may receive, per exchange.

    Attributes:
        grants: ``(exchange, classes)`` pairs sorted by exchange (``"*"``: the
            others), or ``None``: everything (no ``ent`` claim).
    """

    grants: tuple[tuple[str, frozenset[str]], ...] | None = None

    @classmethod
    def from_claim(cls, claim: object) -> Entitlements:
        """Return the entitlements of a token's ``ent`` claim (``None``: everything).

        Raises:
            EntitlementError: not an object, more than :data:`MAX_EXCHANGES` keys, a key
                empty or over :data:`MAX_EXCHANGE_CHARS`, or a value not a list of strings.
        """
        if claim is None:
            return EVERYTHING
        if not isinstance(claim, dict):
            raise EntitlementError("not an object of exchange → field classes")
        if len(claim) > MAX_EXCHANGES:
            raise EntitlementError(f"more than {MAX_EXCHANGES} exchanges")
        grants = []
        for exchange, classes in claim.items():
            if not isinstance(exchange, str) or not 0 < len(exchange) <= MAX_EXCHANGE_CHARS:
                raise EntitlementError(f"an exchange name must be 1..{MAX_EXCHANGE_CHARS} characters")
            if not isinstance(classes, list) or len(classes) > 16 or not all(isinstance(c, str) for c in classes):
                raise EntitlementError(f"the field classes of {exchange} must be a list of at most 16 names")
            grants.append((exchange, frozenset(c for c in classes if c in FIELD_CLASSES)))
        return cls(tuple(sorted(grants)))

    @classmethod
    def from_pairs(cls, limited: bool, pairs: Iterable[tuple[str, Iterable[str]]]) -> Entitlements:
        """Return entitlements read from a message (``limited`` False: everything)."""
        if not limited:
            return EVERYTHING
        return cls(tuple(sorted((exchange, frozenset(c for c in classes if c in FIELD_CLASSES))
                                for exchange, classes in pairs)))

    @property
    def limited(self) -> bool:
        """True when a claim limits anything (it may still grant everything)."""
        return self.grants is not None

    def classes(self, exchange: str) -> frozenset[str]:
        """Return the field classes granted for ``exchange`` (``"CFFEX"``)."""
        if self.grants is None:
            return frozenset(FIELD_CLASSES)
        table = dict(self.grants)
        return table.get(exchange, table.get(ANY_EXCHANGE, frozenset()))

    def allows(self, exchange: str, field_class: str) -> bool:
        """Return whether ``field_class`` (``"oi"``) of ``exchange`` may be sent to this user."""
        return field_class in self.classes(exchange)

    def masked_columns(self, exchange: str) -> tuple[str, ...]:
        """Return the L1Columns this user may not receive for ``exchange``, in L1Columns order."""
        granted = self.classes(exchange)
        return tuple(column for field_class, columns in CLASS_COLUMNS.items() if field_class not in granted
                     for column in columns)

    def to_message(self, builder) -> None:
        """Write ``limited`` and ``entitlements`` of an Attach or TickSubscription builder."""
        builder.limited = self.grants is not None
        if self.grants is None:
            return
        entries = builder.init("entitlements", len(self.grants))
        for entry, (exchange, classes) in zip(entries, self.grants, strict=True):
            entry.exchange = exchange
            entry.fieldClasses = sorted(classes)

    @classmethod
    def from_message(cls, reader) -> Entitlements:
        """Read ``limited`` and ``entitlements`` of an Attach or TickSubscription reader."""
        return cls.from_pairs(reader.limited, ((e.exchange, list(e.fieldClasses)) for e in reader.entitlements))

    def as_dict(self) -> dict[str, list[str]] | None:
        """Return the claim form (``None``: everything), for tokens and the users file."""
        if self.grants is None:
            return None
        return {exchange: sorted(classes) for exchange, classes in self.grants}


EVERYTHING = Entitlements()
"""No ``ent`` claim: every field of every exchange."""


def mask_key(entitlements: Entitlements, exchanges: Iterable[str]) -> MaskKey:
    """Return the entitlement class of a user within a group whose instruments span ``exchanges``.

    Users with equal keys see the same bytes; ``()`` is the unmasked class.
    """
    if entitlements.grants is None:
        return ()
    key = []
    for exchange in sorted(set(exchanges)):
        masked = entitlements.masked_columns(exchange)
        if masked:
            key.append((exchange, masked))
    return tuple(key)


def row_masks(key: MaskKey, row_exchanges: np.ndarray, exchange_names: list[str]) -> dict[str, np.ndarray]:
    """Return column → bool[n] rows to blank for one class.

    Args:
        key: from :func:`mask_key`.
        row_exchanges: int[n], each table row's exchange as an index into ``exchange_names``.
        exchange_names: exchange names by index.
    """
    masks: dict[str, np.ndarray] = {}
    for exchange, columns in key:
        if exchange not in exchange_names:
            continue
        rows = row_exchanges == exchange_names.index(exchange)
        for column in columns:
            masks[column] = masks[column] | rows if column in masks else rows
    return masks


def apply_masks(columns: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray],
                indexes: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Return ``columns`` with masked rows set to NaN (copies of the masked columns only).

    Args:
        columns: L1 column name → float64[m] (other dtypes pass through).
        masks: column → bool[n] over the whole table (:func:`row_masks`).
        indexes: uint32[m], the table row of each of the ``m`` rows; ``None``: rows are 0..m-1.
    """
    out = dict(columns)
    for name, mask in masks.items():
        if name not in out:
            continue
        selected = mask[: len(out[name])] if indexes is None else mask[indexes]
        if selected.any():
            column = np.array(out[name], dtype=np.float64, copy=True)
            column[selected] = np.nan
            out[name] = column
    return out


__all__ = ["ANY_EXCHANGE", "CLASS_COLUMNS", "EVERYTHING", "EntitlementError", "Entitlements", "FIELD_CLASSES",
           "MaskKey", "apply_masks", "mask_key", "row_masks"]
