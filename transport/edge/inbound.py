"""Decode and validate one client frame at the socket server, before any actor sees it.

Hostile input stops here. A frame is opened inside ``with from_bytes`` with a
traversal budget (:attr:`SocketLimits.reader_traversal_words`) and
:data:`schemas.NESTING_LIMIT`; everything the socket server needs is copied out
inside the block. Every pycapnp failure (``KjException``, ``ValueError``,
``UnicodeDecodeError`` of a Text field, ``RuntimeError`` of an enum value
out of range, anything else) becomes ``malformed``. Then the
contents are checked, so that valid-but-wrong messages are refused cleanly:

=====================  ==========================================================
check                  code
=====================  ==========================================================
undecodable frame      ``malformed``
group name charset     ``malformed`` (1–``max_name_chars`` of ``A-Z a-z 0-9 _ . -``)
name/text/token size   ``tooLarge``
list length            ``limitExceeded`` (``max_list_items``)
contract list          ``malformed`` when empty or a vt_symbol is not 1–64 bytes
                       (``subscribeTicks``, ``unsubscribeTicks``, ``watchlistUpdate``)
=====================  ==========================================================

Members this module has no specific check for (added later by other
issues) are walked whole with ``to_dict()`` under the same budget, so their
pointers and Text are proven readable before the session opens them.
"""

from __future__ import annotations

from dataclasses import dataclass

import capnp

import schemas
from actors.market.watchlists import MAX_VT_SYMBOL_BYTES, vt_symbol_fits
from actors.orders.config import ALGO_MEMBERS, ORDER_KEYS, order_key
from transport.errors import FrameRefusedError
from transport.edge.limits import SocketLimits

CONTRACT_LISTS = {"subscribeTicks": ("vtSymbols",), "unsubscribeTicks": ("vtSymbols",),
                  "watchlistUpdate": ("add", "remove")}
"""ClientMessage members that name contracts: their vt_symbol lists, checked like group lists."""
GROUP_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
"""Characters a group name may hold (ProductIDs ``rb``, ``m_o``; watchlist names)."""

_DECODE_ERRORS = (capnp.KjException, ValueError, UnicodeDecodeError, RuntimeError, TypeError, AttributeError,
                  IndexError, OverflowError, KeyError)
"""What pycapnp raised on hostile frames: ``RuntimeError("Member was null.")`` reading an enum
value outside its enumerants, ``UnicodeDecodeError`` reading Text ... Any other exception while
decoding is mapped to ``malformed`` as well (never raised into the socket handler)."""


@dataclass(frozen=True)
class ClientFrame:
    """What the socket server keeps of one decoded, validated client frame.

    Attributes:
        member: the ClientMessage union member, ``"subscribe"``.
        correlation: the envelope id (echoed as ``correlationId`` in replies).
        token: the JWT of ``auth`` / ``refresh``; ``""`` otherwise.
        groups: group names of ``subscribe`` / ``unsubscribe`` / ``snapshotRequest`` / ``viewport``, in order.
    """

    member: str
    correlation: int
    token: str = ""
    groups: tuple[str, ...] = ()


def read_client_frame(data: bytes, limits: SocketLimits) -> ClientFrame:
    """Decode ``data`` as a ClientMessage and check its contents against ``limits``.

    Args:
        data: one binary WebSocket frame (already checked against ``max_frame_bytes``).
        limits: the socket limits (text sizes, list lengths, traversal budget).

    Returns:
        The frame's member, envelope id, token and group names.

    Raises:
        FrameRefusedError: ``malformed``, ``tooLarge`` or ``limitExceeded``,
            with the envelope id when it could be read.
    """
    correlation = 0
    try:
        with schemas.stream.ClientMessage.from_bytes(
            data, traversal_limit_in_words=limits.reader_traversal_words, nesting_limit=schemas.NESTING_LIMIT
        ) as message:
            envelope = message.envelope
            correlation = envelope.id
            if len(envelope.source) > limits.max_text_chars:
                raise FrameRefusedError("tooLarge", f"envelope source over {limits.max_text_chars} characters",
                                        correlation)
            member = message.which()
            if member in ("auth", "refresh"):
                token = getattr(message, member).token
                if len(token) > limits.max_token_chars:
                    raise FrameRefusedError("tooLarge", f"token over {limits.max_token_chars} characters",
                                            correlation)
                return ClientFrame(member, correlation, token=token)
            if member in ("subscribe", "unsubscribe"):
                items = getattr(message, member).groups
                if len(items) > limits.max_list_items:
                    raise FrameRefusedError("limitExceeded", f"{len(items)} groups in one message, over "
                                            f"{limits.max_list_items}", correlation)
                groups = tuple(items)
            elif member == "snapshotRequest":
                groups = (message.snapshotRequest.group,)
            elif member == "viewport":
                viewport = message.viewport
                viewport.rowCount  # noqa: B018 - read it: proves the struct is in bounds
                if len(viewport.rowIndexes) > limits.max_viewport_rows:
                    raise FrameRefusedError("limitExceeded", f"{len(viewport.rowIndexes)} viewport rows, over "
                                            f"{limits.max_viewport_rows}", correlation)
                groups = (viewport.group,)
            elif member == "ping":
                message.ping.clientTsNs  # noqa: B018 - read it: proves the struct is in bounds
                groups = ()
            elif member in CONTRACT_LISTS:
                body = getattr(message, member)
                contracts = [vt for field in CONTRACT_LISTS[member] for vt in getattr(body, field)]
                _check_contracts(member, contracts, limits, correlation)
                groups = ()
            else:
                getattr(message, member).to_dict()  # proves every pointer and Text of it readable
                groups = ()
    except FrameRefusedError:
        raise
    except _DECODE_ERRORS as exc:
        raise FrameRefusedError("malformed", f"malformed ClientMessage: {type(exc).__name__}", correlation) from None
    except Exception as exc:  # noqa: BLE001 - hostile bytes must never raise past the socket server
        raise FrameRefusedError("malformed", f"malformed ClientMessage: {type(exc).__name__}", correlation) from None
    for group in groups:
        check_group_name(group, limits, correlation)
    return ClientFrame(member, correlation, groups=groups)


def order_target(data: bytes, frame: ClientFrame, limits: SocketLimits) -> tuple[str, str | None]:
    """Return ``(account, idempotency key or None)`` of an order frame (a member of
    actors.orders.config.ORDER_KEYS: the client order id, a replace's new client order id, a cancelAll's
    request id; ``None`` for orderStatusRequest) already accepted by :func:`read_client_frame`; of an algo
    frame (startAlgo, pauseAlgo, resumeAlgo, stopAlgo), ``(account, jobId)``.

    Raises:
        FrameRefusedError: ``malformed`` if it cannot be read again.
    """
    try:
        with schemas.stream.ClientMessage.from_bytes(
            data, traversal_limit_in_words=limits.reader_traversal_words, nesting_limit=schemas.NESTING_LIMIT
        ) as message:
            body = getattr(message, frame.member)
            if frame.member in ALGO_MEMBERS:
                return body.account, body.jobId
            key = order_key(frame.member, body) if ORDER_KEYS[frame.member] else None
            return body.account, key
    except _DECODE_ERRORS as exc:
        raise FrameRefusedError("malformed", f"malformed ClientMessage: {type(exc).__name__}",
                                frame.correlation) from None


def _check_contracts(member: str, contracts: list[str], limits: SocketLimits, correlation: int) -> None:
    """Refuse a contract list that is empty, longer than ``max_list_items`` or has a bad vt_symbol."""
    if not contracts:
        raise FrameRefusedError("malformed", f"{member} names no contract", correlation)
    if len(contracts) > limits.max_list_items:
        raise FrameRefusedError("limitExceeded", f"{len(contracts)} contracts in one message, over "
                                f"{limits.max_list_items}", correlation)
    for vt_symbol in contracts:
        if not vt_symbol_fits(vt_symbol):
            raise FrameRefusedError("malformed", f"a vt_symbol must be 1..{MAX_VT_SYMBOL_BYTES} bytes",
                                    correlation)


def check_group_name(group: str, limits: SocketLimits, correlation: int = 0) -> None:
    """Refuse a group name that cannot name a group.

    Raises:
        FrameRefusedError: ``tooLarge`` over ``max_name_chars``; ``malformed``
            when empty or with a character outside :data:`GROUP_NAME_CHARS`.
    """
    if len(group) > limits.max_name_chars:
        raise FrameRefusedError("tooLarge", f"group name over {limits.max_name_chars} characters", correlation)
    if not group or not GROUP_NAME_CHARS.issuperset(group):
        raise FrameRefusedError("malformed", "a group name is 1 or more of A-Z a-z 0-9 _ . -", correlation)


__all__ = ["ClientFrame", "GROUP_NAME_CHARS", "check_group_name", "order_target", "read_client_frame"]
