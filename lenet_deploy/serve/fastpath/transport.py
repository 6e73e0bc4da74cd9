"""One ``send`` per response: uvicorn's HTTP protocol with a transport that joins writes.

uvicorn writes a response's head and its body with two ``transport.write`` calls, and each is
a system call and a TCP segment of its own. ``OneWriteProtocol`` hands uvicorn a transport
that holds a write until the next one (or the end of the event loop's current pass) and sends
them together, so an infer response leaves as one segment. Order is kept, ``close()`` sends
what is held first, and everything else is the real transport's.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class JoiningTransport:
    """``transport`` with each write held until the next write or the loop's next pass."""

    __slots__ = ("_transport", "_loop", "_held", "linger")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        #: ``linger() -> bool``, asked on close(): True when the protocol would rather keep
        #: reading a while (a request body still arriving), so the write side shuts instead.
        self.linger = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._held = None
            self._transport.write(held + data)

    def write_now(self, data: bytes) -> None:
        """Send ``data`` now, after anything held."""
        held = self._held
        if held is None:
            self._transport.write(data)
        else:
            self._held = None
            self._transport.write(held + data)

    def writelines(self, chunks) -> None:  # kept in order with a held write
        self.write(b"".join(chunks))

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():  # the peer went away meanwhile
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        if self.linger is not None and self.linger():
            # Closing with unread bytes from the client makes the kernel send a reset, which
            # can reach the client before the answer it was sent (a 413 lost): shut only the
            # write side, and let the protocol read on until the client is done.
            if self._transport.can_write_eof():
                self._transport.write_eof()
                return
        self._transport.close()

    def close_now(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a ``JoiningTransport``."""

    def connection_made(self, transport) -> None:
        super().connection_made(JoiningTransport(transport, self.loop))
