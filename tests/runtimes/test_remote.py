"""oip-http: a served model used as a runtime, and its refusals."""

import json
import socket

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

pytest.importorskip("tritonclient.http")

from lenet_deploy.errors import ArtifactError, RuntimeUnavailableError  # noqa: E402
from lenet_deploy.runtimes import available_runtimes, load_runtime  # noqa: E402


def test_predicts_what_local_ort_does(served_url, exported_dir, digits):
    with load_runtime("ort-cpu", exported_dir) as local:
        want = local.predict(digits.x_test[:50])
    with load_runtime("oip-http", served_url, max_request_batch=16) as remote:
        assert remote.device.startswith("http://127.0.0.1:")
        before = _requests_served(remote)
        got = remote.predict(digits.x_test[:50])  # four requests of at most 16 images
        assert _requests_served(remote) - before == 4
        assert remote.info()["url"] == served_url
    assert got.dtype == np.float32 and got.shape == (50, 10)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def _requests_served(remote) -> int:
    stats = remote._client.get_inference_statistics(remote.model)["model_stats"][0]
    return int(stats["inference_stats"]["success"]["count"])


def test_versioned_url(served_url, digits):
    with load_runtime("oip-http", served_url + "/versions/1") as remote:
        assert remote.predict(digits.x_test[:2]).shape == (2, 10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refusals_name_the_problem(served_url):
    with pytest.raises(RuntimeUnavailableError, match="server URL like http://"):
        load_runtime("oip-http", "artifacts")
    url = f"http://127.0.0.1:{_free_port()}/v2/models/lenet"
    with pytest.raises(RuntimeUnavailableError, match="unreachable.*lenet-deploy serve"):
        load_runtime("oip-http", url, timeout_s=5)
    with pytest.raises(ArtifactError, match="no such model"):
        load_runtime("oip-http", served_url.replace("/lenet", "/mnist"))
    with pytest.raises(ArtifactError, match="no such model"):
        load_runtime("oip-http", served_url + "/versions/3")


def test_listed_as_available():
    row = next(a for a in available_runtimes() if a.name == "oip-http")
    assert row.available, row.reason


@pytest.mark.slow
def test_verify_and_bench_against_the_server(served_url, exported_dir, tmp_path):
    proc = run_cli("verify", "--runtimes", "oip-http", "--model", served_url,
                   "--reference-model", str(exported_dir), "--quiet",
                   "--json", str(tmp_path / "v.json"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads((tmp_path / "v.json").read_text())["records"][0]
    assert record["runtime"] == "oip-http" and record["passed"]
    assert record["max_abs_diff"] <= 1e-5

    proc = run_cli("bench", "--runtime", "oip-http", "--model", served_url,
                   "--batch-sizes", "1,8", "--iterations", "5", "--warmup", "1",
                   "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "oip-http" in proc.stdout

    proc = run_cli("bench", "--concurrency", "1,4", "--runtime", "oip-http", "--model",
                   served_url, "--duration", "0.3", "--max-requests", "200",
                   "--json", str(tmp_path / "load.json"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "load.json").read_text())["results"]
    assert [r["concurrency"] for r in results] == [1, 4]
    for r in results:
        assert 0 < r["requests"] <= 200 and r["errors"] == 0
        assert r["server"]["avg_batch"] >= 1


@pytest.mark.slow
def test_load_test_needs_a_server_url(exported_dir):
    proc = run_cli("bench", "--concurrency", "8", "--model", str(exported_dir))
    assert_one_line_error(proc, "load-tests a server", "--model HOST:PORT")
