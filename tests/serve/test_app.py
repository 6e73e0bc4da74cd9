"""create_app in process: readiness while the runtime loads, extra routes, app.state."""

import http.client
import json
import threading
import time

import numpy as np
import pytest

uvicorn = pytest.importorskip("uvicorn")
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from lenet_deploy.bench.loadtest import encode_body  # noqa: E402
from lenet_deploy.runtimes import load_runtime  # noqa: E402
from lenet_deploy.serve.app import ServeSettings, create_app  # noqa: E402

from .harness import running_app  # noqa: E402


def _request(port: int, method: str, path: str, body: bytes | None = None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body, headers or {})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, payload


def _png(image) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


async def _echo_state(request):
    state = request.app.state
    return JSONResponse(
        {"runtime": state.runtime.name if state.runtime else None,
         "input": state.metadata["inputs"][0]["name"], "ready": state.ready}
    )  # fmt: skip


@pytest.mark.slow
def test_not_ready_until_the_runtime_has_loaded(exported_dir):
    release = threading.Event()

    def slow_loader():
        release.wait(30)
        return load_runtime("ort-cpu", exported_dir, threads=1)

    app = create_app(slow_loader, ServeSettings(), extra_routes=[Route("/v1/state", _echo_state)])
    with running_app(app, lifespan="on") as url:
        port = int(url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 20
        body, length = encode_body(np.zeros((1, 1, 32, 32), np.float32), binary=True)
        headers = {"Inference-Header-Content-Length": str(length)}
        assert _request(port, "GET", "/v2/health/live")[0] == 200
        assert _request(port, "GET", "/v2/health/ready")[0] == 503
        assert _request(port, "GET", "/v2/models/lenet/ready")[0] == 503
        status, payload = _request(port, "POST", "/v2/models/lenet/infer", body, headers)
        assert status == 503 and "not ready" in json.loads(payload)["error"]
        assert json.loads(_request(port, "GET", "/v1/state")[1])["ready"] is False
        # The page's image endpoint shares the readiness (it goes through the same batcher).
        one = np.zeros((28, 28), np.uint8)
        one[4:24, 12:16] = 255  # a digit: a picture without one would not reach the model
        png = _png(one)
        status, payload = _request(port, "POST", "/v1/predict", png)
        assert status == 503 and "not ready" in json.loads(payload)["error"]
        assert json.loads(_request(port, "GET", "/v1/info")[1])["runtime"] is None

        release.set()
        while _request(port, "GET", "/v2/health/ready")[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        status, payload = _request(port, "POST", "/v2/models/lenet/infer", body, headers)
        assert status == 200
        assert json.loads(_request(port, "GET", "/v1/state")[1]) == {
            "runtime": "ort-cpu", "input": "image", "ready": True,
        }  # fmt: skip
        assert _request(port, "POST", "/v1/predict", png)[0] == 200
        stats = json.loads(_request(port, "GET", "/v2/models/stats")[1])["model_stats"][0]
        assert stats["inference_count"] == 2
    assert app.state.runtime._closed  # the app loaded it, so the app closed it
