"""ort_diagnose: the one-line reason a CUDA session did not come up."""

import pytest

from lenet_deploy.runtimes import ort_diagnose as diag

LOG = (
    "\x1b[1;31m2026 [E:onnxruntime:Default, provider_bridge_ort.cc:2458] Failed to load library "
    "/x/libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared "
    "object file\x1b[m\n[W:onnxruntime] Failed to create CUDAExecutionProvider. Require cuDNN "
    "9.* and CUDA 13.*. Please install\n"
)


@pytest.mark.parametrize(
    "version, requires, major",
    [
        ("2.13.0+cpu", [], None),
        ("2.11.0+cu130", [], 13),
        ("2.6.0+cu126", [], 12),
        ("2.13.0", ['nvidia-cuda-runtime==13.0.96; platform_system == "Linux"'], 13),
        ("2.13.0", ['nvidia-nccl-cu13==2.29.7; platform_system == "Linux"'], 13),
        # torch 2.13.0's own Linux wheel on PyPI, in its order
        ("2.13.0", ['cuda-toolkit[cublas,cudart]==13.0.3; platform_system == "Linux"'], 13),
        ("2.13.0", ["filelock", "nvidia-cudnn-cu13==9.20.0.48; platform_system == 'Linux'"], 13),
        ("2.5.1", ["filelock", 'nvidia-cublas-cu12==12.4.5.8; platform_system == "Linux"'], 12),
        ("2.13.0", ["filelock", "sympy>=1.13"], None),  # macOS / Windows: no CUDA on PyPI
    ],
)
def test_cuda_major_of_a_torch_build(version, requires, major):
    assert diag.cuda_major_of(version, requires) == major


@pytest.mark.parametrize(
    "version, major",
    [
        ("1.31.1", 13),
        ("1.27.0", 13),
        ("1.26.0", 12),
        ("1.20.2", 12),
        ("1.18.1", None),
        ("dev", None),
    ],
)
def test_onnxruntime_gpu_cuda_major(version, major):
    assert diag.ort_cuda_major(version) == major


def test_driver_version(tmp_path):
    path = tmp_path / "version"
    path.write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build\n"
    )
    assert diag.driver_version(path) == "580.65.06"
    path.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.183.01  Sun May 12\n")
    assert diag.driver_version(path) == "535.183.01"
    assert diag.driver_version(tmp_path / "absent") is None


def test_error_line_drops_codes_and_source_locations():
    trt = RuntimeError(
        "/onnxruntime_src/onnxruntime/python/onnxruntime_pybind_state.cc:729 void "
        "onnxruntime::python::RegisterTensorRTPluginsAsCustomOps(PySessionOptions&, const "
        "onnxruntime::ProviderOptions&) Please install TensorRT libraries as mentioned\nmore"
    )
    assert diag.error_line(trt) == "Please install TensorRT libraries as mentioned"
    fail = RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Failed to create CUDA provider")
    assert diag.error_line(fail) == "Failed to create CUDA provider"


def machine(monkeypatch, torch, driver):
    monkeypatch.setattr(diag, "torch_cuda_major", lambda: torch)
    monkeypatch.setattr(diag, "driver_version", lambda: driver)


def test_failure_names_the_library_the_need_and_what_is_here(monkeypatch):
    machine(monkeypatch, ("2.13.0+cpu", None), None)
    assert diag.cuda_failure(LOG, "1.31.1") == (
        "failed to load libonnxruntime_providers_cuda.so (libcublasLt.so.13: cannot open shared "
        "object file); onnxruntime-gpu 1.31.1 requires cuDNN 9.* and CUDA 13.*; torch "
        "2.13.0+cpu has no CUDA libraries, no NVIDIA driver loaded"
    )


def test_a_cuda12_onnxruntime_beside_a_cuda13_torch(monkeypatch):
    """Python 3.10 resolves onnxruntime-gpu to 1.23 (CUDA 12) while torch 2.13 is CUDA 13."""
    machine(monkeypatch, ("2.13.0", 13), "580.65.06")
    context = diag.cuda_context("1.23.2")
    assert context.startswith("; onnxruntime-gpu 1.23.2 is a CUDA 12 build, torch 2.13.0 brings")
    assert "CUDA 13 libraries, NVIDIA driver 580.65.06" in context
    assert context.endswith("onnxruntime-gpu >= 1.27 (Python >= 3.11) matches torch's CUDA 13")


def test_an_old_driver_is_named(monkeypatch):
    machine(monkeypatch, ("2.13.0", 13), "570.86.10")
    assert "CUDA 13 needs a driver >= 580" in diag.cuda_context("1.31.1")
    machine(monkeypatch, ("2.13.0", 13), "580.65.06")
    assert "needs a driver" not in diag.cuda_context("1.31.1")


def test_only_known_facts_are_told(monkeypatch):
    monkeypatch.setattr(diag, "torch_cuda_major", lambda: (None, None))
    monkeypatch.setattr(diag, "driver_version", lambda: "580.1")
    assert diag.cuda_context("dev") == "; NVIDIA driver 580.1"
