"""Precision variants: made, gated by the reduced-precision policy, recorded, refused, stale."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lenet_deploy.errors import ArtifactError
from lenet_deploy.exporters import precision as precision_mod
from lenet_deploy.exporters.precision import calibration_images, make_variants
from lenet_deploy.exporters.variants import (
    SOURCE_SHA_KEY,
    file_precision,
    list_variants,
    load_variant,
    variant_path,
)
from lenet_deploy.runtimes import available_runtimes, load_runtime
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
OV = any(a.name == "ov-cpu" and a for a in available_runtimes())


def test_int8_and_fp16_are_written_with_their_metadata(artifacts):
    reports = make_variants(artifacts / "lenet.onnx", ["int8", "fp16"])
    assert all(reports), [r.describe() for r in reports]
    sha = __import__("lenet_deploy.artifacts.layout", fromlist=["x"]).file_sha256(
        artifacts / "lenet.onnx"
    )
    for report in reports:
        variant = load_variant(artifacts, report.precision)
        meta = variant.metadata
        assert meta["precision"] == report.precision and variant.stale is None
        assert meta[SOURCE_SHA_KEY] == sha
        delta = float(meta["heldout_accuracy"]) - float(meta["fp32_heldout_accuracy"])
        assert abs(delta * 100 - float(meta["accuracy_delta_pp"])) < 0.006
        assert delta >= -0.002 and float(meta["top1_agreement"]) >= 0.995
    int8 = load_variant(artifacts, "int8").metadata
    assert "training split" in int8["calibration"] and int8["calibration_size"] == "500"
    assert "quantize_static" in int8["variant_method"]
    with load_runtime("ort-cpu", variant_path(artifacts, "int8")) as rt:
        assert rt.precision == "int8"
        import onnx

        ops = {n.op_type for n in onnx.load(str(variant_path(artifacts, "int8"))).graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    with load_runtime("ort-cpu", artifacts) as rt:
        assert rt.precision == "fp32"


def test_calibration_draws_from_the_training_split_only():
    x_train = np.random.default_rng(1).random((300, 1, 32, 32), dtype=np.float32)
    picked = calibration_images(x_train, 50)
    assert picked.shape == (50, 1, 32, 32)
    rows = {r.tobytes() for r in x_train}
    assert all(r.tobytes() in rows for r in picked)
    assert len({r.tobytes() for r in picked}) == 50  # without replacement
    np.testing.assert_array_equal(picked, calibration_images(x_train, 50))  # seeded


def test_a_variant_failing_the_gate_is_not_written_and_says_why(artifacts, monkeypatch):
    import onnx
    from onnx import numpy_helper

    real = precision_mod._fp16

    def damaged(base):
        proto = real(base)
        for init in proto.graph.initializer:  # scramble the weights: a wrong model
            values = numpy_helper.to_array(init)
            if values.ndim >= 2:
                shuffled = np.random.default_rng(0).permutation(values.ravel())
                init.CopyFrom(numpy_helper.from_array(shuffled.reshape(values.shape), init.name))
        return proto

    monkeypatch.setattr(precision_mod, "_fp16", damaged)
    (report,) = make_variants(artifacts / "lenet.onnx", ["fp16"])
    assert not report and not variant_path(artifacts, "fp16").exists()
    text = report.describe()
    assert "not written" in text and "accuracy" in text and "top-1 agreement" in text
    assert any("policy" in f for f in report.failures)
    assert onnx  # the damaged model was a loadable ONNX file: only the gate refused it


def test_a_variant_of_another_export_is_stale(artifacts):
    assert make_variants(artifacts / "lenet.onnx", ["int8"])[0]
    (artifacts / "lenet.onnx").write_bytes((artifacts / "lenet.onnx").read_bytes() + b"")
    assert list_variants(artifacts)[0].stale is None  # same bytes: still current
    import onnx

    from lenet_deploy.artifacts.pairing import read_metadata
    from lenet_deploy.exporters.metadata import attach_metadata

    proto = onnx.load(str(artifacts / "lenet.onnx"))
    attach_metadata(proto, {**read_metadata(artifacts / "lenet.onnx"), "created": "later"})
    onnx.save(proto, str(artifacts / "lenet.onnx"))
    (variant,) = list_variants(artifacts)
    assert variant.stale and "--precision int8" in variant.stale
    from lenet_deploy.verify.parity import verify

    report = verify(artifacts, ["ort-cpu"])
    (row,) = [r for r in report.results if r.runtime == "ort-cpu [int8]"]
    assert row.status.value == "skipped" and "sha256 differs" in row.reason


def test_verify_judges_each_variant_by_its_precision(artifacts):
    wanted = ["int8", "bf16"] if OV else ["int8"]
    reports = make_variants(artifacts / "lenet.onnx", wanted)
    from lenet_deploy.verify.parity import verify

    report = verify(artifacts, ["ort-cpu", "ov-cpu"] if OV else ["ort-cpu"])
    rows = {r.runtime: r for r in report.results}
    assert rows["ort-cpu [int8]"].precision == "int8"
    assert rows["ort-cpu [int8]"].comparison.tolerance.elementwise is False
    assert rows["ort-cpu"].comparison.tolerance.elementwise is True
    if OV and reports[1]:
        assert rows["ov-cpu [bf16]"].precision == "bf16"
    assert report, [r.failures for r in report.results]


def test_file_precision_reads_the_metadata():
    assert file_precision({}) == "fp32"
    assert file_precision({"precision": "float32"}) == "fp32"
    assert file_precision({"precision": "int8"}) == "int8"


def test_damaged_descriptor_is_an_artifact_error(artifacts):
    variant_path(artifacts, "bf16").write_text(json.dumps({"precision": "int8"}))
    with pytest.raises(ArtifactError, match="not a bf16 variant descriptor"):
        list_variants(artifacts)


def test_cli_export_precision(artifacts):
    proc = run_cli("export", "--out", str(artifacts / "lenet.onnx"), "--precision", "int8",
                   "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and variant_path(artifacts, "int8").is_file()
    repo = artifacts.parent / "repo"
    # QDQ per-channel needs IR 10: a Triton release whose onnxruntime loads it
    packaged = run_cli("package", "--model", str(artifacts), "--precision", "int8",
                       "--triton-version", "24.05", "--out",
                       str(repo))  # fmt: skip
    assert packaged.returncode == 0, packaged.stderr
    copied = (repo / "lenet" / "1" / "model.onnx").read_bytes()
    assert copied == variant_path(artifacts, "int8").read_bytes()
    missing = run_cli("package", "--model", str(artifacts), "--precision", "fp16", "--out",
                      str(artifacts.parent / "repo2"))  # fmt: skip
    assert missing.returncode == 2 and "export --precision fp16" in missing.stderr
    bad = run_cli("export", "--precision", "int4")
    assert bad.returncode == 2 and "unknown precision 'int4'" in bad.stderr
