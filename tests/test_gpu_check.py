"""scripts/gpu_check.sh and its helper, as far as a machine without a GPU can check them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
HELPER = ROOT / "scripts" / "gpu_check.py"


def helper(*args, env=None):
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, str(HELPER), *map(str, args)],
        capture_output=True, text=True, env=environ, timeout=300,
    )  # fmt: skip


def gpu_here() -> bool:
    return helper("gpu-present").returncode == 0


def test_script_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_dry_run_prints_the_plan_with_python3_by_default():
    environ = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True, env=environ, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    steps = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert list(steps)[:2] == ["env", "gpu"]
    assert "python3 -m pytest" in steps["gpu-tests"] and "-m gpu" in steps["gpu-tests"]
    assert "--runtimes torch-cuda,ort-cuda" in steps["parity"]
    for runtime in ("torch-cuda", "ort-cuda"):  # each CUDA runtime in its own bench call
        line = steps[f"bench-{runtime}"]
        assert f"--runtime {runtime} " in line and "1,64,1024,4096" in line
        assert line.count("--runtime ") == 1
    assert "refuse" in steps and "gpu-no-skip" in steps


@pytest.mark.slow
def test_without_a_gpu_it_fails_fast_with_a_summary(tmp_path):
    if gpu_here():
        pytest.skip("this machine has a GPU")
    environ = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, env=environ, timeout=120
    )
    assert proc.returncode != 0
    summary = (tmp_path / "summary.txt").read_text().splitlines()
    assert summary[-1] == "FAIL" and proc.stdout.rstrip().endswith("FAIL")
    assert any(line.startswith("gpu ") and "FAIL" in line for line in summary)
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["onnxruntime"] and "ort_providers" in env
    assert {r["name"] for r in env["runtimes"]} >= {"ort-cuda", "torch-cuda"}


def junit_file(tmp_path, cases):
    body = "".join(f'<testcase name="{name}">{extra}</testcase>' for name, extra in cases)
    skipped = sum("<skipped" in extra for _, extra in cases)
    failures = sum("<failure" in extra for _, extra in cases)
    path = tmp_path / "junit.xml"
    path.write_text(
        f'<testsuites><testsuite tests="{len(cases)}" skipped="{skipped}" '
        f'failures="{failures}" errors="0">{body}</testsuite></testsuites>'
    )
    return path


@pytest.mark.slow
def test_a_skipped_gpu_test_fails_the_check(tmp_path):
    assert helper("junit", junit_file(tmp_path, [("a", ""), ("b", "")])).returncode == 0
    proc = helper("junit", junit_file(tmp_path, [("a", ""), ("b", '<skipped message="no GPU"/>')]))
    assert proc.returncode == 1 and "skipped: b: no GPU" in proc.stdout
    assert helper("junit", junit_file(tmp_path, [("a", '<failure message="x"/>')])).returncode == 1
    assert helper("junit", junit_file(tmp_path, [])).returncode == 1  # no test ran


@pytest.mark.slow
def test_parity_needs_both_cuda_runtimes_compared(tmp_path):
    path = tmp_path / "parity.json"
    record = {"runtime": "torch-cuda", "status": "passed", "max_abs_diff": 1.9e-6, "reason": ""}
    skipped = {"runtime": "ort-cuda", "status": "skipped", "max_abs_diff": None, "reason": "no"}
    path.write_text(json.dumps({"records": [record, skipped]}))
    proc = helper("parity", path, "torch-cuda", "ort-cuda")
    assert proc.returncode == 1 and "ort-cuda: FAILED (no)" in proc.stdout
    assert helper("parity", path, "torch-cuda").returncode == 0


@pytest.mark.slow
def test_summary_is_pass_only_when_every_step_passed(tmp_path):
    (tmp_path / "steps.tsv").write_text("env\tPASS\texit 0\nbench-ort-cuda\tPASS\texit 0\n")
    measurement = {
        "batch_size": 4096, "p50_ms": 0.9, "throughput_ips": 4.5e6, "compute_ips": 5.1e6,
        "first_inference_ms": 12.0,
    }  # fmt: skip
    (tmp_path / "bench-ort-cuda.json").write_text(json.dumps({"measurements": [measurement]}))
    proc = helper("summary", tmp_path)
    lines = (tmp_path / "summary.txt").read_text().splitlines()
    assert proc.returncode == 0 and lines[-1] == "PASS"
    assert lines[3] == (
        "ort-cuda: b=4096 p50 0.900 ms, 4,500,000 img/s, compute 5,100,000 img/s, first 12.0 ms"
    )
    assert "torch-cuda: no bench numbers" in lines  # its bench failed: the other's numbers stay
    with open(tmp_path / "steps.tsv", "a") as steps:
        steps.write("refuse\tFAIL\texit 1\n")
    assert helper("summary", tmp_path).returncode == 1
    assert (tmp_path / "summary.txt").read_text().splitlines()[-1] == "FAIL"


@pytest.mark.slow
def test_negative_control_and_placement_here(exported_dir, tmp_path):
    if gpu_here():
        pytest.skip("this machine has a GPU")
    proc = helper(
        "refuse", exported_dir, "torch-cuda", "ort-cuda", env={"CUDA_VISIBLE_DEVICES": ""}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "torch-cuda: refused: " in proc.stdout and "ort-cuda: refused: " in proc.stdout
    assert helper("refuse", exported_dir, "ort-cpu").returncode == 1  # a runtime that loads
    proc = helper("placement", exported_dir, tmp_path / "placement.json")
    found = json.loads((tmp_path / "placement.json").read_text())
    assert proc.returncode == 1 and "error" in found["ort-cuda"]  # no GPU: ort-cuda refuses
    assert {n["provider"] for n in found["ort-cpu"]["placement"]} == {"CPUExecutionProvider"}
