"""The onnxruntime family: ``ort-cpu`` and ``ort-cuda``, one class differing by provider.

Never imports torch. onnxruntime is imported when a runtime is created or probed.

onnxruntime silently falls back to the CPU when the CUDA provider cannot load (it lists
``CUDAExecutionProvider`` as available even without a GPU). So ``ort-cuda`` checks
``session.get_providers()`` after creating the session and refuses with the reason onnxruntime
logged, instead of quietly returning CPU results.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Iterator
from typing import Any, NoReturn

import numpy as np

from .._io import check_outputs
from ..artifacts import DEFAULT_DIR, resolve
from ..errors import ArtifactError, RuntimeUnavailableError, first_line
from ..spec import INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from .base import Runtime, ensure_finite, validate_batch
from .registry import RuntimeEntry

CUDA_FIX = (
    "install the CUDA 13 and cuDNN 9 libraries onnxruntime-gpu needs (system-wide, or the "
    "nvidia-* pip packages a CUDA build of torch brings), or use ort-cpu"
)
CHECK_NAME = "lenet_deploy_input_sum_squares"
OPT_LEVELS = ("disable", "basic", "extended", "layout", "all")
CUDNN_SEARCH = ("EXHAUSTIVE", "HEURISTIC", "DEFAULT")


class OrtRuntime(Runtime):
    """An ONNX file in an ``onnxruntime.InferenceSession`` with explicit providers.

    Options (all runtimes): ``threads`` (intra-op threads, default: onnxruntime's own),
    ``graph_optimization`` (one of ``OPT_LEVELS``, default "all"), ``spinning`` (let idle
    intra-op threads spin, default True as onnxruntime does), ``optimized_model_path`` (save the
    optimised graph there; on ort-cpu it includes the input-check output, and this adapter
    loads it back as it is). CUDA only: ``device_id`` (0), ``cudnn_conv_algo_search``
    ("EXHAUSTIVE"), ``use_tf32`` (False, so fp32 parity holds).
    """

    def __init__(
        self,
        artifact: str | os.PathLike = DEFAULT_DIR,
        *,
        provider: str = "cpu",
        threads: int | None = None,
        graph_optimization: str = "all",
        spinning: bool = True,
        optimized_model_path: str | None = None,
        device_id: int = 0,
        cudnn_conv_algo_search: str = "EXHAUSTIVE",
        use_tf32: bool = False,
    ) -> None:
        import onnxruntime as ort

        self._ort = ort
        self._cuda = provider == "cuda"
        self.name = "ort-cuda" if self._cuda else "ort-cpu"
        self.device = f"cuda:{device_id}" if self._cuda else "cpu"
        if graph_optimization not in OPT_LEVELS:
            raise ArtifactError(
                f"{self.name}: graph_optimization must be one of "
                f"{', '.join(OPT_LEVELS)}; got {graph_optimization!r}"
            )
        self.path = resolve(artifact, "onnx")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        options.graph_optimization_level = _opt_level(ort, graph_optimization)
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if spinning else "0"
        )
        if optimized_model_path:
            check_outputs([(optimized_model_path, "optimized onnx")], [self.path])
            options.optimized_model_filepath = str(optimized_model_path)
        # The model is given to onnxruntime as bytes (with the input check appended): external
        # data must then resolve against the model's own folder, never the current directory.
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", str(self.path.parent.resolve())
        )
        if self._cuda:
            if cudnn_conv_algo_search not in CUDNN_SEARCH:
                raise ArtifactError(
                    f"ort-cuda: cudnn_conv_algo_search must be one of {', '.join(CUDNN_SEARCH)}"
                )
            cuda_options = {
                "device_id": int(device_id),
                "cudnn_conv_algo_search": cudnn_conv_algo_search,
                "use_tf32": int(bool(use_tf32)),
            }
            providers = [("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]
            _preload_cuda_libraries(ort)
        else:
            providers = ["CPUExecutionProvider"]
        # On the CPU the input's finiteness check runs inside the same session run (see
        # _with_input_check); on CUDA the input is checked on the host before the copy.
        self.engine_checks_finite = not self._cuda
        model: str | bytes = str(self.path)
        if self.engine_checks_finite:
            model = _with_input_check(self.path.read_bytes())
        with _capture_stderr() as logged:
            try:
                session = ort.InferenceSession(model, options, providers=providers)
            except Exception:
                self._refuse_unloadable(ort, options, providers)
        active = session.get_providers()
        if self._cuda and (not active or active[0] != "CUDAExecutionProvider"):
            raise RuntimeUnavailableError(
                f"ort-cuda: CUDAExecutionProvider is not active (session runs on "
                f"{', '.join(active)}): {_cuda_failure(logged(), ort)}; {CUDA_FIX}"
            )
        _check_signature(session, self.name, self.path)
        self._session = session
        # The C binding behind InferenceSession.run: the Python wrapper re-validates input names
        # on every call (~3 us at batch 1), which Runtime.predict has already done.
        self._run = getattr(session, "_sess", session).run
        self._outputs = [OUTPUT_NAME, CHECK_NAME]
        self.providers = active
        self._threads = threads
        self._bindings: dict[int, tuple[Any, Any, Any]] = {}
        self._device_id = int(device_id)

    def _refuse_unloadable(self, ort, options, providers) -> NoReturn:
        """Say why the session could not be created. The file is loaded as it is (without the
        input check, which needs an input named "image") to tell "not an ONNX model" from "an
        ONNX model, but not a LeNet export"."""
        try:
            session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:
            raise ArtifactError(
                f"{self.name}: {str(self.path)!r} is not a loadable ONNX model "
                f"({first_line(exc)}); re-create it with 'lenet-deploy export'"
            ) from None
        _check_signature(session, self.name, self.path)
        raise ArtifactError(f"{self.name}: {str(self.path)!r} could not take the input check")

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if self._cuda:
            return self.download(self.compute(self.upload(x, validated=True)))
        # On the CPU the session always has the check output (engine_checks_finite).
        try:
            logits, sum_squares = self._run(self._outputs, {INPUT_NAME: x}, None)
        except Exception as exc:  # onnxruntime's own error types; the model failed, not us
            raise ArtifactError(
                f"{self.name}: onnxruntime failed to run {str(self.path)!r} ({first_line(exc)}); "
                "re-create it with 'lenet-deploy export'"
            ) from None
        if not math.isfinite(sum_squares):
            ensure_finite(x)  # raises for NaN/inf; huge finite pixels that overflowed pass
        return logits

    # CUDA path: IO binding with device buffers reused per batch size, so the input copy goes
    # straight into a preallocated device buffer and the output stays on the device until
    # download(). Phases are separate so benchmarks can time H2D / compute / D2H.
    def upload(self, x: np.ndarray, validated: bool = False) -> Any:
        x = x if validated else validate_batch(x)
        if not self._cuda:
            return x
        binding, device_in, _ = self._binding_for(len(x))
        device_in.update_inplace(x)
        return binding

    def compute(self, staged: Any) -> Any:
        if not self._cuda:
            return self._predict(staged)
        staged.synchronize_inputs()
        self._session.run_with_iobinding(staged)
        staged.synchronize_outputs()
        return staged

    def download(self, result: Any) -> np.ndarray:
        if not self._cuda:
            return result
        n = result.get_outputs()[0].shape()[0]
        return self._bindings[n][2].numpy()

    def _binding_for(self, n: int):
        if n not in self._bindings:
            ort = self._ort
            if len(self._bindings) >= 8:  # keep device memory bounded for many batch sizes
                self._bindings.pop(next(iter(self._bindings)))
            device_in = ort.OrtValue.ortvalue_from_shape_and_type(
                (n, 1, 32, 32), np.float32, "cuda", self._device_id
            )
            device_out = ort.OrtValue.ortvalue_from_shape_and_type(
                (n, NUM_CLASSES), np.float32, "cuda", self._device_id
            )
            binding = self._session.io_binding()
            binding.bind_ortvalue_input(INPUT_NAME, device_in)
            binding.bind_ortvalue_output(OUTPUT_NAME, device_out)
            self._bindings[n] = (binding, device_in, device_out)
        return self._bindings[n]

    def info(self) -> dict[str, Any]:
        options = self._session.get_session_options()
        return {
            "name": self.name,
            "device": self.device,
            "engine": "onnxruntime",
            "engine_version": self._ort.__version__,
            "providers": self.providers,
            "threads": self._threads or options.intra_op_num_threads or "default",
            "graph_optimization": str(options.graph_optimization_level),
        }

    def _close(self) -> None:
        self._bindings.clear()
        del self._session, self._run


def _with_input_check(model: bytes) -> bytes:
    """The model plus a second output ``CHECK_NAME``: ReduceSumSquare of the input, a scalar.

    It is finite when the batch is (pixels in [0, 1] cannot overflow it) and NaN or inf when
    any pixel is, and it is computed in the same session run as the logits: a numpy scan of the
    input costs ~5 us next to a ~40 us inference at batch 1, one more kernel ~1 us. (Folding
    the check into the logits instead takes three kernels and measured slower.) Built without
    the onnx package, which adds ~0.1 s to import, by appending a second serialized ``graph``
    field: protobuf merges repeated occurrences of a message field by concatenating its
    repeated fields, so this adds one node and one graph output.
    """
    if CHECK_NAME.encode() in model:  # e.g. a saved optimised model made by this adapter
        return model
    keepdims = _pb_bytes(1, b"keepdims") + _pb_varint(3, 0) + _pb_varint(20, 2)  # INT 0
    node = (
        _pb_bytes(1, INPUT_NAME.encode())
        + _pb_bytes(2, CHECK_NAME.encode())
        + _pb_bytes(4, b"ReduceSumSquare")
        + _pb_bytes(5, keepdims)
    )  # NodeProto: input, output, op_type, attribute
    tensor_type = _pb_bytes(1, _pb_varint(1, 1))  # TypeProto.tensor_type{elem_type: FLOAT}
    output = _pb_bytes(1, CHECK_NAME.encode()) + _pb_bytes(2, tensor_type)
    graph = _pb_bytes(1, node) + _pb_bytes(12, output)  # GraphProto.node, GraphProto.output
    return model + _pb_bytes(7, graph)  # ModelProto.graph


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _pb_bytes(field_number: int, payload: bytes) -> bytes:
    return _varint(field_number << 3 | 2) + _varint(len(payload)) + payload


def _pb_varint(field_number: int, value: int) -> bytes:
    return _varint(field_number << 3) + _varint(value)


def _opt_level(ort, name: str):
    levels = {
        "disable": "ORT_DISABLE_ALL",
        "basic": "ORT_ENABLE_BASIC",
        "extended": "ORT_ENABLE_EXTENDED",
        "layout": "ORT_ENABLE_LAYOUT",
        "all": "ORT_ENABLE_ALL",
    }
    level = getattr(ort.GraphOptimizationLevel, levels[name], None)
    if level is None:  # older onnxruntime without the "layout" level
        level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return level


def _check_signature(session, name: str, path) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    in_ok = len(inputs) == 1 and inputs[0].name == INPUT_NAME and inputs[0].shape[1:] == [1, 32, 32]
    logits = [o for o in outputs if o.name == OUTPUT_NAME]
    out_ok = bool(logits) and logits[0].type == "tensor(float)"
    out_ok = out_ok and len(logits[0].shape) == 2 and logits[0].shape[1] == NUM_CLASSES
    if not (in_ok and out_ok):
        got = ", ".join(f"{i.name}{i.shape}" for i in inputs)
        got += " -> " + ", ".join(f"{o.name}{o.shape} {o.type}" for o in outputs)
        raise ArtifactError(
            f"{name}: {str(path)!r} is not a LeNet export ({got}; expected "
            f"{INPUT_NAME}[batch, 1, 32, 32] -> {OUTPUT_NAME}[batch, {NUM_CLASSES}] "
            "tensor(float)); re-create it with 'lenet-deploy export'"
        )


def _preload_cuda_libraries(ort) -> None:
    """Let onnxruntime find CUDA/cuDNN from pip packages (e.g. a CUDA torch's nvidia-*)."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    with _capture_stderr(), contextlib.redirect_stdout(open(os.devnull, "w")):  # noqa: SIM115
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
        session = ort.InferenceSession(_IDENTITY_MODEL(), providers=providers)
    active = session.get_providers()
    if active and active[0] == "CUDAExecutionProvider":
        return None
    return f"CUDAExecutionProvider failed to load: {_cuda_failure(logged(), ort)}; {CUDA_FIX}"


def _IDENTITY_MODEL() -> bytes:  # noqa: N802 - a constant, built lazily
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what every onnxruntime >= 1.14 reads
    return model.SerializeToString()


def _factory(provider: str):
    def factory(artifact: str | os.PathLike = DEFAULT_DIR, **options: Any) -> OrtRuntime:
        return OrtRuntime(artifact, provider=provider, **options)

    return factory


ENTRIES = [
    RuntimeEntry("ort-cpu", _factory("cpu"), None, "onnxruntime, CPUExecutionProvider"),
    RuntimeEntry(
        "ort-cuda",
        _factory("cuda"),
        cuda_probe,
        "onnxruntime-gpu, CUDAExecutionProvider with IO binding",
    ),
]
