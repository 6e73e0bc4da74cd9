import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli


def test_every_command_is_a_module_with_register_and_run():
    import importlib

    from lenet_deploy.cli import COMMANDS, build_parser

    assert set(COMMANDS) == {
        "pipeline",
        "train",
        "export",
        "verify",
        "bench",
        "predict",
        "runtimes",
        "package",
        "serve",
    }
    for name in COMMANDS:
        module = importlib.import_module(f"lenet_deploy.cli.{name}")
        assert callable(module.register) and callable(module.run)
        assert build_parser().parse_args(_minimal_args(name)).func is module.run


def _minimal_args(name):
    return [name, "x.png"] if name == "predict" else [name]


def test_help_lists_every_command_without_importing_torch():
    code = (
        "import sys, contextlib, io\n"
        "from lenet_deploy.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "print(buf.getvalue())\n"
        "print('TORCH' if 'torch' in sys.modules else 'NOTORCH')\n"
        "print('ORT' if 'onnxruntime' in sys.modules else 'NOORT')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    from lenet_deploy.cli import COMMANDS

    for command in COMMANDS:
        assert f"\n    {command} " in out
    assert "NOTORCH" in out and "NOORT" in out


@pytest.mark.slow
def test_train_cli_writes_artifacts(tmp_path):
    proc = run_cli("train", "--epochs", "1", "--quiet", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["dataset"] == "mnist5k"  # the default


@pytest.mark.slow
def test_unknown_dataset(tmp_path):
    proc = run_cli("train", "--data", "cifar10", "--out", str(tmp_path))
    assert_one_line_error(proc, "unknown dataset 'cifar10'")
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_missing_mnist_directory(tmp_path):
    proc = run_cli("train", "--data", f"mnist:{tmp_path / 'nope'}", "--out", str(tmp_path))
    assert_one_line_error(proc, "does not exist", "mnist:DIR")


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    proc = run_cli("train", "--epochs", "1", "--out", str(blocker / "out"))
    assert_one_line_error(proc, "cannot write to output directory")
    assert blocker.read_text() == "keep me"


def test_bad_number_is_a_usage_error():
    proc = run_cli("train", "--epochs", "0")
    assert proc.returncode == 2 and "positive integer" in proc.stderr


@pytest.mark.slow
def test_runtimes_table_lists_all_with_reasons():
    proc = run_cli("runtimes")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert set(lines) >= {"torch-cpu", "torch-cuda", "ort-cpu", "ort-cuda", "ov-cpu"}
    assert " yes " in lines["ort-cpu"] and " yes " in lines["torch-cpu"]
    rows = {row["name"]: row for row in json.loads(run_cli("runtimes", "--json").stdout)}
    for row in rows.values():
        assert row["available"] or "use" in row["reason"] or "install" in row["reason"]
    assert (
        rows["ov-cpu"]["artifact"] == "onnx"
        and "precision: one of fp32|bf16" in (rows["ov-cpu"]["options"])
    )


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory, digits):
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    np.save(folder / "three.npy", digits.x_test[:3])
    ink = ((1 - digits.x_test[3, 0]) * 255).astype(np.uint8)
    Image.fromarray(ink).resize((64, 64)).save(folder / "paper.png")
    return folder, digits.y_test[:4]


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["ort-cpu", "torch-cpu", "ov-cpu"])
def test_predict_prints_label_and_probability(exported_dir, sample_files, runtime):
    folder, labels = sample_files
    proc = run_cli(
        "predict",
        "--runtime",
        runtime,
        "--model",
        str(exported_dir),
        "--unsure-below",
        "0",
        str(folder / "three.npy"),
        str(folder / "paper.png"),
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(f"{folder / 'three.npy'}[0]: ") and "%" in lines[0]
    predicted = [int(line.split(": ")[1].split()[0]) for line in lines]
    assert sum(p == t for p, t in zip(predicted, labels, strict=True)) >= 3


@pytest.mark.slow
def test_predict_json(exported_dir, sample_files):
    folder, labels = sample_files
    proc = run_cli("predict", "--json", "--model", str(exported_dir), str(folder / "three.npy"))
    payload = json.loads(proc.stdout)
    assert payload["runtime"] == "ort-cpu" and len(payload["predictions"]) == 3
    for rec in payload["predictions"]:
        assert 0 <= rec["label"] <= 9 and 0 < rec["probability"] <= 1
        assert abs(sum(rec["probabilities"]) - 1) < 1e-4


@pytest.mark.slow
def test_predict_reports_no_digit_and_exits_1(exported_dir, tmp_path, sample_files):
    from PIL import Image

    folder, _ = sample_files
    Image.new("RGBA", (280, 280), (0, 0, 0, 0)).save(tmp_path / "blank.png")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    proc = run_cli(
        "predict",
        "--model",
        str(exported_dir),
        str(folder / "paper.png"),
        str(tmp_path / "blank.png"),
        str(tmp_path / "noise.png"),
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert "%" in lines[0]
    assert lines[1] == f"{tmp_path / 'blank.png'}: no digit (blank, uniform or noise only)"
    assert lines[2].endswith("no digit (blank, uniform or noise only)")
    proc = run_cli("predict", "--json", "--model", str(exported_dir), str(tmp_path / "blank.png"))
    (rec,) = json.loads(proc.stdout)["predictions"]
    assert proc.returncode == 1 and rec["no_digit"] is True and rec["label"] is None
    assert rec["probabilities"] is None and rec["answer"] == "no digit"


@pytest.mark.slow
def test_predict_unsure_below_is_shown_and_checked(exported_dir, sample_files):
    folder, _ = sample_files
    paper = str(folder / "paper.png")
    proc = run_cli("predict", "--model", str(exported_dir), "--unsure-below", "1", paper)
    assert proc.returncode == 0, proc.stderr  # unsure is an answer, not a failure
    line = proc.stdout.strip()
    assert re.fullmatch(r".*: unsure: (\d) or (?!\1)\d \(\d+\.\d% / \d+\.\d%\)", line)
    proc = run_cli("predict", "--json", "--model", str(exported_dir), "--unsure-below", "1", paper)
    payload = json.loads(proc.stdout)
    (rec,) = payload["predictions"]
    assert payload["unsure_below"] == 1.0 and rec["unsure"] is True
    assert rec["answer"] == "unsure: {} or {}".format(*rec["candidates"])
    assert rec["label"] == rec["candidates"][0]
    proc = run_cli("predict", "--model", str(exported_dir), "--unsure-below", "1.5", paper)
    assert_one_line_error(proc, "--unsure-below", "expected a probability in [0, 1], got 1.5")
    assert proc.returncode == 2


@pytest.mark.slow
def test_predict_bad_files(exported_dir, tmp_path, sample_files):
    folder, _ = sample_files
    (tmp_path / "notes.txt").write_text("hello")
    proc = run_cli(
        "predict",
        "--model",
        str(exported_dir),
        str(folder / "paper.png"),
        str(tmp_path / "notes.txt"),
    )
    assert_one_line_error(proc, "notes.txt", "not an image")
    assert proc.stdout == ""  # every file is checked before any prediction is printed


@pytest.mark.slow
def test_predict_unknown_runtime(exported_dir, sample_files):
    folder, _ = sample_files
    proc = run_cli(
        "predict", "--runtime", "nope", "--model", str(exported_dir), str(folder / "paper.png")
    )
    assert_one_line_error(proc, "unknown runtime 'nope'", "ort-cpu")


@pytest.mark.slow
def test_predict_unavailable_runtime(exported_dir, sample_files):
    from lenet_deploy.runtimes import available_runtimes

    rows = {a.name: a for a in available_runtimes()}
    if rows["torch-cuda"]:
        pytest.skip("torch-cuda works here")
    folder, _ = sample_files
    proc = run_cli(
        "predict",
        "--runtime",
        "torch-cuda",
        "--model",
        str(exported_dir),
        str(folder / "paper.png"),
    )
    assert_one_line_error(proc, "torch-cuda:", "use torch-cpu")
    assert proc.returncode == 2 and proc.stdout == ""


@pytest.mark.slow
def test_runtime_option_is_typed_and_checked(exported_dir):
    proc = run_cli(
        "verify",
        "--model",
        str(exported_dir),
        "--runtimes",
        "ov-cpu",
        "--quiet",
        "--option",
        "ov-cpu:precision=fp16",
    )
    assert_one_line_error(proc, "ov-cpu: option precision must be one of fp32|bf16")
    proc = run_cli("verify", "--model", str(exported_dir), "--option", "ov-cpu-precision")
    assert proc.returncode == 2 and "expected RUNTIME:KEY=VALUE" in proc.stderr
