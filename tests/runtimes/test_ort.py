import os
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest

from lenet_deploy.errors import ArtifactError, RuntimeUnavailableError
from lenet_deploy.runtimes import load_runtime
from lenet_deploy.runtimes import ort as ort_mod


def test_ort_path_never_imports_torch(exported_dir):
    code = (
        "import sys, numpy as np\n"
        "import lenet_deploy, lenet_deploy.runtimes\n"
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules, 'import'\n"
        "from lenet_deploy.runtimes import load_runtime\n"
        f"rt = load_runtime('ort-cpu', {str(exported_dir)!r})\n"
        "out = rt.predict(np.zeros((2, 1, 32, 32), np.float32))\n"
        "rt.predict_proba(np.zeros((1, 1, 32, 32))); rt.close()\n"
        "assert out.shape == (2, 10)\n"
        "assert 'onnxruntime' in sys.modules\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "NO-TORCH"


def test_options_are_applied(exported_dir):
    with load_runtime(
        "ort-cpu", exported_dir, threads=1, graph_optimization="basic", spinning=False
    ) as rt:
        options = rt._session.get_session_options()
        assert options.intra_op_num_threads == 1
        assert (
            options.graph_optimization_level == onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        )
        assert rt.providers == ["CPUExecutionProvider"] and rt.info()["threads"] == 1
    with pytest.raises(ArtifactError, match="graph_optimization must be one of"):
        load_runtime("ort-cpu", exported_dir, graph_optimization="max")


def test_saved_optimised_model(exported_dir, tmp_path, digits):
    target = tmp_path / "opt.onnx"
    with load_runtime("ort-cpu", exported_dir, optimized_model_path=str(target)) as rt:
        want = rt.predict(digits.x_test[:5])
    assert target.stat().st_size > 0
    with load_runtime("ort-cpu", target) as rt:
        np.testing.assert_allclose(rt.predict(digits.x_test[:5]), want, rtol=1e-5, atol=1e-6)


def test_ort_cuda_refuses_here_with_reason_and_fix(exported_dir):
    if onnxruntime.get_device() == "GPU" and _cuda_really_works():
        pytest.skip("this machine has a working CUDA GPU")
    with pytest.raises(RuntimeUnavailableError) as err:
        load_runtime("ort-cuda", exported_dir)
    message = str(err.value)
    assert message.startswith("ort-cuda: CUDAExecutionProvider is not active")
    assert "use ort-cpu" in message
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        # onnxruntime-gpu without CUDA libraries: the real loader error is in the message
        assert "libcublasLt" in message or "failed to load" in message or "CUDA" in message


def _cuda_really_works():
    return ort_mod.cuda_probe() is None


class FallbackSession:
    """Behaves like onnxruntime when the CUDA provider fails: logs, then runs on the CPU."""

    def __init__(self, *args, **kwargs):
        os.write(
            2,
            b"\x1b[1;31m2026 [E:onnxruntime:Default, provider_bridge_ort.cc:2458] "
            b"Failed to load library /x/libonnxruntime_providers_cuda.so with error: "
            b"libcublasLt.so.13: cannot open shared object file\x1b[m\n"
            b"[W:onnxruntime] Failed to create CUDAExecutionProvider. Require cuDNN 9.* "
            b"and CUDA 13.*. Please install\n",
        )

    def get_providers(self):
        return ["CPUExecutionProvider"]


def test_silent_cpu_fallback_is_refused(exported_dir, monkeypatch, capfd):
    monkeypatch.setattr(onnxruntime, "InferenceSession", FallbackSession)
    with pytest.raises(RuntimeUnavailableError) as err:
        load_runtime("ort-cuda", exported_dir)
    message = str(err.value)
    assert "session runs on CPUExecutionProvider" in message
    assert "libcublasLt.so.13: cannot open shared object file" in message
    assert "requires cuDNN 9.* and CUDA 13.*" in message
    assert "\x1b[" not in message
    assert "Failed to load" not in capfd.readouterr().err  # the raw log was captured, not dumped


@pytest.mark.parametrize("content", [b"", b"\x08\x07garbage" * 100, os.urandom(4096)])
def test_unreadable_onnx_files(tmp_path, content):
    path = tmp_path / "lenet.onnx"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match="not a loadable ONNX model"):
        load_runtime("ort-cpu", path)


def test_truncated_onnx(exported_dir, tmp_path):
    data = (exported_dir / "lenet.onnx").read_bytes()
    (tmp_path / "lenet.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="not a loadable ONNX model"):
        load_runtime("ort-cpu", tmp_path)


def test_onnx_of_another_model_is_refused(tmp_path):
    (tmp_path / "other.onnx").write_bytes(ort_mod._IDENTITY_MODEL())
    with pytest.raises(ArtifactError, match="not a LeNet export"):
        load_runtime("ort-cpu", tmp_path / "other.onnx")


def test_missing_model_says_how_to_make_it(tmp_path):
    with pytest.raises(ArtifactError, match="lenet-deploy export"):
        load_runtime("ort-cpu", tmp_path)
    (tmp_path / "lenet.pt").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="not a onnx file"):
        load_runtime("ort-cpu", tmp_path / "lenet.pt")


def test_finiteness_is_checked_inside_the_engine_without_changing_logits(exported_dir, digits):
    with load_runtime("ort-cpu", exported_dir) as rt:
        assert rt.engine_checks_finite
        names = [o.name for o in rt._session.get_outputs()]
        assert names == ["logits", ort_mod.CHECK_NAME]
        plain = onnxruntime.InferenceSession(str(rt.path), providers=["CPUExecutionProvider"])
        x = digits.x_test[:7]
        np.testing.assert_array_equal(rt.predict(x), plain.run(["logits"], {"image": x})[0])
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y[3, 0, 9, 9] = bad
            with pytest.raises(ValueError, match="1 NaN/inf value"):
                rt.predict(y)
        huge = np.full((1, 1, 32, 32), 3e30, np.float32)  # finite, but not a pixel
        with pytest.raises(ValueError, match="pixels in \\[0, 1\\]"):
            rt.predict(huge)


def test_input_check_is_added_once(exported_dir):
    data = (exported_dir / "lenet.onnx").read_bytes()
    once = ort_mod._with_input_check(data)
    assert once != data and ort_mod._with_input_check(once) == once


@pytest.mark.gpu
def test_ort_cuda_io_binding_matches_cpu(exported_dir, digits):
    reason = ort_mod.cuda_probe()
    if reason:
        pytest.skip(f"ort-cuda unavailable: {reason}")
    with (
        load_runtime("ort-cuda", exported_dir) as gpu,
        load_runtime("ort-cpu", exported_dir) as cpu,
    ):
        assert gpu.providers[0] == "CUDAExecutionProvider" and gpu.device == "cuda:0"
        for batch in (1, 3, 64, 450):
            x = digits.x_test[:batch]
            np.testing.assert_allclose(gpu.predict(x), cpu.predict(x), atol=1e-5, rtol=1e-4)
        # the phase API used by the benchmark: device buffers are reused per batch size
        staged = gpu.upload(digits.x_test[:8])
        first = gpu.download(gpu.compute(staged)).copy()
        again = gpu.download(gpu.compute(gpu.upload(digits.x_test[:8])))
        np.testing.assert_array_equal(first, again)
        assert len(gpu._bindings) == 5
