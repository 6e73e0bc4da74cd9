"""``POST .../infer`` answered inside the HTTP protocol: no ASGI task, scope or messages.

uvicorn turns every request into a scope, a task, ``receive``/``send`` message dicts and a
check of each response header; for the request a model server exists for, that is most of
its CPU time. ``FastInferProtocol`` (uvicorn's httptools protocol with the connection limits
of ``GuardedProtocol``, writing through ``OneWriteProtocol``) hands a plain infer request for
the served model from the parser's callbacks to ``InferEndpoint.start`` and writes the answer
itself from the batcher's callback.

Everything else goes the ASGI way, unchanged: other routes, another model or version (404),
a server not ready or draining (503), a body over the limit (413, unread), chunked bodies,
``Expect: 100-continue``, HTTP/1.0, ``Connection: close``, query strings, and a request
pipelined behind one still in flight (it waits its turn in uvicorn's pipeline). Both ways run
the same endpoint code, so they give the same answers.
"""

from __future__ import annotations

import time

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from ..infer import InferEndpoint, content_lengths, infer_path
from .connections import GuardedProtocol

_JSON_HEAD = b"content-type: application/json\r\ncontent-length: %d\r\n"
_BINARY_HEAD = (
    b"content-type: application/octet-stream\r\ncontent-length: %d\r\n"
    b"inference-header-content-length: %d\r\n"
)


class _NoEvent:
    """What uvicorn's ``connection_lost`` sets on a cycle's ``message_event``: nobody waits."""

    @staticmethod
    def set() -> None:
        pass


class FastCycle:
    """One infer request on the fast path, in the place uvicorn keeps its request cycle: its
    ``response_complete`` holds back pipelined requests, and ``shutdown`` clears
    ``keep_alive`` so the connection closes after the answer."""

    __slots__ = ("chunks", "header_length", "started", "keep_alive", "response_complete",
                 "disconnected")  # fmt: skip
    message_event = _NoEvent()

    def __init__(self, header_length: int | None, started: int):
        self.chunks: list[bytes] = []
        self.header_length = header_length
        self.started = started
        self.keep_alive = True
        self.response_complete = False
        self.disconnected = False


class _DefaultHeaders:
    """uvicorn's default headers (``date``, ``server``) as bytes, rebuilt when uvicorn
    replaces its list (once a second, for the date)."""

    __slots__ = ("source", "text")

    def __init__(self) -> None:
        self.source: object = None
        self.text = b""

    def get(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        if headers is not self.source:
            self.text = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
            self.source = headers
        return self.text


class FastInferProtocol(GuardedProtocol):
    """uvicorn's httptools protocol with infer requests answered without ASGI."""

    endpoint: InferEndpoint  # set on the subclass made by fastpath.install
    _defaults = _DefaultHeaders()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fast: FastCycle | None = None  # the fast request being parsed

    def on_headers_complete(self) -> None:
        self._unset_keepalive_if_required()  # a pipelined request may follow a quick answer
        fast = self._fast_cycle()
        if fast is None:
            super().on_headers_complete()
        else:
            self.head_done()
            self.fast = self.cycle = fast

    def _fast_cycle(self) -> FastCycle | None:
        """A FastCycle when this request can take the fast path, else None."""
        cycle, parser = self.cycle, self.parser
        if (
            (cycle is not None and not cycle.response_complete)
            or self.pipeline
            or self.expect_100_continue
            or parser.get_method() != b"POST"
            or parser.get_http_version() != "1.1"
            or not parser.should_keep_alive()
            or parser.should_upgrade()
        ):
            return None
        url = self.url
        if not url.endswith(b"/infer") or b"?" in url or b"%" in url or not url.isascii():
            return None
        params = infer_path(url.decode("ascii"))
        endpoint = self.endpoint
        if params is None or endpoint.refusal(params) is not None:
            return None
        try:
            length, header_length = content_lengths(self.headers)
        except ValueError:
            return None
        if length is None or length > endpoint.settings.max_body_bytes:
            return None
        return FastCycle(header_length, time.perf_counter_ns())

    def on_body(self, body: bytes) -> None:
        fast = self.fast
        if fast is None:
            super().on_body(body)
        else:
            fast.chunks.append(body)

    def on_message_complete(self) -> None:
        fast = self.fast
        if fast is None:
            super().on_message_complete()
            return
        self.fast = self.reading = None
        chunks = fast.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        fast.chunks = []
        self.endpoint.start(
            body,
            fast.header_length,
            lambda status, out, out_header: self._respond(fast, status, out, out_header),
        )

    def _respond(self, fast: FastCycle, status: int, body: bytes, header_length: int | None):
        fast.response_complete = True
        self.endpoint.record(status, fast.started)
        transport = self.transport
        if transport.is_closing():  # the client went away
            return
        if header_length is None:
            head = _JSON_HEAD % len(body)
        else:
            head = _BINARY_HEAD % (len(body), header_length)
        parts = [STATUS_LINE[status], self._defaults.get(self.server_state.default_headers), head]
        if not fast.keep_alive:  # the server is shutting down
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", body)
        transport.write_now(b"".join(parts))
        if not fast.keep_alive:
            transport.close()
        self.on_response_complete()  # starts a pipelined request, or arms keep-alive
