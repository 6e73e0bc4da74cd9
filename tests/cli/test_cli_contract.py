"""Issue 21, items 2 and 3: errors name what the user gave, nothing is announced before the
arguments are checked, and a CPU machine's runs are quiet by default."""

import json

import pytest
from conftest import assert_one_line_error, run_cli

from lenet_deploy.bench.measurement import NOISY_IQR_RATIO, noise_warning, ratio_text
from lenet_deploy.cli.formatting import short_reason, skipped_lines

CUDA_REASON = (
    "ort-cuda: CUDAExecutionProvider failed to load: failed to load libonnxruntime_providers_"
    "cuda.so (libcublasLt.so.13: cannot open shared object file); onnxruntime-gpu 1.31.1 "
    "requires cuDNN 9.* and CUDA 13.*; install the CUDA/cuDNN libraries it needs, or use ort-cpu"
)


def test_errors_name_the_model_the_user_gave(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"")
    proc = run_cli("predict", "--model", "nope", "x.npy", cwd=tmp_path)
    assert_one_line_error(proc, "'nope' not found")
    assert "lenet.onnx" not in proc.stderr


def test_a_directory_is_called_a_directory(tmp_path):
    (tmp_path / "pictures").mkdir()
    proc = run_cli("predict", "pictures", cwd=tmp_path)
    assert_one_line_error(proc, "'pictures' is a directory")


def test_nothing_is_announced_before_the_arguments_are_checked(tmp_path):
    proc = run_cli("train", "--data", "mnist", "--out", str(tmp_path / "a"))
    assert_one_line_error(proc, "unknown dataset 'mnist'", "did you mean 'mnist:DIR'?")
    assert "training" not in proc.stdout + proc.stderr
    proc = run_cli("bench", "--runtime", "ort", "--model", str(tmp_path))
    assert_one_line_error(proc, "did you mean 'ort-cpu'")
    assert proc.stdout == "" and "skipped" not in proc.stderr


def test_unavailable_runtimes_are_one_short_line_each():
    lines = skipped_lines({"ort-cuda": CUDA_REASON})
    assert lines[0] == "skipped ort-cuda: CUDAExecutionProvider failed to load"
    assert len(lines) == 2 and "--verbose" in lines[1]
    assert short_reason("ort-cuda", CUDA_REASON) == "CUDAExecutionProvider failed to load"
    full = skipped_lines({"ort-cuda": CUDA_REASON}, verbose=True)
    assert full == [f"skipped {CUDA_REASON}"]
    assert skipped_lines({"ort-cuda": CUDA_REASON}, quiet=True) == []


def test_runtimes_needing_what_was_not_given_are_not_listed():
    not_given = {
        "oip-http": "oip-http: 'artifacts' is not a URL; this runtime loads a served model",
        "torch-cuda": "torch-cuda: torch 2.13.0+cpu is a CPU-only build (no CUDA); install ...",
    }
    lines = skipped_lines(not_given)
    assert not any("oip-http" in line for line in lines)
    assert lines[0] == "skipped torch-cuda: torch 2.13.0+cpu is a CPU-only build (no CUDA)"
    assert any("oip-http" in line for line in skipped_lines(not_given, verbose=True))
    # a server that was named but cannot be reached is listed: the user asked for it
    unreachable = {"oip-http": "oip-http: http://h:1/v2/models/lenet: server unreachable"}
    assert skipped_lines(unreachable)[0].startswith("skipped oip-http: http")


@pytest.mark.slow
def test_bench_on_this_machine_is_quiet_and_quiet_prints_only_the_result(exported_dir, tmp_path):
    common = ("bench", "--model", str(exported_dir), "--batch-sizes", "1", "--iterations", "5",
              "--warmup", "0", "--runtime", "all")  # fmt: skip
    proc = run_cli(*common, "--json-file", str(tmp_path / "b.json"))
    assert proc.returncode == 0, proc.stderr
    skipped_here = json.loads((tmp_path / "b.json").read_text())["skipped"]
    assert "oip-http" in skipped_here  # the full reasons are in the JSON...
    noise = [line for line in proc.stderr.splitlines() if line.startswith("skipped")]
    assert all(len(line) < 120 for line in noise), noise  # ...the terminal gets short lines
    assert not any("oip-http" in line for line in noise)
    assert len(noise) == len(skipped_here) - 1
    quiet = run_cli(*common, "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.splitlines()[0].split()[:2] == ["runtime", "batch"]


def test_noise_warning_never_reads_equal_to_the_threshold():
    assert ratio_text(0.1004) == "0.1004" and float(ratio_text(0.1004)) > NOISY_IQR_RATIO
    assert ratio_text(0.25) == "0.25" and ratio_text(0.1000001) == "0.1000001"
    line = noise_warning("ort-cpu batch 1", 0.1004, "raise --duration")
    assert "IQR/median = 0.1004 > 0.1" in line and "0.10 >" not in line
