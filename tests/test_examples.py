"""examples/client.py against `lenet-deploy serve` on a free loopback port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from conftest import REPO

STARTUP_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(exported_dir):
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lenet_deploy",
            "serve",
            "--runtime",
            "ort-cpu",
            "--model",
            str(exported_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"lenet-deploy serve exited with {proc.returncode}: {proc.stdout.read()}"
                )
            try:
                url = f"http://127.0.0.1:{port}/v2/health/ready"
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"lenet-deploy serve not ready within {STARTUP_TIMEOUT_S} s")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_client_talks_to_lenet_deploy_serve(server, exported_dir, digits, tmp_path):
    from lenet_deploy.images.recipe import load_images
    from lenet_deploy.runtimes import load_runtime

    images = digits.x_test[:5]
    np.save(tmp_path / "digits.npy", images)
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples/client.py"),
            "--url",
            server,
            "--top-k",
            "3",
            "--json",
            str(tmp_path / "digits.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["health"] == {"live": True, "ready": True, "model_ready": True}
    meta = result["metadata"]
    assert meta["name"] == "lenet"
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        ("image", "FP32", [-1, 1, 32, 32])
    ]
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["outputs"]] == [
        ("logits", "FP32", [-1, 10])
    ]
    with load_runtime("ort-cpu", exported_dir) as runtime:
        want = runtime.predict(load_images(tmp_path / "digits.npy").pixels)  # the client's recipe
    np.testing.assert_allclose(np.array(result["logits"]), want, rtol=1e-4, atol=1e-5)
    assert result["classification_agrees"]
    for row, logits in zip(result["classes"], want, strict=True):
        assert [c["index"] for c in row] == list(np.argsort(-logits)[:3])
        assert row[0]["label"] == str(int(np.argmax(logits)))


@pytest.mark.slow
def test_client_reports_an_unreachable_server_in_one_line(tmp_path):
    x = np.zeros((1, 1, 32, 32), np.float32)
    x[0, 0, 4:28, 14:18] = 1.0  # a stroke: a digit the client sends, so it meets the network
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples/client.py"),
            "--url",
            f"127.0.0.1:{_free_port()}",
            str(tmp_path / "x.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
