"""`runtimes --json` and a refused ort-cuda keep stdout clean: onnxruntime's own banners and logs
never reach it, and the reason is one line."""

import json

import numpy as np
import onnxruntime
import pytest
from conftest import assert_one_line_error, run_cli

from lenet_deploy.runtimes import ort_loader


@pytest.fixture(scope="module")
def cuda_reason():
    reason = ort_loader.cuda_probe()
    if reason is None:
        pytest.skip("ort-cuda works on this machine")
    return reason


def onnxruntime_logged(text: str) -> bool:
    return any(mark in text for mark in ("\x1b[", "[E:onnxruntime", "EP Error", "Falling back"))


@pytest.mark.slow
def test_runtimes_json_is_only_json(cuda_reason):
    proc = run_cli("runtimes", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["ort-cuda"]["available"] is False and rows["ort-cpu"]["available"] is True
    reason = rows["ort-cuda"]["reason"]
    assert "\n" not in reason and reason.endswith("or use ort-cpu")
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        # onnxruntime-gpu without its CUDA libraries: the missing one is named
        assert "libcublasLt.so" in reason and "requires cuDNN" in reason
    assert not onnxruntime_logged(proc.stdout + proc.stderr), proc.stderr


@pytest.mark.slow
def test_refused_ort_cuda_prints_nothing_to_stdout(cuda_reason, exported_dir, tmp_path):
    image = tmp_path / "zeros.npy"
    np.save(image, np.zeros((1, 1, 32, 32), np.float32))
    proc = run_cli(
        "predict", "--runtime", "ort-cuda", "--model", str(exported_dir), "--json", str(image)
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert_one_line_error(proc, "ort-cuda: CUDAExecutionProvider is not active", "or use ort-cpu")
    assert not onnxruntime_logged(proc.stderr), proc.stderr
