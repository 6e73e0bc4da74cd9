"""Ray Serve for real: a local Ray on 127.0.0.1, tritonclient requests, answers bit for bit
equal to in-process ort-cpu. One Ray instance for the module (it takes seconds to start)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="needs the ray extra: pip install 'lenet-deploy[ray]'")
tritonclient_http = pytest.importorskip("tritonclient.http")

pytestmark = pytest.mark.slow
START_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# On a loaded 2-core machine Ray's proxy can miss the 5 s ready check and be killed; these
# only lengthen how long Ray waits for its own processes.
RAY_ENV = {
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
    "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "60",
    "RAY_SERVE_PROXY_HEALTH_CHECK_PERIOD_S": "30",
}


@pytest.fixture(scope="module")
def ray_url(exported_dir):
    import os

    import ray
    from ray import serve

    from lenet_deploy.integrations.ray import RaySettings, build_app

    saved = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)  # before ray.init: Ray's processes inherit the environment
    port = _free_port()
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 2**20,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        settings = RaySettings(model=str(exported_dir), replicas=1, max_batch_size=16)
        serve.run(build_app(settings), name="lenet", route_prefix="/", blocking=False)
        _wait_ready(f"http://127.0.0.1:{port}/v2/health/ready")
        yield f"127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _wait_ready(url: str) -> None:
    import time

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Ray Serve not ready at {url} within {START_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def local(exported_dir):
    from lenet_deploy.runtimes import load_runtime

    with load_runtime("ort-cpu", exported_dir, threads=1) as runtime:
        yield runtime


def _infer(client, x, binary=True, classification=0):
    inp = tritonclient_http.InferInput("image", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = tritonclient_http.InferRequestedOutput(
        "logits", binary_data=binary, class_count=classification
    )
    return client.infer("lenet", [inp], outputs=[out]).as_numpy("logits")


def test_health_and_metadata_over_oip(ray_url):
    client = tritonclient_http.InferenceServerClient(ray_url)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("lenet") and not client.is_model_ready("other")
    meta = client.get_model_metadata("lenet")
    assert meta["inputs"][0]["shape"] == [-1, 1, 32, 32]
    assert meta["platform"] == "lenet-deploy/ort-cpu"


@pytest.mark.parametrize("binary", [True, False])
def test_answers_equal_in_process_ort_cpu(ray_url, local, digits, binary):
    client = tritonclient_http.InferenceServerClient(ray_url)
    for x in (digits.x_test[:1], digits.x_test[:7], digits.x_test[:64]):
        np.testing.assert_array_equal(_infer(client, x, binary), local.predict(x))


def test_concurrent_requests_batched_by_ray_keep_their_own_answers(ray_url, local, digits):
    batches = [digits.x_test[i : i + 1 + i % 5] for i in range(48)]

    def one(x):
        client = tritonclient_http.InferenceServerClient(ray_url)
        return _infer(client, x)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, batches))
    for x, got in zip(batches, answers, strict=True):
        np.testing.assert_array_equal(got, local.predict(x))


def test_classification_extension(ray_url, local, digits):
    client = tritonclient_http.InferenceServerClient(ray_url)
    x = digits.x_test[:3]
    top = _infer(client, x, classification=2)
    want = np.argsort(-local.predict(x), axis=1, kind="stable")[:, :2]
    got = np.array([[int(s.decode().split(":")[1]) for s in row] for row in top])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "path, body, status, fragment",
    [
        ("/v2/models/other/infer", b"{}", 404, "unknown model other"),
        ("/v2/models/lenet/versions/9/infer", b"{}", 404, "version 9"),
        ("/v2/models/lenet/infer", b"{not json", 400, "malformed JSON"),
        ("/v2/models/lenet/infer", b'{"inputs": []}', 400, "exactly one tensor"),
    ],
)
def test_bad_requests_get_4xx_and_the_server_keeps_serving(
    ray_url, local, digits, path, body, status, fragment
):
    request = urllib.request.Request(f"http://{ray_url}{path}", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == status
    assert fragment in json.loads(info.value.read())["error"]
    client = tritonclient_http.InferenceServerClient(ray_url)
    np.testing.assert_array_equal(
        _infer(client, digits.x_test[:2]), local.predict(digits.x_test[:2])
    )


def test_the_packaged_serve_config_runs_as_an_application(ray_url, exported_dir, local, tmp_path):
    """``package --format ray``'s config, given to app_builder as ``serve run`` does."""
    from ray import serve

    from lenet_deploy.integrations.ray import app_builder
    from lenet_deploy.packaging.package import package
    from lenet_deploy.packaging.ray import SERVE_CONFIG

    out = tmp_path / "ray"
    package(exported_dir, out, format="ray")
    text = (out / SERVE_CONFIG).read_text()
    (app,) = json.loads("\n".join(x for x in text.splitlines() if not x.startswith("#")))[
        "applications"
    ]
    serve.run(app_builder(app["args"]), name="from-config", route_prefix="/cfg")
    x = np.random.default_rng(3).random((2, 1, 32, 32), dtype=np.float32)
    body = {"inputs": [{"name": "image", "datatype": "FP32", "shape": [2, 1, 32, 32],
                        "data": x.ravel().tolist()}]}  # fmt: skip
    request = urllib.request.Request(
        f"http://{ray_url}/cfg/v2/models/lenet/infer", data=json.dumps(body).encode()
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        (out_tensor,) = json.loads(reply.read())["outputs"]
    got = np.asarray(out_tensor["data"], np.float32).reshape(out_tensor["shape"])
    np.testing.assert_array_equal(got, local.predict(x))
    serve.delete("from-config")
