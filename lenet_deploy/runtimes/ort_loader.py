"""Builds onnxruntime sessions for the ``ort-*`` runtimes: options, providers, CUDA diagnosis.

onnxruntime silently falls back to the CPU when the CUDA provider cannot load (it lists
``CUDAExecutionProvider`` as available even without a GPU). So a CUDA session is checked with
``session.get_providers()`` after it is created and refused with the reason onnxruntime logged,
instead of quietly returning CPU results. Public onnxruntime APIs only; the model file is
loaded as it is. Never imports torch; onnxruntime is imported by the functions that need it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .._io import check_outputs
from ..artifacts import check_lenet_signature, unloadable_model
from ..errors import RuntimeUnavailableError, first_line
from .options import ThreadOptions

CUDA_FIX = (
    "install the CUDA 13 and cuDNN 9 libraries onnxruntime-gpu needs (system-wide, or the "
    "nvidia-* pip packages a CUDA build of torch brings), or use ort-cpu"
)
_OPT_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "layout": "ORT_ENABLE_LAYOUT",
    "all": "ORT_ENABLE_ALL",
}


@dataclass(frozen=True)
class OrtOptions(ThreadOptions):
    """``ort-cpu`` options. ``threads``: intra-op threads (None: onnxruntime's own);
    ``graph_optimization``: onnxruntime's level; ``spinning``: idle intra-op threads spin, as
    onnxruntime does by default; ``optimized_model_path``: also save the optimised graph there."""

    graph_optimization: Literal["disable", "basic", "extended", "layout", "all"] = "all"
    spinning: bool = True
    optimized_model_path: str | None = None


@dataclass(frozen=True)
class OrtCudaOptions(OrtOptions):
    """``ort-cuda`` options: those of ``ort-cpu`` plus the CUDA device, cuDNN's convolution
    algorithm search, TF32 (off by default, so fp32 parity holds) and ``cuda_graphs`` (False:
    capture one CUDA graph per batch size, up to ``ort.MAX_GRAPHS``; off until graph-vs-eager
    parity has been confirmed on a GPU by the gpu tests)."""

    device_id: int = 0
    cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = "EXHAUSTIVE"
    use_tf32: bool = False
    cuda_graphs: bool = False


def load_session(name: str, path: Path, options: OrtOptions, *, cuda: bool):
    """An InferenceSession for the LeNet export at ``path`` with explicit providers.

    Raises ArtifactError for a file that is not a loadable LeNet export and
    RuntimeUnavailableError when a CUDA session would silently run on the CPU.
    """
    import onnxruntime as ort

    session_options = ort.SessionOptions()
    if options.threads is not None:
        session_options.intra_op_num_threads = options.threads
    level = getattr(ort.GraphOptimizationLevel, _OPT_LEVELS[options.graph_optimization], None)
    # older onnxruntime has no "layout" level
    session_options.graph_optimization_level = level or ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    spin = "1" if options.spinning else "0"
    session_options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    if options.optimized_model_path:
        # never over the export itself (or another known artifact): it would become CPU-only
        check_outputs([(options.optimized_model_path, "optimized onnx")], [path])
        session_options.optimized_model_filepath = str(options.optimized_model_path)
    # External data resolves against the model's own folder, never the current directory.
    session_options.add_session_config_entry(
        "session.model_external_initializers_file_folder_path", str(Path(path).parent.resolve())
    )
    if not cuda:
        session = _create(ort, name, path, session_options, ["CPUExecutionProvider"])
    else:
        assert isinstance(options, OrtCudaOptions)
        cuda_options = {
            "device_id": options.device_id,
            "cudnn_conv_algo_search": options.cudnn_conv_algo_search,
            "use_tf32": int(options.use_tf32),
            "enable_cuda_graph": int(options.cuda_graphs),
        }
        providers = [("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]
        _preload_cuda_libraries(ort)
        # Only here is fd 2 redirected: onnxruntime logs why the CUDA provider failed there.
        with _capture_stderr() as logged:
            session = _create(ort, name, path, session_options, providers)
        active = session.get_providers()
        if not active or active[0] != "CUDAExecutionProvider":
            raise RuntimeUnavailableError(
                f"{name}: CUDAExecutionProvider is not active (session runs on "
                f"{', '.join(active)}): {_cuda_failure(logged(), ort)}; {CUDA_FIX}"
            )
    check_signature(session, name, path)
    return session


def _create(ort, name: str, path: Path, session_options, providers):
    try:
        return ort.InferenceSession(str(path), session_options, providers=providers)
    except Exception as exc:
        raise unloadable_model(name, path, first_line(exc)) from None


def check_signature(session, name: str, path) -> None:
    """ArtifactError unless the session takes ``image`` [N, 1, 32, 32] and gives float32
    ``logits`` [N, 10]."""

    def tensors(args):
        return [
            (frozenset([a.name]), tuple(str(d) for d in a.shape), a.type == "tensor(float)")
            for a in args
        ]

    check_lenet_signature(name, path, tensors(session.get_inputs()), tensors(session.get_outputs()))


def _preload_cuda_libraries(ort) -> None:
    """Let onnxruntime find CUDA/cuDNN from pip packages (e.g. a CUDA torch's nvidia-*)."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        try:
            preload()
        except Exception:  # missing libraries are diagnosed by the provider check that follows
            pass


@contextlib.contextmanager
def _capture_stderr() -> Iterator[Any]:
    """Capture what native code writes to file descriptor 2 (onnxruntime's logger)."""
    captured: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield lambda: "".join(captured)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cuda_failure(log: str, ort) -> str:
    """The one reason worth showing from onnxruntime's log, e.g. a missing libcublasLt.so.13."""
    log = _ANSI.sub("", log)
    match = re.search(r"Failed to load library (\S+) with error: ([^\n]+)", log)
    if match:
        reason = f"failed to load {os.path.basename(match.group(1))} ({match.group(2).strip()})"
    else:
        errors = [
            line.split("] ", 1)[-1].strip()
            for line in log.splitlines()
            if ":E:" in line or "[E:" in line or "Failed to create CUDAExecutionProvider" in line
        ]
        reason = errors[0] if errors else "onnxruntime fell back to the CPU without logging why"
    need = re.search(r"Require (cuDNN [\d.*]+ and CUDA [\d.*]+)", log)
    if need:
        reason += f"; onnxruntime-gpu {ort.__version__} requires {need.group(1).rstrip('.')}"
    return reason


def cuda_probe() -> str | None:
    """None if ort-cuda can run here, else the reason (creates a one-node session to find out)."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return (
            f"this onnxruntime {ort.__version__} build has no CUDAExecutionProvider "
            "(install onnxruntime-gpu instead of onnxruntime)"
        )
    _preload_cuda_libraries(ort)
    with _capture_stderr() as logged:
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        session = ort.InferenceSession(identity_model(), providers=providers)
    active = session.get_providers()
    if active and active[0] == "CUDAExecutionProvider":
        return None
    return f"CUDAExecutionProvider failed to load: {_cuda_failure(logged(), ort)}; {CUDA_FIX}"


def identity_model() -> bytes:
    """A one-node ONNX model (y = x) to probe a provider with."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what every onnxruntime >= 1.14 reads
    return model.SerializeToString()
