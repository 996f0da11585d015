"""The order and algo commands a session relays (:class:`CommandForwarder`), with their checks.

A trader's ``submitOrder``, ``cancelOrder``, ``orderStatusRequest``, ``flattenPosition`` ...
(``ORDER_MEMBERS``) go to ``orders/<account>``; ``startAlgo``, ``pauseAlgo``, ``resumeAlgo``,
``stopAlgo`` (``ALGO_MEMBERS``) go to the algo host (``algos``), both as ``orderCommand``
(actors/orders/codec.py). Before forwarding, the checks (issue 3, issue 6):

* the command's key (clientOrderId, or jobId of an algo command) is 1..``MAX_CLIENT_ORDER_ID_BYTES``
  bytes, a ``flattenPosition`` names a known aggressiveness and a tick count in range: else ``malformed``;
* the token grants the account (``SessionState.may_trade``) and the desk has ``orders/<account>``:
  else ``forbidden``;
* the target actor takes the message: else ``internal`` (restarting: retry with the same key).

A refusal is a value (:class:`Refusal`), the session pushes it as ``error``. Loop thread only,
like the session that owns the forwarder.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass

from actors.orders.codec import encode_order_command
from actors.orders.config import MAX_CLIENT_ORDER_ID_BYTES, ORDER_KEYS, client_order_id_fits, order_key
from actors.orders.flatten import request_problem
from actors.paths import ALGO_HOST_PATH, is_token, orders_path
from actors.sessions.state import SessionState


@dataclass(frozen=True)
class Refusal:
    """Why a command was not forwarded: the ``error`` the socket gets.

    Attributes:
        code: ``malformed``, ``forbidden`` or ``internal`` (schemas/stream.capnp ``Error.code``).
        message: for the trader.
    """

    code: str
    message: str

    def as_error(self) -> dict[str, str]:
        """Return the fields of the ServerMessage ``error``."""
        return {"code": self.code, "message": self.message}


class CommandForwarder:
    """Checks a session's order and algo commands and sends them on.

    Args:
        session_path: the session's actor path (replies come back to it).
        state: the session's :class:`SessionState` (user, token grants; read per command).
        registry: the actor registry (``path in registry``: the actor exists on this node).
        send_path: ``send_path(path, bytes) -> bool``: False when the actor does not take the message.
    """

    def __init__(self, session_path: str, state: SessionState, registry: Container[str],
                 send_path: Callable[[str, bytes], bool]) -> None:
        self._path = session_path
        self._state = state
        self._registry = registry
        self._send_path = send_path
        self.order_commands = 0
        self.algo_commands = 0

    def order(self, body, member: str, data: bytes, correlation_id: int) -> Refusal | None:
        """Forward an order command to ``orders/<account>``, or return why not.

        Args:
            body: the ClientMessage member's reader (``account``, ``clientOrderId`` ...).
            member: the ClientMessage member name, one of ``ORDER_MEMBERS``.
            data: the whole ClientMessage (forwarded unchanged).
            correlation_id: the desk correlation id of the command (UInt64).
        """
        account = body.account
        if ORDER_KEYS[member] and not client_order_id_fits(order_key(member, body)):
            return Refusal("malformed", f"{ORDER_KEYS[member]} must be 1..{MAX_CLIENT_ORDER_ID_BYTES} bytes")
        problem = request_problem(body.clientOrderId, str(body.aggressiveness), body.ticks) \
            if member == "flattenPosition" else ""
        if problem:
            return Refusal("malformed", f"flattenPosition: {problem}")
        path = orders_path(account) if is_token(account) else ""
        if not self._state.may_trade(account) or path not in self._registry:
            return Refusal("forbidden", f"account {account!r} is not yours")
        self.order_commands += 1
        if not self._send_path(path, encode_order_command(self._path, self._state.user, data, self._path,
                                                          correlation_id, *self._state.grants())):
            return Refusal("internal", f"the order actor of {account} is restarting; retry with the same "
                           "clientOrderId")
        return None

    def algo(self, body, data: bytes, correlation_id: int) -> Refusal | None:
        """Forward an algo command to the algo host, or return why not.

        Args:
            body: the ClientMessage member's reader (``account``, ``jobId`` ...).
            data: the whole ClientMessage (forwarded unchanged).
            correlation_id: the desk correlation id of the command (UInt64).
        """
        account = body.account
        if not client_order_id_fits(body.jobId):
            return Refusal("malformed", f"jobId must be 1..{MAX_CLIENT_ORDER_ID_BYTES} bytes")
        if not self._state.may_trade(account) or not is_token(account) or orders_path(account) not in self._registry:
            return Refusal("forbidden", f"account {account!r} is not yours")
        self.algo_commands += 1
        if not self._send_path(ALGO_HOST_PATH, encode_order_command(self._path, self._state.user, data, self._path,
                                                                    correlation_id, *self._state.grants())):
            return Refusal("internal", "the desk runs no algo engine")
        return None


__all__ = ["CommandForwarder", "Refusal"]
