"""``ort-web``: onnxruntime-web in a real headless Chromium (the contract cases are in
test_contract.py). One wasm runtime serves this module; the WebGPU cases start their own.

Needs Debian's ``chromium``, the ``[web]`` extra and ``npm ci --prefix web`` (``.ci/run`` does
all three). Outside CI the browser tests skip with the reason when one is missing; in CI
(``CI`` set) that is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import onnxruntime
import pytest
from conftest import run_cli

from lenet_deploy.errors import OptionsError, RuntimeUnavailableError
from lenet_deploy.runtimes import get_entry, load_runtime, ort_web, ort_web_files
from lenet_deploy.runtimes.ort_web import OrtWebOptions, probe
from lenet_deploy.verify.compare import compare

NATIVE_WEBGPU = [
    "--option",
    "ort-web:backend=webgpu",
    "--option",
    "ort-web:build=ort.webgpu.min.js",
]


def _require_ort_web():
    reason = probe()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def web(exported_dir):
    _require_ort_web()
    with load_runtime("ort-web", exported_dir, threads=2) as rt:
        yield rt


# ------------------------------------------------------------------ what is missing, and the fix
def test_missing_chromium_names_the_fix():
    reason = probe(OrtWebOptions(chromium="no-such-chromium"))
    assert reason.startswith("ort-web: Chromium not found") and "apt-get install chromium" in reason


def test_missing_onnxruntime_web_names_npm_ci(tmp_path, monkeypatch):
    monkeypatch.setattr(ort_web, "missing_reason", lambda *_: None)  # as if [web] were installed
    monkeypatch.setattr(ort_web_files, "REPO_DIST", tmp_path / "no-checkout")
    monkeypatch.chdir(tmp_path)  # nor a checkout in the current folder
    monkeypatch.delenv(ort_web.DIST_ENV, raising=False)
    options = {"chromium": sys.executable}  # any executable: the probe only looks it up
    with pytest.raises(RuntimeUnavailableError) as refused:
        get_entry("ort-web").create(tmp_path, options)
    message = str(refused.value)
    assert message.startswith("ort-web: onnxruntime-web's ort.wasm.min.js is not in")
    assert "npm ci --prefix web" in message and "dist=PATH" in message
    assert ort_web.DIST_ENV in message
    monkeypatch.setenv(ort_web.DIST_ENV, str(ort_web_files.REPO_DIST.parent / "elsewhere"))
    assert "elsewhere; run 'npm ci" in probe(OrtWebOptions(**options))
    native = OrtWebOptions(
        backend="webgpu", build="ort.webgpu.min.js", dist=str(tmp_path), **options
    )
    assert "ort.webgpu.min.js is not in" in probe(native)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "websockets", None)  # find_spec: as if not installed
    reason = probe()
    assert reason.startswith("ort-web:") and "pip install 'lenet-deploy[web]'" in reason


def test_options_are_checked():
    with pytest.raises(OptionsError, match="backend"):
        get_entry("ort-web").create("artifacts", {"backend": "webgl"})
    with pytest.raises(OptionsError, match="threads must be >= 1"):
        get_entry("ort-web").create("artifacts", {"threads": 0})


# ------------------------------------------------------------------ the browser
@pytest.mark.slow
def test_wasm_matches_python_onnxruntime_on_the_held_out_set(web, exported_dir, digits):
    with load_runtime("ort-cpu", exported_dir) as reference:
        want = reference.predict(digits.x_test)
    got = web.predict(digits.x_test)
    result = compare(got, want, "fp32", labels=digits.y_test)
    assert result, result.failures
    assert result.max_abs_diff <= 1e-5 and result.top1_agreement == 1.0
    assert web.last_page_ms > 0


@pytest.mark.slow
def test_page_is_isolated_and_runs_the_pinned_version_with_its_threads(web):
    info = web.info()
    assert info["engine_version"] == onnxruntime.__version__  # the lockfile's pin
    assert info["cross_origin_isolated"] is True and info["threads"] == 2
    assert info["build"] == "ort.wasm.min.js" and web.device == "browser:wasm"
    assert "HeadlessChrome" in info["browser"]


@pytest.mark.slow
def test_server_sends_the_headers_wasm_needs_and_nothing_else(web):
    origin = web.url
    with urllib.request.urlopen(f"{origin}/ort/ort-wasm-simd-threaded.wasm") as reply:
        assert reply.headers["Content-Type"] == "application/wasm"
        assert reply.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert reply.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    for path in ("/ort/../../package.json", "/etc/passwd", "/ort/"):
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(origin + path)


@pytest.mark.slow
def test_close_stops_chromium_and_removes_its_profile(exported_dir):
    _require_ort_web()
    rt = load_runtime("ort-web", exported_dir)
    browser, profile, url = rt._browser, rt._profile, rt.url
    rt.close()
    assert browser.poll() is not None and not os.path.exists(profile)
    deadline = time.monotonic() + 10  # SIGKILL is sent to the group; each child exits on its own
    while _running(browser.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(browser.pid), "Chromium processes still running after close()"
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)


def _running(group: int) -> list[str]:
    found = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True).stdout
    alive = []
    for pid in found.split():
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:  # exited meanwhile
            continue
        if state != "Z":
            alive.append(pid)
    return alive


@pytest.mark.slow
def test_bench_measures_it_through_the_cli(exported_dir, tmp_path):
    _require_ort_web()
    out = tmp_path / "bench.json"
    proc = run_cli(
        "bench", "--runtime", "ort-web", "--model", str(exported_dir), "--batch-sizes", "1,3",
        "--warmup", "2", "--iterations", "5", "--json", str(out), "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["measurements"]
    assert {(m["runtime"], m["batch_size"]) for m in rows} == {("ort-web", 1), ("ort-web", 3)}


@pytest.mark.slow
def test_native_webgpu_on_swiftshader_fails_verify(exported_dir):
    """The native WebGPU build computes LeNet's conv2 wrongly on Chromium's software adapter:
    loading refuses it and ``verify`` reports the failure with the numbers, whatever tolerances
    it is given. Where this Chromium offers no adapter, the test skips with that reason."""
    _require_ort_web()
    proc = run_cli(
        "verify", "--model", str(exported_dir), "--runtimes", "ort-web", *NATIVE_WEBGPU,
        "--atol", "1", "--rtol", "1",
    )  # fmt: skip
    if proc.returncode == 2 and "adapter" in proc.stderr + proc.stdout:
        pytest.skip(f"this Chromium offers no WebGPU adapter: {proc.stderr.strip()}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failures = [ln for ln in proc.stdout.splitlines() if ln.startswith("✗ ort-web on")]
    assert failures and all("elements outside" in ln and "max |diff|" in ln for ln in failures)
    assert "refused at load" in proc.stderr


@pytest.mark.slow
def test_webgpu_through_the_js_kernels_passes_on_the_same_adapter(exported_dir, digits):
    """The same adapter with ort.min.js (JS WebGPU kernels) is right: the refusal above is the
    native build's, not the check's."""
    _require_ort_web()
    try:
        rt = load_runtime("ort-web", exported_dir, backend="webgpu")
    except RuntimeUnavailableError as exc:
        if "adapter" not in str(exc) and "navigator.gpu" not in str(exc):
            raise
        pytest.skip(f"this Chromium offers no WebGPU adapter: {exc}")
    with rt, load_runtime("ort-cpu", exported_dir) as reference:
        assert rt.info()["adapter"] and rt.device == "browser:webgpu"
        x = digits.x_test[:64]
        assert compare(rt.predict(x), reference.predict(x), "fp32")
