"""Shared fixtures: one small trained checkpoint per test session (a few seconds on 2 cores)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The tests run from a checkout: ort-web uses its `npm ci --prefix web` copy of onnxruntime-web
# even when the package is installed from it (not editable), and so do the CLI and docs blocks
# the tests start.
_ORT_WEB = REPO / "web" / "node_modules" / "onnxruntime-web" / "dist"
if _ORT_WEB.is_dir():  # else the runtime and the page say it is missing, with the fix
    os.environ.setdefault("LENET_DEPLOY_ORT_WEB", str(_ORT_WEB))
QUICK_EPOCHS = 4


@pytest.fixture(scope="session")
def digits():
    from lenet_deploy.data.datasets import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory, digits) -> Path:
    """An artifacts directory with lenet.pt and metrics.json from a short training run."""
    from lenet_deploy.model.train import TrainConfig, train

    out = tmp_path_factory.mktemp("artifacts")
    # The small digits set keeps the suite fast; the default (mnist5k) is tested on a subset.
    train(TrainConfig(data="digits", epochs=QUICK_EPOCHS, seed=0), out)
    return out


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``lenet-deploy`` in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "lenet_deploy", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]


@pytest.fixture(scope="session")
def exported_dir(trained_dir, digits) -> Path:
    """``trained_dir`` plus lenet.onnx from the default (dynamo) exporter."""
    from lenet_deploy.exporters.onnx import export_onnx

    export_onnx(trained_dir / "lenet.pt", trained_dir / "lenet.onnx", parity_images=digits.x_test)
    return trained_dir


@pytest.fixture()
def artifacts(exported_dir, tmp_path) -> Path:
    """A private copy of ``exported_dir`` (lenet.pt, lenet.onnx, metrics.json) that a test may
    add variants or a tuning result to."""
    import shutil

    out = tmp_path / "artifacts"
    out.mkdir()
    for name in ("lenet.pt", "lenet.onnx", "metrics.json"):
        shutil.copy(exported_dir / name, out / name)
    return out


# A plug-in runtime registered the way an app would: it must pass the same contract tests and
# show up in `lenet-deploy runtimes`.
PLUGIN_NAME = "test-ort-unoptimised"


def _plugin_factory(artifact="artifacts", **options):
    from lenet_deploy.runtimes import get_entry

    return get_entry("ort-cpu").create(
        artifact, {"graph_optimization": "disable", "threads": 1, **options}
    )


def _register_plugin():
    from lenet_deploy.runtimes import register_runtime, runtime_names

    if PLUGIN_NAME not in runtime_names():
        register_runtime(
            PLUGIN_NAME,
            _plugin_factory,
            description="test plug-in: onnxruntime without graph optimisation",
        )


_register_plugin()


# --------------------------------------------------------------------------- serving
SERVE_START_TIMEOUT_S = 60


def start_server(model, *options: str) -> tuple[subprocess.Popen, str]:
    """``lenet-deploy serve`` on a free loopback port; returns the process and the model URL."""
    import select

    proc = subprocess.Popen(
        [sys.executable, "-m", "lenet_deploy", "serve", "--model", str(model), "--port", "0",
         *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    ready, _, _ = select.select([proc.stdout], [], [], SERVE_START_TIMEOUT_S)
    line = proc.stdout.readline() if ready else ""
    if " at http://127.0.0.1:" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r} {proc.stderr.read()[-2000:]}")
    return proc, line.split(" at ", 1)[1].split()[0]


def stop_server(proc: subprocess.Popen) -> int:
    proc.terminate()
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)


@pytest.fixture(scope="session")
def served_url(exported_dir):
    """The exported model served with default settings for the whole session."""
    proc, url = start_server(exported_dir)
    yield url
    stop_server(proc)
