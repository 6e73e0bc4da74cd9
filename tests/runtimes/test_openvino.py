"""ov-cpu: OpenVINO in one file. Skipped with the reason when OpenVINO is not installed."""

import sys

import numpy as np
import pytest

from lenet_deploy.errors import ArtifactError, OptionsError
from lenet_deploy.runtimes import load_runtime
from lenet_deploy.runtimes import openvino as ov_mod
from lenet_deploy.verify.compare import compare

if ov_mod.probe() is not None:
    pytest.skip(f"ov-cpu unavailable: {ov_mod.probe()}", allow_module_level=True)


def test_defaults_are_f32_and_latency(exported_dir):
    with load_runtime("ov-cpu", exported_dir) as rt:
        info = rt.info()
        assert rt.precision == "fp32" and "float32" in info["inference_precision"]
        assert info["performance_hint"] == "LATENCY" and info["engine"] == "openvino"
    assert ov_mod.OpenVinoOptions().config() == {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
    }


def test_options_map_to_openvino_properties(exported_dir):
    options = ov_mod.OpenVinoOptions(precision="bf16", performance_hint="THROUGHPUT", threads=1)
    assert options.config() == {
        "INFERENCE_PRECISION_HINT": "bf16",
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_NUM_THREADS": 1,
    }
    with load_runtime("ov-cpu", exported_dir, threads=1, performance_hint="THROUGHPUT") as rt:
        assert rt.info()["threads"] == 1 and rt.info()["performance_hint"] == "THROUGHPUT"
    with pytest.raises(OptionsError, match="precision must be one of fp32|bf16"):
        load_runtime("ov-cpu", exported_dir, precision="fp16")


@pytest.mark.slow
def test_fp32_matches_torch_by_the_fp32_policy(exported_dir, digits):
    with load_runtime("torch-cpu", exported_dir) as ref, load_runtime("ov-cpu", exported_dir) as rt:
        x = np.resize(digits.x_test, (1000, 1, 32, 32)).astype(np.float32)
        result = compare(rt.predict(x), ref.predict(x), "fp32")
    assert result and result.max_abs_diff < 1e-4


@pytest.mark.slow
def test_bf16_is_reported_and_judged_by_the_bf16_policy(exported_dir, digits):
    """On a CPU without bf16 support OpenVINO keeps f32; either way the runtime says which,
    and its outputs pass the policy of what it reports."""
    with load_runtime("torch-cpu", exported_dir) as ref:
        want = ref.predict(digits.x_test)
    with load_runtime("ov-cpu", exported_dir, precision="bf16") as rt:
        assert rt.precision in ("bf16", "fp32")
        assert ("bfloat16" in rt.info()["inference_precision"]) == (rt.precision == "bf16")
        result = compare(rt.predict(digits.x_test), want, rt.precision, labels=digits.y_test)
    assert result, result.failures


def test_not_a_lenet_and_not_onnx(tmp_path):
    from lenet_deploy.runtimes.ort_loader import identity_model

    (tmp_path / "other.onnx").write_bytes(identity_model())
    with pytest.raises(ArtifactError, match="not a LeNet export"):
        load_runtime("ov-cpu", tmp_path / "other.onnx")
    (tmp_path / "lenet.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(ArtifactError, match="not a loadable ONNX model"):
        load_runtime("ov-cpu", tmp_path)


def test_missing_openvino_is_reported_with_the_fix(monkeypatch, exported_dir):
    from lenet_deploy.errors import RuntimeUnavailableError

    monkeypatch.setattr(ov_mod.importlib.util, "find_spec", lambda name: None)
    assert ov_mod.probe() == f"OpenVINO is not installed; {ov_mod.INSTALL_FIX}"
    with pytest.raises(RuntimeUnavailableError, match=r"^ov-cpu: OpenVINO is not installed"):
        load_runtime("ov-cpu", exported_dir)


@pytest.mark.slow
def test_module_import_does_not_import_openvino():
    import subprocess

    code = (
        "import sys, lenet_deploy.runtimes.openvino\n"
        "print('OV' if 'openvino' in sys.modules else 'NO-OV')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip() == "NO-OV"
