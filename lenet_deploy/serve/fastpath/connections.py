"""Bounded connections: read time limits, a header size limit and a cap on open connections,
inside uvicorn's httptools protocol (uvicorn has neither a header-read timeout nor a header
size limit for httptools, and keeps a silent connection open for as long as the client likes).

``GuardedProtocol`` tracks where each connection is -- waiting for a request, reading its
headers, reading its body, or answering -- and one sweep a second per server closes those
past a limit: headers or body not in within their total time, a pause between two reads
longer than the gap, or no request for the idle time (408 with ``Connection: close`` where a
request had begun). Headers over the size limit get 431 before the parser buffers them. At the
connection cap a new connection closes the oldest idle one, so health probes still get in
while idle sockets fill the cap; with none idle it gets 503 at once. The same class carries
the ASGI path and the infer fast path, so both honour the same limits.
"""

from __future__ import annotations

import re

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from ..codec import encode_error
from .transport import OneWriteProtocol

_HEAD_END = b"\r\n\r\n"
SWEEP_EVERY_S = 1.0


class Connections:
    """The open connections of one server, the idle ones oldest first, and the sweep."""

    def __init__(self, limits, max_connections: int):
        self.limits = limits  # ServeSettings: *_timeout_s, read_gap_s, max_header_bytes
        self.max_connections = max_connections
        self.open: set[GuardedProtocol] = set()
        self.idle: dict[GuardedProtocol, None] = {}  # insertion order: oldest idle first
        self.sweeping = None
        self.evicted = 0  # idle connections closed to make room
        self.refused = 0  # connections answered 503 at the cap
        self.timed_out = 0

    def arrive(self, conn: GuardedProtocol) -> bool:
        """Admit ``conn``; False when the cap is reached and no connection is idle."""
        self.open.add(conn)
        if len(self.open) > self.max_connections:
            for old in self.idle:
                if old.is_idle():
                    self.evicted += 1
                    self.leave(old)
                    old.transport.close()
                    break
            else:
                return False
        if self.sweeping is None:
            self.sweeping = conn.loop.call_later(SWEEP_EVERY_S, self.sweep, conn.loop)
        return True

    def leave(self, conn: GuardedProtocol) -> None:
        self.open.discard(conn)
        self.idle.pop(conn, None)

    def sweep(self, loop) -> None:
        now = loop.time()
        for conn in list(self.open):
            conn.check_deadlines(now)
        self.sweeping = loop.call_later(SWEEP_EVERY_S, self.sweep, loop) if self.open else None


class GuardedProtocol(OneWriteProtocol):
    """uvicorn's httptools protocol (one write per response) with the limits above."""

    registry: Connections  # set on the subclass made by guarded_protocol (uvicorn has .connections)

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.reading: str | None = None  # None (no request begun), "head" or "body"
        self.since = self.last_read = self.loop.time()
        self.head_bytes = 0
        self.tail = b""  # the end of the headers read so far, for a terminator split in two
        self.bad_request = False  # unparsable bytes after a request still being answered
        self.lingering = False  # answered and shut for writing; reading what still comes
        self.transport.linger = self.linger
        self.registry.idle[self] = None
        if not self.registry.arrive(self):
            self.registry.refused += 1
            self.refuse(503, "too many open connections; try again shortly")

    def connection_lost(self, exc) -> None:
        self.registry.leave(self)
        super().connection_lost(exc)

    def is_idle(self) -> bool:
        cycle = self.cycle
        return self.reading is None and (cycle is None or cycle.response_complete)

    def data_received(self, data: bytes) -> None:
        """uvicorn's, with the header size limit, Upgrade ignored, and a parse error after a
        request still being answered deferred until that answer is out."""
        self.last_read = self.loop.time()
        if self.lingering:  # the rest of a body already answered (413): read and dropped
            return
        if self.reading != "body":
            limit = self.registry.limits.max_header_bytes
            budget = limit - self.head_bytes
            if len(data) > budget and (self.tail + data[: budget + 4]).find(_HEAD_END) < 0:
                self.refuse(431, f"request headers over {limit:,} bytes; send fewer or shorter")
                return
            if b"pgrade" in data or b"PGRADE" in data:
                data = _without_upgrade(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.cycle is not None and not self.cycle.response_complete:
                self.bad_request = True  # answered once the request before it is
                self.transport.pause_reading()
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:  # one the header rewrite did not see: refuse it
            self.send_400_response("Upgrade is not supported; send plain HTTP/1.1.")
            return
        if self.reading == "head":
            self.head_bytes += len(data)
            self.tail = data[-3:]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading, self.since, self.head_bytes, self.tail = "head", self.last_read, 0, b""
        self.registry.idle.pop(self, None)

    def on_headers_complete(self) -> None:
        self.head_done()
        super().on_headers_complete()

    def head_done(self) -> None:
        """The headers are in; the body's time starts (the fast path calls this too)."""
        self.reading, self.since = "body", self.last_read

    def on_message_complete(self) -> None:
        self.reading = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        if self.bad_request and not pipelined:
            self.server_state.total_requests += 1
            self.send_400_response("Invalid HTTP request received.")
            return
        super().on_response_complete()
        if self.reading is None and not pipelined and not self.transport.is_closing():
            self.since = self.loop.time()
            self.registry.idle[self] = None

    def linger(self) -> bool:
        """On close: keep reading a body still arriving (for at most the read gap)."""
        if self.reading == "body" and not self.lingering:
            self.lingering, self.since = True, self.loop.time()
            return True
        return False

    def check_deadlines(self, now: float) -> None:
        """Close this connection if it is past a limit (the sweep calls this each second)."""
        if self.transport.is_closing():
            return
        limits, reading = self.registry.limits, self.reading
        if self.lingering:
            if now - self.since > limits.read_gap_s:
                self.transport.close_now()
            return
        if reading is None:
            if self.is_idle() and now - max(self.since, self.last_read) > limits.idle_timeout_s:
                self.transport.close()
            return
        if not self.transport.is_reading():  # the server paused reading: not the client's fault
            self.last_read = now
            return
        total = limits.header_timeout_s if reading == "head" else limits.body_timeout_s
        what = "headers" if reading == "head" else "body"
        if now - self.since > total:
            why = f"request {what} not received within {total:g} s"
        elif now - self.last_read > limits.read_gap_s:
            why = f"request {what} stalled: nothing received for {limits.read_gap_s:g} s"
        else:
            return
        self.registry.timed_out += 1
        started = getattr(self.cycle, "response_started", False) if reading == "body" else False
        if started:
            self.transport.close()
        else:
            self.refuse(408, why)

    def refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with a JSON error and close: the connection is not read again."""
        self.reading = None
        body = encode_error(message)
        head = b"".join(
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        )
        self.transport.write_now(
            STATUS_LINE[status] + head + b"content-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        self.transport.close_now()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False


_UPGRADE = re.compile(rb"(?im)^upgrade[ \t]*:")


def _without_upgrade(data: bytes) -> bytes:
    """``data`` with the ``Upgrade`` header of the request head it starts renamed.

    Nothing here speaks another protocol (h2c, websocket), and the server may ignore Upgrade
    (RFC 9110, 7.8); llhttp would instead stop at the head, drop the body, and everything
    pipelined after it. The rename keeps the length, so nothing else shifts. A head split
    over two reads keeps its Upgrade only if the header line itself is split.
    """
    end = data.find(_HEAD_END)
    head = data if end < 0 else data[:end]
    head = _UPGRADE.sub(lambda m: b"X" + m.group(0)[1:], head)  # "Xpgrade: h2c"
    return head if end < 0 else head + data[end:]


def guarded_protocol(base: type, limits, max_connections: int, **attributes) -> type:
    """A subclass of ``base`` (GuardedProtocol or one of its subclasses) bound to one server's
    connection registry and to ``attributes`` (the fast path's endpoint)."""
    if not issubclass(base, GuardedProtocol):
        raise TypeError(f"{base.__name__} is not a GuardedProtocol")
    attributes["registry"] = Connections(limits, max_connections)
    return type("Bound" + base.__name__, (base,), attributes)
