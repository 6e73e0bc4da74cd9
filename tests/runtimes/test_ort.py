import os
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest

from lenet_deploy.errors import ArtifactError, RuntimeUnavailableError
from lenet_deploy.runtimes import load_runtime, ort_loader
from lenet_deploy.runtimes import ort as ort_mod


@pytest.mark.slow
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
        info = rt.info()
        assert info["threads"] == 1 and info["graph_optimization"].endswith("ORT_ENABLE_BASIC")
        assert rt.providers == ["CPUExecutionProvider"]


def test_the_model_is_run_as_exported(exported_dir, digits):
    """No rewritten graph: the adapter's logits are a plain session's, bit for bit."""
    plain = onnxruntime.InferenceSession(
        str(exported_dir / "lenet.onnx"), providers=["CPUExecutionProvider"]
    )
    x = digits.x_test[:7]
    with load_runtime("ort-cpu", exported_dir, optimized_model_path=None) as rt:
        np.testing.assert_array_equal(rt.predict(x), plain.run(["logits"], {"image": x})[0])


def test_saved_optimised_model(exported_dir, tmp_path, digits):
    target = tmp_path / "opt.onnx"
    with load_runtime("ort-cpu", exported_dir, optimized_model_path=str(target)) as rt:
        want = rt.predict(digits.x_test[:5])
    assert target.stat().st_size > 0
    with load_runtime("ort-cpu", target) as rt:
        np.testing.assert_allclose(rt.predict(digits.x_test[:5]), want, rtol=1e-5, atol=1e-6)


def test_cpu_session_does_not_touch_stderr(exported_dir, monkeypatch):
    def refuse():
        raise AssertionError("fd 2 redirected for a CPU session")

    monkeypatch.setattr(ort_loader, "capture_stderr", refuse)
    with load_runtime("ort-cpu", exported_dir) as rt:
        assert rt.predict(np.zeros((1, 1, 32, 32), np.float32)).shape == (1, 10)


def test_ort_cuda_refuses_here_with_reason_and_fix(exported_dir):
    if ort_loader.cuda_probe() is None:
        pytest.skip("this machine has a working CUDA GPU")
    with pytest.raises(RuntimeUnavailableError) as err:
        load_runtime("ort-cuda", exported_dir)
    message = str(err.value)
    assert message.startswith("ort-cuda: CUDAExecutionProvider is not active")
    assert message.endswith("or use ort-cpu")
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        # onnxruntime-gpu without its CUDA libraries: onnxruntime's own loader error is quoted
        assert "failed to load libonnxruntime_providers_cuda.so (" in message


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

    def disable_fallback(self):
        pass


def test_silent_cpu_fallback_is_refused(exported_dir, monkeypatch, capfd):
    monkeypatch.setattr(onnxruntime, "InferenceSession", FallbackSession)
    with pytest.raises(RuntimeUnavailableError) as err:
        load_runtime("ort-cuda", exported_dir)
    message = str(err.value)
    assert "(runs on CPUExecutionProvider)" in message
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
    (tmp_path / "other.onnx").write_bytes(ort_loader.identity_model())
    with pytest.raises(ArtifactError, match="not a LeNet export"):
        load_runtime("ort-cpu", tmp_path / "other.onnx")


def test_missing_model_says_how_to_make_it(tmp_path):
    with pytest.raises(ArtifactError, match="lenet-deploy export"):
        load_runtime("ort-cpu", tmp_path)
    (tmp_path / "lenet.pt").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="not a onnx file"):
        load_runtime("ort-cpu", tmp_path / "lenet.pt")


@pytest.mark.slow
def test_large_batches_run_in_chunks(exported_dir, monkeypatch):
    calls = []
    with load_runtime("ort-cpu", exported_dir) as rt:
        real = rt._predict
        monkeypatch.setattr(rt, "_predict", lambda x: calls.append(len(x)) or real(x))
        out = rt.predict(np.zeros((2 * ort_mod.CPU_CHUNK + 5, 1, 32, 32), np.float32))
    assert calls == [ort_mod.CPU_CHUNK, ort_mod.CPU_CHUNK, 5] and out.shape[0] == sum(calls)


@pytest.mark.gpu
def test_ort_cuda_io_binding_matches_cpu(exported_dir, digits):
    reason = ort_loader.cuda_probe()
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
        assert gpu._bindings.sizes()["eager"] == [1, 3, 64, 450, 8]
