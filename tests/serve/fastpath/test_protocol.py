"""The infer fast path inside the HTTP protocol: which requests take it, what they get back,
pipelining, bodies in pieces, shutdown -- in process on a fake transport, and on the real
server over a raw socket."""

import asyncio
import json
import socket
import time
from urllib.parse import urlsplit

import numpy as np
import pytest

uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("httptools")

from uvicorn.server import ServerState  # noqa: E402

from lenet_deploy.bench.loadtest import decode_logits, encode_body  # noqa: E402
from lenet_deploy.errors import LenetDeployError  # noqa: E402
from lenet_deploy.runtimes import load_runtime  # noqa: E402
from lenet_deploy.serve.app import ServeSettings, _load, create_app  # noqa: E402
from lenet_deploy.serve.server import http_protocol  # noqa: E402

PATH = b"/v2/models/lenet/infer"


class FakeTransport:
    def __init__(self):
        self.sent = b""
        self.closed = False
        self.written_after_close = 0

    def write(self, data):
        if self.closed:
            self.written_after_close += 1
        else:
            self.sent += data

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name)

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


@pytest.fixture(scope="module")
def runtime(exported_dir):
    with load_runtime("ort-cpu", exported_dir, threads=1) as rt:
        yield rt


def _request(body: bytes, header_length=None, path=PATH, extra=b"", version=b"1.1") -> bytes:
    head = b"POST %s HTTP/%s\r\nHost: x\r\nContent-Length: %d\r\n" % (path, version, len(body))
    if header_length is not None:
        head += b"Inference-Header-Content-Length: %d\r\n" % header_length
    return head + extra + b"\r\n" + body


def _responses(data: bytes) -> list[tuple[int, dict, bytes]]:
    """Split a byte stream of HTTP/1.1 responses (all with Content-Length; 1xx skipped)."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        if lines[0].startswith(b"HTTP/1.1 1"):  # 100 Continue: no body
            data = rest
            continue
        headers = dict(line.split(b": ", 1) for line in lines[1:])
        n = int(headers[b"content-length"])
        out.append((int(lines[0].split()[1]), headers, rest[:n]))
        data = rest[n:]
    return out


def _run(runtime, script, settings=None):
    """Run ``script(protocol, transport, state, app)`` with one connection of the server's
    HTTP protocol, bound to a real app and batcher on ``runtime``."""

    async def main():
        s = settings or ServeSettings()
        app = create_app(runtime, s)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", proxy_headers=False)
        config.load()
        await _load(app.state, runtime, s)
        state = ServerState()
        state.default_headers = [(b"date", b"Sat, 28 Nov 2026 10:00:00 GMT"), (b"server", b"x")]
        protocol = http_protocol(app, s)[0](
            config=config, server_state=state, app_state={}, _loop=asyncio.get_running_loop()
        )
        transport = FakeTransport()
        protocol.connection_made(transport)
        try:
            return await script(protocol, transport, state, app)
        finally:
            await app.state.batcher.close()

    return asyncio.run(main())


async def _until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.001)


def _complete(data: bytes, n: int) -> bool:
    try:
        return len(_responses(data)) >= n
    except (KeyError, ValueError, IndexError):
        return False


def test_an_infer_request_is_answered_without_an_asgi_task(runtime, digits):
    x = digits.x_test[:2]
    body, _ = encode_body(x, binary=False)

    async def script(protocol, transport, state, app):
        protocol.data_received(_request(body))
        assert not state.tasks  # no ASGI task was started for it
        await _until(lambda: _complete(transport.sent, 1))
        return _responses(transport.sent)

    [(status, headers, payload)] = _run(runtime, script)
    assert status == 200 and headers[b"content-type"] == b"application/json"
    assert headers[b"date"] == b"Sat, 28 Nov 2026 10:00:00 GMT" and headers[b"server"] == b"x"
    np.testing.assert_array_equal(decode_logits(payload, None), runtime.predict(x))


@pytest.mark.parametrize(
    "variant",
    [
        dict(path=PATH + b"?trace=1"),  # a query string
        dict(version=b"1.0"),
        dict(extra=b"Connection: close\r\n"),
        dict(extra=b"Expect: 100-continue\r\n"),
        dict(path=b"/v2/models/lenet%2F/infer"),
    ],
)
def test_other_requests_go_the_asgi_way_and_get_the_same_answer(runtime, digits, variant):
    x = digits.x_test[:1]
    body, length = encode_body(x, binary=True)

    async def script(protocol, transport, state, app):
        protocol.data_received(_request(body, length, **variant))
        assert state.tasks  # uvicorn runs the app for it
        await _until(lambda: _complete(transport.sent, 1))
        return _responses(transport.sent)

    (status, headers, payload), *_ = _run(runtime, script)
    if variant.get("path", PATH).startswith(b"/v2/models/lenet%2F"):
        assert status == 404  # the app's router decodes the path; not the fast path's business
        return
    assert status == 200, payload
    assert int(headers[b"inference-header-content-length"]) < len(payload)
    got = decode_logits(payload, int(headers[b"inference-header-content-length"]))
    np.testing.assert_array_equal(got, runtime.predict(x))


def test_fast_and_asgi_answers_are_byte_for_byte_alike(runtime, digits):
    good_json = encode_body(digits.x_test[:1], binary=False)[0]
    bad_pixels = json.dumps(
        {"inputs": [{"name": "image", "shape": [1, 1, 32, 32], "datatype": "FP32",
                     "data": [2.0] * 1024}]}
    ).encode()  # fmt: skip
    binary, length = encode_body(digits.x_test[3:5], binary=True)
    cases = [(good_json, None), (b"{oops", None), (bad_pixels, None), (binary, length),
             (binary[:-4], length)]  # fmt: skip

    async def script(protocol, transport, state, app):
        answers = []
        for body, header_length in cases:
            for path in (PATH, PATH + b"?asgi=1"):
                transport.sent = b""
                protocol.data_received(_request(body, header_length, path=path))
                await _until(lambda: _complete(transport.sent, 1))
                answers.append(_responses(transport.sent)[0])
        return answers

    answers = _run(runtime, script)
    assert [a[0] for a in answers[::2]] == [200, 400, 400, 200, 400]
    for fast, asgi in zip(answers[::2], answers[1::2], strict=True):
        assert fast == asgi


def test_pipelined_requests_are_answered_in_order(runtime, digits):
    xs = [digits.x_test[i : i + 1 + i] for i in range(3)]
    bodies = [encode_body(x, binary=True) for x in xs]
    # The first goes the ASGI way (slower): the fast ones behind it must wait their turn.
    stream = _request(*bodies[0], path=PATH + b"?asgi=1")
    stream += b"".join(_request(b, n) for b, n in bodies[1:])
    stream += b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"

    async def script(protocol, transport, state, app):
        protocol.data_received(stream)  # four requests in one read
        await _until(lambda: _complete(transport.sent, 4))
        return _responses(transport.sent)

    answers = _run(runtime, script)
    assert [a[0] for a in answers] == [200, 200, 200, 200]
    for x, (_, headers, payload) in zip(xs, answers, strict=False):
        got = decode_logits(payload, int(headers[b"inference-header-content-length"]))
        np.testing.assert_array_equal(got, runtime.predict(x))
    assert json.loads(answers[3][2]) == {"live": True}


def test_a_body_in_pieces_is_put_together(runtime, digits):
    x = digits.x_test[:1]
    request = _request(*encode_body(x, binary=True))

    async def script(protocol, transport, state, app):
        for i in range(0, len(request), 700):  # headers and body cut anywhere
            protocol.data_received(request[i : i + 700])
            await asyncio.sleep(0)
        await _until(lambda: _complete(transport.sent, 1))
        return _responses(transport.sent)

    [(status, headers, payload)] = _run(runtime, script)
    assert status == 200
    got = decode_logits(payload, int(headers[b"inference-header-content-length"]))
    np.testing.assert_array_equal(got, runtime.predict(x))


def test_shutdown_answers_the_request_in_flight_then_closes(runtime, digits):
    settings = ServeSettings(max_delay_ms=300)  # the request waits for its batch meanwhile

    async def script(protocol, transport, state, app):
        protocol.data_received(_request(*encode_body(digits.x_test[:1], binary=True)))
        protocol.shutdown()  # what uvicorn does to every connection on SIGTERM
        assert not transport.closed
        await _until(lambda: transport.closed, timeout=3)  # not the 5 s keep-alive timeout
        return _responses(transport.sent)

    [(status, headers, _)] = _run(runtime, script, settings)
    assert status == 200 and headers[b"connection"] == b"close"


def test_an_idle_connection_closes_at_shutdown_and_a_gone_client_gets_nothing(runtime, digits):
    settings = ServeSettings(max_delay_ms=100)

    async def script(protocol, transport, state, app):
        protocol.data_received(_request(*encode_body(digits.x_test[:1], binary=True)))
        transport.closed = True  # the client went away
        protocol.connection_lost(None)
        await asyncio.sleep(0.3)  # the batch runs and answers nobody
        assert transport.sent == b"" and transport.written_after_close == 0
        done = app.state.metrics.triton_stats("lenet", "1")["model_stats"][0]
        return done["inference_stats"]["success"]["count"]

    assert _run(runtime, script, settings) == 1


def test_the_real_server_keeps_a_connection_alive_across_fast_requests(served_url, digits):
    parts = urlsplit(served_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        for i in range(5):
            x = digits.x_test[i : i + 1]
            body, length = encode_body(x, binary=i % 2 == 1)
            sock.sendall(_request(body, length))
            data = b""
            while not _complete(data, 1):
                chunk = sock.recv(65536)
                assert chunk, "the server closed the connection"
                data += chunk
            [(status, headers, payload)] = _responses(data)
            assert status == 200 and b"connection" not in headers


class _Failing:
    """A runtime whose predict raises ``error``."""

    name, device = "failing", "cpu"

    def __init__(self, error: Exception):
        self.error = error

    def predict(self, x):
        raise self.error

    def close(self):
        pass


@pytest.mark.parametrize(
    "error, message",
    [
        (LenetDeployError("the engine refused"), "failing: the engine refused"),
        (RuntimeError("a bug"), "internal error: RuntimeError"),
    ],
)
def test_a_runtime_failure_is_a_500_and_the_connection_lives_on(digits, error, message):
    request = _request(*encode_body(digits.x_test[:1], binary=True))

    async def script(protocol, transport, state, app):
        for _ in range(2):  # the second request on the same connection is answered too
            protocol.data_received(request)
            await _until(lambda: _complete(transport.sent, 1))
            [(status, _, payload)] = _responses(transport.sent)
            transport.sent = b""
            assert status == 500 and json.loads(payload)["error"] == message
        return transport.closed

    assert _run(lambda: _Failing(error), script) is False


def test_a_bug_while_decoding_is_a_500_not_a_dropped_connection(runtime, digits, monkeypatch):
    from lenet_deploy.serve import infer

    def broken(body, header_length=None):
        raise KeyError("oops")

    monkeypatch.setattr(infer, "decode_request", broken)
    request = _request(*encode_body(digits.x_test[:1], binary=True))

    async def script(protocol, transport, state, app):
        protocol.data_received(request)
        await _until(lambda: _complete(transport.sent, 1))
        return _responses(transport.sent), transport.closed

    [(status, _, payload)], closed = _run(runtime, script)
    assert status == 500 and json.loads(payload)["error"] == "internal error: KeyError"
    assert not closed
