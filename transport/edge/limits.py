"""Per-user and per-socket limits of ``/ws``: settings, token bucket, Origin check.

Defaults come from the desk's requirements: 5 sockets per
user, 50 subscriptions per socket, 100 client messages/s per socket, 64 KiB
per client frame, auth within 5 s. Every field is settable in the
``[limits]`` table of the TOML configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from transport.errors import ConfigError

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""Loopback names: one desk reached on one of them has the same origin under the others (same port)."""


@dataclass(frozen=True)
class SocketLimits:
    """Per-user and per-connection limits (the desk's requirements; transport/README.md).

    Attributes:
        max_frame_bytes: largest client frame decoded (64 KiB); bigger gets ``tooLarge``.
        hard_frame_bytes: larger frames close the socket (aiohttp ``max_msg_size``, 1009).
        auth_timeout_s: time allowed for the first ``auth``, seconds.
        max_bad_frames: refusals (every code) tolerated within ``bad_window_s``;
            one more closes the socket with 1008.
        bad_window_s: window for ``max_bad_frames``, seconds.
        high_water_bytes: queued bytes over which deltas are conflated.
        low_water_bytes: queued bytes under which stale groups get snapshots.
        compress: permessage-deflate.
        max_sockets_per_user: open authenticated sockets per ``sub``; one more
            gets ``limitExceeded`` and close 1008. On NATS edge nodes the count is
            cluster-wide (transport/cluster/nats_sockets.py).
        socket_lease_ttl_s: on NATS, a socket's entry in the cluster-wide count
            lives this long unless its node puts it again (every third of it):
            the sockets of a node that died stop counting within it, seconds.
        max_subscriptions: groups subscribed at once per socket; a subscribe
            that would pass it gets ``limitExceeded`` (nothing subscribed).
        messages_per_s: token-bucket refill rate of client frames per socket, frames/s.
        message_burst: token-bucket capacity, frames; a frame finding it empty
            gets ``rateLimited`` and is not decoded.
        allowed_origins: ``scheme://host[:port]`` origins allowed to open a
            socket; empty → only the desk's own origin (the request's
            ``host:port``, or a loopback name at that port). A request
            without ``Origin`` (not a browser) is allowed; it still needs a token.
        max_list_items: most entries in a client list (``subscribe.groups``);
            more gets ``limitExceeded``.
        max_viewport_rows: most rows in one ``viewport.rowIndexes`` (a screen shows ~50 per
            watchlist); more gets ``limitExceeded``.
        max_name_chars: longest group name; longer gets ``tooLarge``.
        max_text_chars: longest other client text (``envelope.source``),
            characters; longer gets ``tooLarge``.
        max_token_chars: longest token in ``auth`` / ``refresh``; longer gets ``tooLarge``.
        reader_traversal_words: pycapnp traversal budget per client frame, 8-byte words.
        max_queued_bytes: replies queued for a client that does not read; a
            frame arriving past it gets ``limitExceeded`` and close 1008.
        stale_after_s: a subscribed group from which neither a frame nor a
            heartbeat came this long is shown ``stale`` (groupStatus), seconds.
    """

    max_frame_bytes: int = 64 * 1024
    hard_frame_bytes: int = 1024 * 1024
    auth_timeout_s: float = 5.0
    max_bad_frames: int = 20
    bad_window_s: float = 10.0
    high_water_bytes: int = 1024 * 1024
    low_water_bytes: int = 256 * 1024
    compress: bool = False
    max_sockets_per_user: int = 5
    socket_lease_ttl_s: float = 10.0
    max_subscriptions: int = 50
    messages_per_s: float = 100.0
    message_burst: int = 100
    allowed_origins: tuple[str, ...] = ()
    max_list_items: int = 64
    max_viewport_rows: int = 1024
    max_name_chars: int = 64
    max_text_chars: int = 256
    max_token_chars: int = 8 * 1024
    reader_traversal_words: int = 64 * 1024
    max_queued_bytes: int = 16 * 1024 * 1024
    stale_after_s: float = 1.5

    def __post_init__(self) -> None:
        if isinstance(self.allowed_origins, str):
            raise ConfigError("allowed_origins must be a list of origins")
        object.__setattr__(self, "allowed_origins", tuple(o.rstrip("/").lower() for o in self.allowed_origins))
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
                raise ConfigError(f"limit {spec.name} must be > 0, not {value}")
        if self.max_frame_bytes > self.hard_frame_bytes:
            raise ConfigError("max_frame_bytes must not exceed hard_frame_bytes")


class TokenBucket:
    """A token bucket: ``capacity`` frames at once, refilled at ``rate_per_s``.

    Args:
        rate_per_s: refill rate, tokens per second.
        capacity: bucket size, tokens (starts full).
        now_s: the clock's current reading, seconds (monotonic).
    """

    __slots__ = ("capacity", "rate_per_s", "tokens", "_last_s")

    def __init__(self, rate_per_s: float, capacity: int, now_s: float) -> None:
        self.rate_per_s = rate_per_s
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self._last_s = now_s

    def take_nowait(self, now_s: float) -> bool:
        """Take one token at time ``now_s``; False when the bucket is empty."""
        elapsed = now_s - self._last_s
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_s)
            self._last_s = now_s
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Return whether a socket request from ``origin`` may be upgraded.

    Without an allow-list only the desk's own origin is accepted: the same
    ``host:port`` as the request's ``Host`` (the address the browser reached
    the desk at), or, for a desk reached on a loopback name, another
    loopback name at the same port (``localhost:8700`` for ``127.0.0.1:8700``).
    Another port on localhost is another site (a development server, any
    local program's page) and is refused. Pages served elsewhere (other
    edge nodes, ``?edges=``) need ``allowed_origins``.

    Args:
        origin: the request's ``Origin`` header (``None`` when absent: not a browser).
        host: the request's ``Host`` header, ``"desk.lan:8700"``.
        allowed: configured allow-list (lower case, no trailing slash); empty → the desk's own origin.

    Source: RFC 6455 §10.2 (servers check Origin against cross-site WebSocket
    hijacking); RFC 6454 §4 (an origin is scheme, host and port).
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if allowed:
        return origin in allowed
    if host is None:
        return False
    try:
        parts = urlsplit(origin)
        origin_host, origin_port = parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)
        served = urlsplit(f"//{host.strip().lower()}")
        host_name, host_port = served.hostname, served.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not origin_host or not host_name:
        return False
    if origin_port != host_port:
        return False
    return origin_host == host_name or (origin_host in LOCAL_HOSTS and host_name in LOCAL_HOSTS)


_DEFAULT_PORTS = {"http": 80, "https": 443}


__all__ = ["LOCAL_HOSTS", "SocketLimits", "TokenBucket", "origin_allowed"]
