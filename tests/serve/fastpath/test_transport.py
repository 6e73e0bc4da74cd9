"""JoiningTransport: writes held until the next write or the loop's next pass, order kept."""

import asyncio

from lenet_deploy.serve.fastpath.transport import JoiningTransport


class Recording:
    def __init__(self):
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data):
        assert not self.closed, "write after close"
        self.sent.append(bytes(data))

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 8000) if name == "sockname" else default


def _run(steps):
    async def main():
        real = Recording()
        joined = JoiningTransport(real, asyncio.get_running_loop())
        await steps(joined, real)
        return real

    return asyncio.run(main())


def test_a_head_and_its_body_leave_in_one_write():
    async def steps(t, real):
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
        t.write(b"body")
        assert real.sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody"]
        t.write(bytearray(b"next"))  # held again, then sent on the loop's next pass
        assert len(real.sent) == 1
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    assert _run(steps).sent[1:] == [b"next"]


def test_close_sends_what_is_held_first_and_the_rest_delegates():
    async def steps(t, real):
        t.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        assert t.get_extra_info("sockname") == ("127.0.0.1", 8000)
        t.close()
        await asyncio.sleep(0)

    real = _run(steps)
    assert real.sent == [b"HTTP/1.1 400 Bad Request\r\n\r\n"] and real.closed


def test_nothing_is_written_once_the_peer_has_gone():
    async def steps(t, real):
        t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        real.closed = True  # connection lost before the loop's next pass
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    assert _run(steps).sent == []


def test_the_server_speaks_through_it():
    from types import SimpleNamespace

    from lenet_deploy.serve.fastpath.protocol import FastInferProtocol
    from lenet_deploy.serve.fastpath.transport import OneWriteProtocol
    from lenet_deploy.serve.server import ServeSettings, http_protocol

    endpoint = object()
    protocol, note = http_protocol(SimpleNamespace(infer=endpoint), ServeSettings())
    assert note == ""
    assert issubclass(protocol, FastInferProtocol) and issubclass(protocol, OneWriteProtocol)
    assert protocol.endpoint is endpoint  # httptools is part of the serve extra


def test_write_now_sends_after_a_held_write():
    async def steps(t, real):
        t.write(b"head ")
        t.write_now(b"body")
        assert real.sent == [b"head body"]
        t.write_now(b" next")
        await asyncio.sleep(0)

    assert _run(steps).sent == [b"head body", b" next"]


def test_writelines_keeps_order_with_a_held_write():
    async def steps(t, real):
        t.write(b"head ")
        t.writelines([b"body ", b"tail"])
        assert real.sent == [b"head body tail"]

    _run(steps)
