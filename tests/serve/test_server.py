"""The real server in a subprocess, spoken to with tritonclient.http and raw HTTP."""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import numpy as np
import pytest
from conftest import start_server, stop_server

tritonclient_http = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

from lenet_deploy.bench.loadtest import encode_body  # noqa: E402
from lenet_deploy.runtimes import load_runtime  # noqa: E402


def _client(url: str):
    return tritonclient_http.InferenceServerClient(urlsplit(url).netloc, concurrency=1)


def _post(url: str, path: str, body: bytes, headers: dict | None = None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("POST", path, body, headers or {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, payload


def _get(url: str, path: str):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, payload


@pytest.fixture(scope="module")
def local(exported_dir):
    with load_runtime("ort-cpu", exported_dir) as rt:
        yield rt


def test_health_and_metadata(served_url):
    client = _client(served_url)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("lenet") and client.is_model_ready("lenet", "1")
    meta = client.get_model_metadata("lenet")
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 32, 32]}]
    assert meta["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]
    assert meta["platform"] == "lenet-deploy/ort-cpu"
    server = client.get_server_metadata()
    assert {"binary_tensor_data", "classification"} <= set(server["extensions"])
    client.close()


def _triton_infer(url: str, x: np.ndarray, binary_in: bool, wanted, **options):
    client = _client(url)
    tensor = tritonclient_http.InferInput("image", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary_in)
    try:
        return client.infer("lenet", [tensor], outputs=[wanted], **options)
    finally:
        client.close()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_equals_local_ort(served_url, local, digits, binary):
    x = digits.x_test[:5]
    wanted = tritonclient_http.InferRequestedOutput("logits", binary_data=binary)
    result = _triton_infer(served_url, x, binary, wanted, request_id="req-7")
    assert result.get_response()["id"] == "req-7"
    got = result.as_numpy("logits")
    assert got.dtype == np.float32 and got.shape == (5, 10)
    np.testing.assert_allclose(got, local.predict(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_classification_extension(served_url, local, digits, binary):
    x = digits.x_test[:3]
    wanted = tritonclient_http.InferRequestedOutput("logits", binary_data=binary, class_count=3)
    got = _triton_infer(served_url, x, True, wanted).as_numpy("logits")
    assert got.shape == (3, 3)
    logits = local.predict(x)
    for row, entries in enumerate(got):
        entries = [e.decode() if isinstance(e, bytes) else e for e in entries]
        indices = [int(e.split(":")[1]) for e in entries]
        assert indices == list(np.argsort(-logits[row], kind="stable")[:3])
        assert [e.split(":")[2] for e in entries] == [str(i) for i in indices]
        assert float(entries[0].split(":")[0]) == pytest.approx(logits[row].max(), abs=1e-5)


@pytest.mark.slow
def test_64_concurrent_clients_get_their_own_answers(served_url, local, digits):
    images = digits.x_test[:64]
    want = local.predict(images)

    def one(i: int) -> np.ndarray:
        body, length = encode_body(images[i : i + 1], binary=i % 2 == 0)
        headers = {"Content-Type": "application/octet-stream"}
        if length is not None:
            headers["Inference-Header-Content-Length"] = str(length)
        status, payload = _post(served_url, "/v2/models/lenet/infer", body, headers)
        assert status == 200, payload
        from lenet_deploy.bench.loadtest import decode_logits

        header = None if length is None else len(payload) - 40
        return decode_logits(payload, header)

    with ThreadPoolExecutor(64) as pool:
        got = list(pool.map(one, range(64)))
    for i in range(64):
        np.testing.assert_allclose(got[i][0], want[i], atol=1e-6, rtol=0)


def test_errors_have_protocol_statuses(served_url):
    good = json.loads(encode_body(np.zeros((1, 1, 32, 32), np.float32), binary=False)[0])
    cases = [
        ("/v2/models/lenet/infer", b"{oops", 400, "malformed JSON"),
        (
            "/v2/models/lenet/infer",
            json.dumps({**good, "inputs": [{**good["inputs"][0], "data": [3.0] * 1024}]}).encode(),
            400,
            "[0, 1]",
        ),  # fmt: skip
        ("/v2/models/mnist/infer", json.dumps(good).encode(), 404, "unknown model"),
        ("/v2/models/lenet/versions/2/infer", json.dumps(good).encode(), 404, "version 2"),
    ]
    for path, body, status, fragment in cases:
        got_status, payload = _post(served_url, path, body)
        assert got_status == status, (path, payload)
        assert fragment in json.loads(payload)["error"]
    assert _get(served_url, "/v2/models/mnist")[0] == 404
    assert _get(served_url, "/v2/models/lenet/versions/9/ready")[0] == 404
    client = _client(served_url)
    with pytest.raises(InferenceServerException, match="unknown input"):
        bad = tritonclient_http.InferInput("pixels", [1, 1, 32, 32], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 1, 32, 32), np.float32))
        client.infer("lenet", [bad])
    client.close()


def test_infer_paths_route_like_the_protocol(served_url):
    """The infer fast path in front of the router: both paths, and what it must not take."""
    body, headers = encode_body_headers()
    for path, status in [
        ("/v2/models/lenet/infer", 200),
        ("/v2/models/lenet/versions/1/infer", 200),
        ("/v2/models/lenet/versions/7/infer", 404),
        ("/v2/models/mnist/versions/1/infer", 404),
        ("/v2/models//infer", 404),
        ("/v2/models/lenet/versions//infer", 404),
        ("/v2/models/lenet/extra/1/infer", 404),
    ]:
        got, payload = _post(served_url, path, body, headers)
        assert got == status, (path, payload)
        if status == 200:
            assert json.loads(payload[: int(len(payload) - 40)])["model_name"] == "lenet"
    assert _get(served_url, "/v2/models/lenet/infer")[0] == 405  # GET: the router answers


def test_binary_length_mismatch_is_400(served_url):
    body, length = encode_body(np.zeros((1, 1, 32, 32), np.float32), binary=True)
    headers = {"Inference-Header-Content-Length": str(length)}
    status, payload = _post(served_url, "/v2/models/lenet/infer", body[:-8], headers)
    assert status == 400 and "binary_data_size" in json.loads(payload)["error"]


def test_oversized_body_is_413_before_it_is_sent(served_url):
    parts = urlsplit(served_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v2/models/lenet/infer HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
        )  # headers only: the answer must come without the gigabyte
        reply = b""
        while b"too large" not in reply:  # headers and body may come in separate segments
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert b"too large" in reply and b"limit 8388608 bytes" in reply


def test_stats_and_metrics_count_requests(served_url):
    status, payload = _get(served_url, "/v2/models/lenet/stats")
    stats = json.loads(payload)["model_stats"][0]
    assert status == 200 and stats["name"] == "lenet"
    assert stats["inference_count"] >= stats["execution_count"] > 0
    text = _get(served_url, "/metrics")[1].decode()
    assert 'lenet_deploy_requests_total{model="lenet",version="1",status="200"}' in text
    assert 'status="400"' in text and "lenet_deploy_batch_size_bucket" in text


def _pending(url: str) -> int:
    text = _get(url, "/metrics")[1].decode()
    line = next(line for line in text.splitlines() if line.startswith("lenet_deploy_pending"))
    return int(line.rsplit(" ", 1)[1])


def _wait_pending(url: str, n: int) -> None:
    deadline = time.monotonic() + 20
    while _pending(url) < n:
        assert time.monotonic() < deadline, "requests never reached the queue"
        time.sleep(0.02)


def _infer_in_thread(url: str, x: np.ndarray, out: list) -> threading.Thread:
    body, length = encode_body(x, binary=True)

    def run():
        out.append(_post(url, "/v2/models/lenet/infer", body,
                         {"Inference-Header-Content-Length": str(length)}))  # fmt: skip

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.slow
def test_full_queue_answers_503_at_once(exported_dir):
    proc, url = start_server(exported_dir, "--max-queue", "2", "--max-delay-ms", "2000")
    try:
        results: list = []
        threads = [_infer_in_thread(url, np.zeros((1, 1, 32, 32), np.float32), results)
                   for _ in range(2)]  # fmt: skip
        _wait_pending(url, 2)
        t0 = time.monotonic()
        status, payload = _post(url, "/v2/models/lenet/infer", *encode_body_headers())
        assert status == 503 and "overloaded" in json.loads(payload)["error"]
        assert time.monotonic() - t0 < 1.5  # at once, not after the 2 s batching delay
        for thread in threads:
            thread.join(30)
        assert [r[0] for r in results] == [200, 200]
    finally:
        stop_server(proc)


def encode_body_headers():
    body, length = encode_body(np.zeros((1, 1, 32, 32), np.float32), binary=True)
    return body, {"Inference-Header-Content-Length": str(length)}


@pytest.mark.slow
def test_sigterm_drains_in_flight_requests_then_exits_0(exported_dir, digits):
    proc, url = start_server(exported_dir, "--max-delay-ms", "1500")
    results: list = []
    threads = [_infer_in_thread(url, digits.x_test[i : i + 1], results) for i in range(4)]
    _wait_pending(url, 4)
    code = stop_server(proc)  # SIGTERM while all four wait for their batch
    for thread in threads:
        thread.join(30)
    assert code == 0, proc.stderr.read()
    assert sorted(r[0] for r in results) == [200] * 4
    assert "Traceback" not in proc.stderr.read()


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux only")
def test_cpus_pins_the_whole_server_and_says_so(exported_dir):
    first = min(os.sched_getaffinity(0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lenet_deploy", "serve", "--model", str(exported_dir), "--port",
         "0", "--cpus", str(first)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert f"; on CPU {first}" in line, line
        url = line.split(" at ", 1)[1].split()[0]
        status, _ = _post(url, "/v2/models/lenet/infer", *encode_body_headers())
        assert status == 200
        for task in os.listdir(f"/proc/{proc.pid}/task"):  # every thread, the runtime's too
            with open(f"/proc/{proc.pid}/task/{task}/status") as f:
                assert f"Cpus_allowed_list:\t{first}\n" in f.read()
    finally:
        assert stop_server(proc) == 0


@pytest.mark.slow
def test_missing_model_is_a_one_line_error_before_binding(tmp_path):
    from conftest import assert_one_line_error, run_cli

    proc = run_cli("serve", "--model", str(tmp_path / "nope"), "--port", "0")
    assert_one_line_error(proc, "not found", "lenet-deploy export")
    assert proc.returncode == 2 and "serving" not in proc.stdout
