"""browser_model: onnxruntime-web's files and the model, served for the page to run it."""

from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette

from lenet_deploy.errors import LenetDeployError
from lenet_deploy.runtimes import ort_web_files
from lenet_deploy.serve.browser_model import ORT_FILES, ORT_WEB_ENV, browser_routes, find_ort_web
from lenet_deploy.serve.ui import SECURITY_HEADERS

from .harness import running_app
from .test_ui import request


@pytest.fixture
def dist(tmp_path):
    for name in ORT_FILES:
        (tmp_path / name).write_bytes(b"\0asm" if name.endswith(".wasm") else b"// js")
    (tmp_path / "ort.min.js.map").write_text("{}")
    return tmp_path


def test_files_and_model_are_served_with_their_types(dist, exported_dir):
    model = exported_dir / "lenet.onnx"
    app = Starlette(routes=browser_routes(find_ort_web(dist), lambda: model, SECURITY_HEADERS))
    with running_app(app) as url:
        status, headers, body = request(f"{url}/ort/ort-wasm-simd-threaded.wasm")
        assert (status, headers["content-type"], body) == (200, "application/wasm", b"\0asm")
        assert "wasm-unsafe-eval" in headers["content-security-policy"]
        status, headers, _ = request(f"{url}/ort/ort.wasm.min.js")
        assert status == 200 and headers["content-type"].startswith("text/javascript")
        for other in ("ort.min.js.map", "..%2F..%2Fetc%2Fpasswd", "ort.webgpu.min.js"):
            assert request(f"{url}/ort/{other}")[0] == 404, other
        status, _, body = request(f"{url}/v1/model.onnx")
        assert status == 200 and body == model.read_bytes()


def test_missing_files_mean_404_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.delenv(ORT_WEB_ENV, raising=False)
    monkeypatch.setattr(ort_web_files, "REPO_DIST", tmp_path / "absent")
    monkeypatch.chdir(tmp_path)  # nor a checkout in the current folder
    found = find_ort_web(None)
    assert found.folder is None and "npm ci --prefix web" in found.reason
    app = Starlette(routes=browser_routes(found, lambda: None, SECURITY_HEADERS))
    with running_app(app) as url:
        status, _, body = request(f"{url}/ort/ort.wasm.min.js")
        assert status == 404 and "npm ci --prefix web" in json.loads(body)["error"]
        status, _, body = request(f"{url}/v1/model.onnx")
        assert status == 404 and "not an ONNX file" in json.loads(body)["error"]


def test_a_named_folder_must_hold_the_files(tmp_path, dist, monkeypatch):
    with pytest.raises(LenetDeployError, match=r"--ort-web .*ort\.wasm\.min\.js.* not in"):
        find_ort_web(tmp_path / "empty")
    monkeypatch.setenv(ORT_WEB_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(LenetDeployError, match=rf"\${ORT_WEB_ENV}"):
        find_ort_web(None)
    monkeypatch.setenv(ORT_WEB_ENV, str(dist))
    assert find_ort_web(None).folder == dist.resolve()


@pytest.mark.slow
def test_serve_refuses_an_ort_web_folder_without_the_files(tmp_path, exported_dir):
    from conftest import assert_one_line_error, run_cli

    proc = run_cli("serve", "--model", str(exported_dir), "--port", "0", "--ort-web", str(tmp_path))
    assert_one_line_error(proc, "--ort-web", "ort-wasm-simd-threaded.wasm", "npm ci --prefix web")
    assert proc.returncode == 2
