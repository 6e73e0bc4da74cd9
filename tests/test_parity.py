import json
import shutil

import numpy as np
import onnx
import pytest
from conftest import PLUGIN_NAME, assert_one_line_error, run_cli
from onnx import numpy_helper

from lenet_deploy.parity import compare, parity_inputs, verify
from lenet_deploy.runtimes import available_runtimes


def test_every_available_runtime_matches_torch_cpu(exported_dir, digits):
    report = verify(exported_dir)
    assert report, [r.record() for r in report.failed]
    names = {r.runtime for r in report.compared}
    available = {a.name for a in available_runtimes() if a} - {"torch-cpu"}
    assert names == available and "ort-cpu" in names and PLUGIN_NAME in names
    sets = dict(report.input_sets)
    assert sets["test-split"] == 1000 and sets["batch-1000"] == 1000  # the mnist5k test split
    assert {"zeros", "ones", "uniform-noise", "single-image", "batch-3", "batch-7"} <= set(sets)
    for r in report.compared:
        assert r.passed and r.top1_agreement == 1.0 and r.outside_tolerance == 0
        assert [c.input_set for c in r.comparisons] == list(sets)
        assert r.accuracy == pytest.approx(report.reference_accuracy)
    for r in report.skipped:
        assert r.reason.startswith(r.runtime)


def test_compare_known_answers():
    want = np.array([[1.0, 2.0, 3.0], [10.0, 0.0, -5.0]], np.float32)
    same = compare(want.copy(), want, 1e-5, 1e-4)
    assert same and same.max_abs_diff == 0 and same.top1_agreement == 1
    got = want.copy()
    got[1, 0] += 0.5  # 10.5 vs 10: 0.5 > 1e-5 + 1e-4 * 10
    c = compare(got, want, 1e-5, 1e-4)
    assert not c and c.outside_tolerance == 1 and c.top1_agreement == 1.0
    assert c.max_abs_diff == pytest.approx(0.5) and c.max_rel_diff == pytest.approx(0.05)
    got[0] = [3.0, 2.0, 1.0]  # top-1 flips on row 0
    assert compare(got, want, 1.0, 1.0).top1_agreement == 0.5
    nan = want.copy()
    nan[0, 0] = np.nan
    c = compare(nan, want, 1e-5, 1e-4)
    assert not c and c.outside_tolerance == 1 and c.max_abs_diff == float("inf")
    assert not compare(want[:1], want, 1, 1)  # shape mismatch


def test_tolerance_boundary_is_inclusive():
    want = np.array([[100.0, 0.0]], np.float64).astype(np.float32)
    got = want + np.float32(0.0099)  # <= 1e-4 + 1e-4 * 100 = 0.0101 on the first element
    assert compare(got, want, 1e-4, 1e-4).outside_tolerance == 1  # 0.0099 > 1e-4 on the zero


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


def test_altered_weight_fails_and_names_runtime_and_size(altered_dir, tmp_path):
    report = verify(altered_dir, ["ort-cpu"])
    assert not report
    (result,) = report.failed
    assert result.runtime == "ort-cpu" and result.max_abs_diff > 1e-3
    assert "test-split" in [c.input_set for c in result.failures]

    out = tmp_path / "report.json"
    proc = run_cli(
        "verify", "--model", str(altered_dir), "--runtimes", "ort-cpu", "--json", str(out)
    )
    assert proc.returncode == 1, proc.stderr
    assert "✗ ort-cpu on test-split" in proc.stdout and "max |diff|" in proc.stdout
    (record,) = json.loads(out.read_text())["records"]
    assert record["runtime"] == "ort-cpu" and record["passed"] is False
    assert record["max_abs_diff"] == pytest.approx(result.max_abs_diff)


def test_onnx_from_another_checkpoint_is_refused_naming_both(exported_dir, tmp_path):
    from lenet_deploy.errors import ArtifactError
    from lenet_deploy.exporters.onnx import export_onnx
    from lenet_deploy.train import TrainConfig, train

    other = tmp_path / "other"
    train(TrainConfig(data="digits", epochs=1, seed=42), other, progress=False)
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


def test_cli_missing_model(tmp_path):
    assert_one_line_error(run_cli("verify", "--model", str(tmp_path / "nope")), "not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("verify", "--model", str(empty)), "lenet-deploy train")


def test_cli_unreadable_model(exported_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(exported_dir, broken)
    (broken / "lenet.onnx").write_bytes(b"\x00garbage")
    proc = run_cli("verify", "--model", str(broken))
    assert_one_line_error(proc, "not a loadable ONNX model")
    (broken / "lenet.pt").write_bytes(b"\x00garbage")
    assert_one_line_error(run_cli("verify", "--model", str(broken)), "not a loadable checkpoint")


def test_cli_unknown_runtime(exported_dir):
    proc = run_cli("verify", "--model", str(exported_dir), "--runtimes", "ort-cpu,tensorrt")
    assert_one_line_error(proc, "unknown runtime 'tensorrt'", "ort-cpu")


def test_cli_named_unavailable_runtime_is_an_error(exported_dir):
    rows = {a.name: a for a in available_runtimes()}
    unavailable = [n for n in ("ort-cuda", "torch-cuda") if not rows[n]]
    if not unavailable:
        pytest.skip("every CUDA runtime is available here")
    proc = run_cli("verify", "--model", str(exported_dir), "--runtimes", unavailable[0])
    assert proc.returncode == 2
    assert_one_line_error(proc, f"{unavailable[0]}:")


def test_cli_all_lists_skipped_with_reason(exported_dir):
    proc = run_cli("verify", "--model", str(exported_dir), "--quiet")
    assert proc.returncode == 0
    for a in available_runtimes():
        if not a:
            assert f"skipped {a.name}:" in proc.stdout
