import json
import shutil

import numpy as np
import onnx
import pytest
from conftest import PLUGIN_NAME, assert_one_line_error, run_cli
from onnx import numpy_helper

from lenet_deploy.runtimes import available_runtimes
from lenet_deploy.verify.parity import Status, parity_inputs, verify


@pytest.mark.slow
def test_every_available_runtime_matches_torch_cpu(exported_dir, digits):
    report = verify(exported_dir)
    assert report, [r.to_dict() for r in report.failed]
    names = {r.runtime for r in report.compared}
    # oip-http's model is a server URL: with a local model it is skipped, with the reason.
    # auto serves one of the others (COMPOSITE): verified only when named.
    available = {a.name for a in available_runtimes() if a} - {"torch-cpu", "oip-http", "auto"}
    assert names == available and "ort-cpu" in names and PLUGIN_NAME in names
    sets = dict(report.input_sets)
    # the test split of the dataset the model records (the fixture trains on digits)
    assert sets["test-split"] == len(digits.y_test) and sets["batch-1000"] == 1000
    assert {"zeros", "ones", "uniform-noise", "single-image", "batch-3", "batch-7"} <= set(sets)
    for r in report.compared:
        assert r.status is Status.PASSED and r.precision == "fp32"
        assert r.top1_agreement == 1.0 and r.outside_tolerance == 0
        assert [s.name for s in r.comparison.sets] == list(sets)
        assert r.accuracy == pytest.approx(report.reference_accuracy)
    for r in report.skipped:
        assert r.status is Status.SKIPPED and r.reason.startswith(r.runtime)
    with pytest.raises(AttributeError):
        report.results[0].status = Status.FAILED  # results are not changed after return


@pytest.mark.slow
def test_bf16_runtime_is_judged_by_the_bf16_policy(exported_dir, digits):
    report = verify(exported_dir, ["ov-cpu"], options={"ov-cpu": {"precision": "bf16"}})
    (result,) = report.results
    assert result.precision in ("bf16", "fp32")  # fp32 where the CPU has no bf16
    assert result.comparison.tolerance.precision.value == result.precision
    assert report, result.failures
    assert result.accuracy >= report.reference_accuracy - 0.002


@pytest.mark.slow
def test_a_url_runtime_is_skipped_for_a_folder_under_all(exported_dir):
    from lenet_deploy.artifacts.layout import ArtifactKind
    from lenet_deploy.errors import ArtifactKindError
    from lenet_deploy.runtimes import Runtime, register_runtime, unregister_runtime

    class Remote(Runtime):
        def _predict(self, x):
            raise AssertionError("never loaded for a folder")

    register_runtime("remote-test", lambda url, **o: Remote(), artifact=ArtifactKind.URL)
    try:
        report = verify(exported_dir, inputs=parity_inputs(np.zeros((2, 1, 32, 32)), None)[1:3])
        (skipped,) = [r for r in report.results if r.runtime == "remote-test"]
        assert skipped.status is Status.SKIPPED and "is not a URL" in skipped.reason
        with pytest.raises(ArtifactKindError, match="is not a URL"):
            verify(exported_dir, ["remote-test"])
    finally:
        unregister_runtime("remote-test")


def test_inputs_cover_the_edges(digits):
    sets = {s.name: s for s in parity_inputs(digits.x_test, digits.y_test)}
    assert not sets["zeros"].x.any() and (sets["ones"].x == 1).all()
    noise = sets["uniform-noise"].x
    assert 0 <= noise.min() and noise.max() <= 1 and noise.std() > 0.2
    assert [len(sets[k].x) for k in ("single-image", "batch-3", "batch-7")] == [1, 3, 7]
    assert all(s.x.dtype == np.float32 for s in sets.values())


@pytest.fixture
def altered_dir(exported_dir, tmp_path):
    """A copy of the artifacts whose ONNX has one weight changed after export."""
    target = tmp_path / "altered"
    shutil.copytree(exported_dir, target)
    proto = onnx.load(str(target / "lenet.onnx"))
    # conv1 sees every pixel, so a change there cannot hide behind a dead ReLU unit
    init = next(t for t in proto.graph.initializer if list(t.dims) == [6, 1, 5, 5])
    weights = numpy_helper.to_array(init).copy()
    weights[0, 0, 2, 2] += 0.5
    init.CopyFrom(numpy_helper.from_array(weights, init.name))
    onnx.save(proto, str(target / "lenet.onnx"))
    return target


@pytest.mark.slow
def test_altered_weight_fails_and_names_runtime_and_size(altered_dir, tmp_path):
    report = verify(altered_dir, ["ort-cpu"])
    assert not report
    (result,) = report.failed
    assert result.runtime == "ort-cpu" and result.max_abs_diff > 1e-3
    assert any(f.startswith("test-split (450 images)") for f in result.failures)

    out = tmp_path / "report.json"
    proc = run_cli(
        "verify", "--model", str(altered_dir), "--runtimes", "ort-cpu", "--json", str(out)
    )
    assert proc.returncode == 1, proc.stderr
    assert "✗ ort-cpu on test-split (450 images)" in proc.stdout and "max |diff|" in proc.stdout
    (record,) = json.loads(out.read_text())["records"]
    assert record["runtime"] == "ort-cpu" and record["passed"] is False
    assert record["status"] == "failed"
    assert record["max_abs_diff"] == pytest.approx(result.max_abs_diff)


@pytest.mark.slow
def test_onnx_from_another_checkpoint_is_refused_naming_both(exported_dir, tmp_path):
    from lenet_deploy.errors import ArtifactError
    from lenet_deploy.exporters.onnx import export_onnx
    from lenet_deploy.model.train import TrainConfig, train

    other = tmp_path / "other"
    train(TrainConfig(data="digits", epochs=1, seed=42), other)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(exported_dir / "lenet.pt", mixed / "lenet.pt")
    export_onnx(other / "lenet.pt", mixed / "lenet.onnx", exporter="torchscript")
    with pytest.raises(ArtifactError, match="different models") as err:
        verify(mixed, ["ort-cpu"])
    assert str(mixed / "lenet.onnx") in str(err.value) and str(mixed / "lenet.pt") in str(err.value)
    # an ONNX file not named lenet.onnx finds its own checkpoint by sha256, among others
    shutil.copy(other / "lenet.pt", mixed / "zz-right.pt")
    shutil.move(mixed / "lenet.onnx", mixed / "tutorial.onnx")
    assert verify(mixed / "tutorial.onnx", ["ort-cpu"])
    proc = run_cli(
        "verify", "--model", str(mixed / "tutorial.onnx"), "--reference", str(mixed / "lenet.pt")
    )
    assert_one_line_error(proc, "tutorial.onnx", "lenet.pt", "different models")
    proc = run_cli(
        "verify",
        "--model",
        str(mixed / "tutorial.onnx"),
        "--reference",
        str(mixed / "zz-right.pt"),
        "--runtimes",
        "ort-cpu",
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_cli_passes_with_json_records(exported_dir, tmp_path):
    out = tmp_path / "parity.json"
    proc = run_cli("verify", "--model", str(exported_dir), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "torch-cpu (reference)" in proc.stdout and "✓" in proc.stdout
    payload = json.loads(out.read_text())
    assert payload["passed"] is True
    for record in payload["records"]:
        for key in (
            "runtime",
            "reference",
            "max_abs_diff",
            "max_rel_diff",
            "top1_agreement",
            "accuracy",
            "passed",
        ):
            assert key in record
        assert record["status"] in ("passed", "skipped")
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.slow
def test_cli_missing_model(tmp_path):
    assert_one_line_error(run_cli("verify", "--model", str(tmp_path / "nope")), "not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("verify", "--model", str(empty)), "lenet-deploy train")


@pytest.mark.slow
def test_cli_unreadable_model(exported_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(exported_dir, broken)
    (broken / "lenet.onnx").write_bytes(b"\x00garbage")
    proc = run_cli("verify", "--model", str(broken))
    assert_one_line_error(proc, "not a loadable ONNX model")
    (broken / "lenet.pt").write_bytes(b"\x00garbage")
    assert_one_line_error(run_cli("verify", "--model", str(broken)), "not a loadable checkpoint")


@pytest.mark.slow
def test_cli_unknown_runtime(exported_dir):
    proc = run_cli("verify", "--model", str(exported_dir), "--runtimes", "ort-cpu,tensorrt")
    assert_one_line_error(proc, "unknown runtime 'tensorrt'", "ort-cpu")


@pytest.mark.slow
def test_cli_named_unavailable_runtime_is_an_error(exported_dir):
    rows = {a.name: a for a in available_runtimes()}
    unavailable = [n for n in ("ort-cuda", "torch-cuda") if not rows[n]]
    if not unavailable:
        pytest.skip("every CUDA runtime is available here")
    proc = run_cli("verify", "--model", str(exported_dir), "--runtimes", unavailable[0])
    assert proc.returncode == 2
    assert_one_line_error(proc, f"{unavailable[0]}:")


@pytest.mark.slow
def test_cli_all_lists_skipped_with_reason(exported_dir):
    """One short line per runtime that cannot run here; --quiet prints only the result."""
    proc = run_cli("verify", "--model", str(exported_dir))
    assert proc.returncode == 0
    for a in available_runtimes():
        if not a:
            assert f"skipped {a.name}:" in proc.stdout
    assert "skipped oip-http" not in proc.stdout  # it needs a URL nobody gave
    quiet = run_cli("verify", "--model", str(exported_dir), "--quiet")
    assert quiet.returncode == 0 and "skipped" not in quiet.stdout + quiet.stderr


def _with_dataset(src, dst, dataset):
    """A copy of the ONNX file ``src`` whose metadata records ``dataset`` (None: no record)."""
    proto = onnx.load(str(src))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != "dataset"]
    del proto.metadata_props[:]
    for key, value in kept + ([("dataset", dataset)] if dataset else []):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(dst))
    return dst


@pytest.mark.slow
def test_inputs_come_from_the_dataset_the_model_records(exported_dir, tmp_path, digits):
    from lenet_deploy.artifacts.pairing import pair
    from lenet_deploy.verify.parity import _test_dataset

    logs = []
    assert _test_dataset(pair(exported_dir), logs.append).name == "digits"  # what it trained on
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(exported_dir / "lenet.pt", folder / "lenet.pt")
    _with_dataset(exported_dir / "lenet.onnx", folder / "lenet.onnx", None)
    assert _test_dataset(pair(folder), logs.append).name == "mnist5k"  # records none: default
    _with_dataset(exported_dir / "lenet.onnx", folder / "lenet.onnx", f"mnist:{tmp_path}/gone")
    assert _test_dataset(pair(folder), logs.append).name == "mnist5k"
    (line,) = logs
    assert line.startswith(f"dataset 'mnist:{tmp_path}/gone' cannot be loaded here")
    assert line.endswith("using mnist5k")
