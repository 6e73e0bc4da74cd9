"""Every uvicorn/httptools internal the fast path relies on, checked on the installed versions,
so an upgrade that renames one fails here, in CI, and not in a user's server; and the loud
fallback to uvicorn's own protocol when one is missing."""

import asyncio
import inspect
import json
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

pytest.importorskip("uvicorn")
httptools = pytest.importorskip("httptools")

from uvicorn.config import Config  # noqa: E402
from uvicorn.protocols.http import httptools_impl  # noqa: E402
from uvicorn.server import ServerState  # noqa: E402

from lenet_deploy.serve.fastpath import compat, install  # noqa: E402
from lenet_deploy.serve.fastpath.connections import GuardedProtocol  # noqa: E402
from lenet_deploy.serve.fastpath.protocol import FastInferProtocol  # noqa: E402
from lenet_deploy.serve.fastpath.transport import OneWriteProtocol  # noqa: E402


def test_every_internal_is_there_on_the_installed_versions():
    assert compat.missing_internals() == ""


def test_status_line_is_a_table_of_encoded_status_lines():
    for status in (200, 400, 404, 413, 431, 500, 503):
        assert httptools_impl.STATUS_LINE[status].startswith(b"HTTP/1.1 %d " % status)
        assert httptools_impl.STATUS_LINE[status].endswith(b"\r\n")


@pytest.mark.parametrize("name", sorted(compat.PROTOCOL_METHODS))
def test_protocol_methods_keep_their_signatures(name):
    params = tuple(inspect.signature(getattr(httptools_impl.HttpToolsProtocol, name)).parameters)
    assert params[1:] == compat.PROTOCOL_METHODS[name]


def test_the_methods_the_fast_path_overrides_are_uvicorns():
    """Each override calls super(): the method must exist on uvicorn's class, not only ours."""
    own = {"_fast_cycle", "_respond", "is_idle", "head_done", "check_deadlines", "refuse", "linger"}
    overridden = {
        name
        for cls in (FastInferProtocol, GuardedProtocol, OneWriteProtocol)
        for name, value in vars(cls).items()
        if callable(value) and not name.startswith("__")
    }  # fmt: skip
    assert overridden - own <= set(compat.PROTOCOL_METHODS), overridden - own
    # and our own names are not uvicorn's: an upgrade adding one would be shadowed silently
    assert not own & set(dir(httptools_impl.HttpToolsProtocol))


def _protocol():
    async def make():
        config = Config(app=lambda scope, receive, send: None, lifespan="off")
        config.load()
        state = ServerState()
        protocol = httptools_impl.HttpToolsProtocol(
            config=config, server_state=state, app_state={}, _loop=asyncio.get_running_loop()
        )
        return protocol, state

    return asyncio.run(make())


def test_protocol_and_server_state_attributes():
    protocol, state = _protocol()
    protocol.on_message_begin()  # sets url and headers, as the parser does for each request
    for name in compat.PROTOCOL_ATTRIBUTES:
        assert hasattr(protocol, name), name
    assert protocol.cycle is None and len(protocol.pipeline) == 0
    assert protocol.expect_100_continue is False
    assert isinstance(protocol.parser, httptools.HttpRequestParser)
    assert isinstance(state.default_headers, list) and state.total_requests == 0
    # the attributes our subclasses add are not uvicorn's own
    ours = {"reading", "since", "last_read", "head_bytes", "tail", "bad_request", "lingering",
            "fast", "registry", "endpoint"}  # fmt: skip
    assert not ours & (set(vars(protocol)) | set(dir(protocol)))


def test_request_cycle_attributes():
    params = inspect.signature(httptools_impl.RequestResponseCycle).parameters
    cycle = httptools_impl.RequestResponseCycle(
        **{name: None for name in params}
        | {"keep_alive": True, "expect_100_continue": False, "message_event": asyncio.Event()}
    )
    for name in compat.CYCLE_ATTRIBUTES:
        assert hasattr(cycle, name), name
    assert cycle.response_complete is False and cycle.disconnected is False


@pytest.mark.parametrize("name", compat.PARSER_METHODS)
def test_parser_methods(name):
    assert callable(getattr(httptools.HttpRequestParser, name))


def test_a_missing_internal_is_named(monkeypatch):
    monkeypatch.setitem(compat.PROTOCOL_METHODS, "on_renamed_callback", ())
    monkeypatch.delattr(httptools_impl, "STATUS_LINE")
    why = compat.missing_internals()
    assert why.startswith("fast path and connection limits off: ")
    assert "HttpToolsProtocol.on_renamed_callback" in why and "STATUS_LINE" in why
    assert install(object(), None, 1) == (None, why)


# A server whose uvicorn "lacks" one internal (a name patched into the list of those checked):
# the start-up line says the fast path is off, and uvicorn's own protocol answers.
_PATCHED_SERVE = (
    "import sys\n"
    "from lenet_deploy.serve.fastpath import compat\n"
    "compat.PROTOCOL_METHODS['on_renamed_callback'] = ()\n"
    "from lenet_deploy.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.mark.slow
def test_without_the_fast_path_the_plain_asgi_path_serves(exported_dir, digits):
    from lenet_deploy.bench.loadtest import decode_logits, encode_body
    from lenet_deploy.runtimes import load_runtime

    proc = subprocess.Popen(
        [sys.executable, "-c", _PATCHED_SERVE, "serve", "--model", str(exported_dir),
         "--port", "0", "--no-ui"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert "fast path and connection limits off: this uvicorn/httptools lacks" in line, line
        assert "HttpToolsProtocol.on_renamed_callback" in line
        url = line.split(" at ", 1)[1].split()[0]
        x = np.ascontiguousarray(digits.x_test[:3])
        body, _ = encode_body(x, binary=False)
        request = urllib.request.Request(url + "/infer", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            got = decode_logits(response.read(), None)
        with load_runtime("ort-cpu", exported_dir, threads=1) as rt:
            np.testing.assert_array_equal(got, rt.predict(x))
        with urllib.request.urlopen(url.split("/v2/")[0] + "/v2/health/ready", timeout=30) as r:
            assert json.loads(r.read()) == {"ready": True}
    finally:
        proc.terminate()
        proc.wait(30)
