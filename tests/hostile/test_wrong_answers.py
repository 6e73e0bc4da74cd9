"""Class 2: no wrong answer with exit 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_hostile import error_line, run_inproc, sha256

from lenet_deploy.errors import (
    ArtifactError,
    CheckpointError,
    InputError,
    LimitError,
    ModelError,
)
from lenet_deploy.model.lenet import load_checkpoint
from lenet_deploy.runtimes import Runtime, load_runtime


def _edited_checkpoint(trained_dir, tmp_path, edit) -> str:
    blob = torch.load(trained_dir / "lenet.pt", weights_only=True)
    edit(blob)
    path = tmp_path / "edited.pt"
    torch.save(blob, path)
    return str(path)


def _nan_weight(blob):
    blob["state_dict"]["fc3.weight"][0, 0] = float("nan")


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (_nan_weight, "non-finite weights"),
        (lambda b: b["normalization"].update(std=0.0), "std must be > 0"),
        (lambda b: b["normalization"].update(mean=float("inf")), "mean must be a finite"),
        (lambda b: b.update(normalization="abc"), "normalization must be a mapping"),
        (lambda b: b["normalization"].update(std="x"), "std must be a finite number"),
    ],
)
def test_broken_checkpoints_are_refused_at_load(trained_dir, tmp_path, edit, fragment):
    path = _edited_checkpoint(trained_dir, tmp_path, edit)
    with pytest.raises((CheckpointError, ModelError), match=fragment):
        load_checkpoint(path)


def test_nan_checkpoint_fails_export_and_predict_on_the_cli(capsys, trained_dir, tmp_path):
    path = _edited_checkpoint(trained_dir, tmp_path, _nan_weight)
    proc = run_inproc(capsys, "export", "--checkpoint", path, "--out", str(tmp_path / "m.onnx"))
    assert proc.returncode == 2 and "non-finite weights" in error_line(proc)
    assert not (tmp_path / "m.onnx").exists()
    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.uint8))
    proc = run_inproc(
        capsys, "predict", str(tmp_path / "x.npy"), "--runtime", "torch-cpu", "--model", path
    )
    assert proc.returncode == 2 and "non-finite weights" in error_line(proc)


def test_nan_in_memory_model_fails_export(tmp_path):
    from lenet_deploy.exporters.onnx import export_onnx
    from lenet_deploy.model.lenet import DeployableLeNet

    model = DeployableLeNet()
    with torch.no_grad():
        model.net.fc1.bias[3] = float("inf")
    with pytest.raises(ModelError, match="non-finite"):
        export_onnx(model, tmp_path / "m.onnx")


def test_diverged_training_is_an_error_and_saves_nothing(tmp_path, digits, monkeypatch):
    import dataclasses

    from lenet_deploy.model import train as train_mod

    out = tmp_path / "out"
    out.mkdir()
    (out / "lenet.pt").write_bytes(b"previous good checkpoint")
    before = sha256(out / "lenet.pt")
    poisoned = dataclasses.replace(digits, x_train=np.full_like(digits.x_train, np.nan))
    monkeypatch.setattr(train_mod, "load_dataset", lambda spec: poisoned)
    cfg = train_mod.TrainConfig(epochs=1)
    with pytest.raises(ModelError, match="training diverged"):
        train_mod.train(cfg, out, progress=False)
    assert sha256(out / "lenet.pt") == before
    assert sorted(p.name for p in out.iterdir()) == ["lenet.pt"]


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--lr", "1e6"], "lr must be"),
        (["--lr", "nan"], "--lr"),
        (["--seed", "-1"], "seed must be"),
        (["--seed", str(2**64)], "seed must be"),
        (["--epochs", "100000000"], "epochs must be"),
    ],
)
def test_train_flags_out_of_range_are_refused(capsys, tmp_path, flags, fragment):
    proc = run_inproc(capsys, "train", "--quiet", "--out", str(tmp_path), *flags)
    assert proc.returncode == 2 and fragment in error_line(proc)
    assert not (tmp_path / "lenet.pt").exists()


@pytest.mark.parametrize("name", ["ort-cpu", "torch-cpu"])
def test_float32_max_pixels_never_give_nan_probabilities(exported_dir, name):
    # Pixels outside [0, 1] are refused before the engine runs (they would overflow the logits)
    x = np.full((2, 1, 32, 32), np.finfo(np.float32).max, np.float32)
    with load_runtime(name, exported_dir) as rt:
        with pytest.raises(InputError, match=r"expected pixels in \[0, 1\]"):
            rt.predict_proba(x)


def _onnx_with_output(path, classes: int, dtype) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((1024, classes), np.float32), "w")
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["mm"]),
    ]
    if dtype == TensorProto.DOUBLE:
        nodes.append(helper.make_node("Cast", ["mm"], ["logits"], to=TensorProto.DOUBLE))
    else:
        nodes.append(helper.make_node("Identity", ["mm"], ["logits"]))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 32, 32])],
        [helper.make_tensor_value_info("logits", dtype, ["batch", classes])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.mark.parametrize(("classes", "double"), [(5, False), (10, True)])
def test_onnx_with_wrong_output_signature_is_refused(capsys, tmp_path, classes, double):
    from onnx import TensorProto

    path = tmp_path / "odd.onnx"
    _onnx_with_output(path, classes, TensorProto.DOUBLE if double else TensorProto.FLOAT)
    for name in ("ort-cpu", "ov-cpu"):  # one shared signature check for every ONNX engine
        with pytest.raises(ArtifactError, match="not a LeNet export"):
            load_runtime(name, path)
    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.uint8))
    proc = run_inproc(capsys, "predict", str(tmp_path / "x.npy"), "--model", str(path))
    assert proc.returncode == 2 and "not a LeNet export" in error_line(proc)


class _Liar(Runtime):
    name = "liar"

    def __init__(self, make):
        self._make = make

    def _predict(self, x):
        return self._make(len(x))


@pytest.mark.parametrize(
    "make",
    [
        lambda n: np.zeros((n, 5), np.float32),
        lambda n: np.zeros((n, 10), np.float64),
        lambda n: np.zeros((n + 1, 10), np.float32),
        lambda n: np.full((n, 10), np.nan, np.float32),
        lambda n: [[0.0] * 10] * n,
    ],
    ids=["5-classes", "float64", "wrong-n", "nan", "list"],
)
def test_plugin_output_is_checked_by_the_contract(make):
    with pytest.raises(ModelError, match="liar"):
        _Liar(make).predict(np.zeros((3, 1, 32, 32), np.float32))


def test_verify_with_nothing_compared_is_not_passed(capsys, exported_dir):
    proc = run_inproc(capsys, "verify", "--model", str(exported_dir), "--runtimes", "torch-cpu")
    assert proc.returncode == 2 and "nothing to compare" in error_line(proc)
    from lenet_deploy.verify.compare import tolerance_for
    from lenet_deploy.verify.parity import ParityReport, RuntimeParity, Status

    skipped = RuntimeParity("ort-cuda", "torch-cpu", Status.SKIPPED, reason="no GPU")
    report = ParityReport("torch-cpu", 1.0, tolerance_for("fp32"), (), (skipped,))
    assert not report and report.to_dict()["passed"] is False


def test_compare_with_no_images_is_not_passed():
    from lenet_deploy.verify.compare import compare

    empty = np.zeros((0, 10), np.float32)
    result = compare({"a": empty}, {"a": empty})
    assert not result and "nothing compared" in result.failures[0]


@pytest.mark.parametrize(
    ("flag", "value"), [("--atol", "nan"), ("--rtol", "inf"), ("--atol", "-1")]
)
def test_verify_tolerances_must_be_finite(capsys, exported_dir, flag, value):
    proc = run_inproc(capsys, "verify", "--model", str(exported_dir), flag, value)
    assert proc.returncode == 2 and flag[2:] + " must be" in error_line(proc)


def test_bench_all_does_not_hide_an_unknown_name(capsys, exported_dir):
    proc = run_inproc(
        capsys, "bench", "--model", str(exported_dir), "--runtime", "all", "--runtime", "nope"
    )
    assert proc.returncode == 2 and "unknown runtime 'nope'" in error_line(proc)


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--duration", "inf"], "duration must be"),
        (["--duration", "1e9"], "max_duration_s"),
        (["--warmup", "-3"], "warmup must be"),
        (["--threads", "100000"], "threads must be"),
    ],
)
def test_bench_settings_are_validated_before_the_run(capsys, exported_dir, flags, fragment):
    proc = run_inproc(capsys, "bench", "--model", str(exported_dir), "--runtime", "ort-cpu", *flags)
    assert proc.returncode == 2 and fragment in error_line(proc)


def test_limit_errors_name_the_limit():
    from lenet_deploy.bench.runner import BenchSettings
    from lenet_deploy.limits import check_bench_settings

    with pytest.raises(LimitError, match="max_bench_batch"):
        check_bench_settings(BenchSettings(batch_sizes=(1, 10**6)))
