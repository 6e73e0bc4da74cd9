"""lenet-deploy package from the command line."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, run_cli


@pytest.mark.slow
def test_package_writes_a_triton_repository(exported_dir, tmp_path):
    out = tmp_path / "model_repository"
    proc = run_cli(
        "package",
        "--model",
        str(exported_dir),
        "--out",
        str(out),
        "--max-batch",
        "64",
        "--preferred-batch",
        "8,32",
        "--max-queue-delay-us",
        "250",
        "--instances",
        "2",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    settings = result["settings"]["triton"]
    assert settings["max_batch"] == 64 and settings["preferred_batch"] == [8, 32]
    assert settings["max_queue_delay_us"] == 250 and settings["instances"] == 2
    config = (out / "lenet/config.pbtxt").read_text()
    assert "max_batch_size: 64" in config and "max_queue_delay_microseconds: 250" in config


@pytest.mark.slow
def test_package_kserve_and_gpu_tensorrt(exported_dir, tmp_path):
    out = tmp_path / "deploy"
    proc = run_cli(
        "package",
        "--format",
        "kserve",
        "--model",
        str(exported_dir),
        "--out",
        str(out),
        "--storage-uri",
        "pvc://models/lenet",
        "--image",
        "registry.example.com/team/lenet-deploy-serve:0.1.0-gpu",
        "--triton-version",
        "24.05",
        "--device",
        "gpu",
        "--tensorrt",
        "--fp16",
    )
    assert proc.returncode == 0, proc.stderr
    assert "inferenceservice-serve.yaml" in proc.stdout
    assert 'value: "FP16"' in (out / "model_repository/lenet/config.pbtxt").read_text()
    assert "for Triton 24.05 (onnxruntime 1.18.0)" in proc.stdout
    assert '"runtimeVersion": "24.05-py3"' in (out / "inferenceservice-triton.yaml").read_text()


@pytest.mark.slow
def test_package_errors_are_one_line(exported_dir, tmp_path):
    out = str(tmp_path / "r")
    args = ("package", "--model", str(exported_dir), "--out", out)
    assert_one_line_error(run_cli(*args, "--tensorrt"), "needs --device gpu")
    assert_one_line_error(run_cli(*args, "--format", "kserve"), "--storage-uri")
    kserve = (*args, "--format", "kserve", "--storage-uri", "s3://b/l")
    assert_one_line_error(run_cli(*kserve), "needs --image", "registry.example.com/")
    assert_one_line_error(run_cli(*kserve, "--image", "lenet:1"), "names no registry")
    assert_one_line_error(run_cli(*args, "--triton-version", "21.01"), "known: 23.05..")
    assert_one_line_error(run_cli(*args, "--check", str(tmp_path / "nope")), "--check")
    assert_one_line_error(run_cli(*args, "--max-batch", "4"), "within 1..4")
    assert_one_line_error(
        run_cli("package", "--model", str(exported_dir), "--out", str(exported_dir)),
        "contains the input model",
    )
    proc = run_cli(*args, "--preferred-batch", "8,x")
    assert proc.returncode == 2 and "positive integer" in proc.stderr
