"""The onnxruntime family: ``ort-cpu`` and ``ort-cuda``, one runner differing by provider.

The session is built by ``ort_loader``; this module only runs it. Never imports torch.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from ..artifacts import ArtifactKind, engine_failed, resolve
from ..spec import INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from .base import Runtime, validate_batch
from .ort_loader import OrtCudaOptions, OrtOptions, cuda_probe, load_session
from .registry import RuntimeEntry, register_runtime

#: Images per engine call on the CPU: larger batches run in pieces this size, which keeps the
#: activations in cache (measured by benchmarks/large_batch.py).
CPU_CHUNK = 256
MAX_BINDINGS = 8  # buffers kept for this many batch sizes (per thread on the CPU)
#: A CPU binding keeps its last input between calls only up to this many images.
KEEP_INPUT = 64
_PLACEHOLDER = np.zeros((1, 1, 32, 32), np.float32)


@register_runtime(
    "ort-cuda",
    artifact=ArtifactKind.ONNX,
    device="cuda",
    options=OrtCudaOptions,
    probe=cuda_probe,
    description="onnxruntime-gpu, CUDAExecutionProvider with IO binding",
)
@register_runtime(
    "ort-cpu",
    artifact=ArtifactKind.ONNX,
    device="cpu",
    options=OrtOptions,
    description="onnxruntime, CPUExecutionProvider",
)
class OrtRuntime(Runtime):
    """An exported ONNX file in an ``onnxruntime.InferenceSession`` (options: ``OrtOptions``,
    ``OrtCudaOptions``). On CUDA, batches go through IO binding with device buffers reused per
    batch size, and the upload / compute / download phases are separate."""

    def __init__(
        self, artifact: str | os.PathLike, options: OrtOptions, entry: RuntimeEntry
    ) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.name = entry.name
        self._cuda = entry.device == "cuda"
        self.path = resolve(artifact, ArtifactKind.ONNX)
        self._session = load_session(entry.name, self.path, options, cuda=self._cuda)
        self.providers = self._session.get_providers()
        self._options = options
        self._bindings: dict[int, tuple[Any, Any, Any]] = {}
        self._local = threading.local()
        if self._cuda:
            assert isinstance(options, OrtCudaOptions)
            self._device_id = options.device_id
            self.device = f"cuda:{options.device_id}"
            self.timed_phases = True
        else:
            self.chunk_size = CPU_CHUNK

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if self._cuda:
            return self.download(self.compute(self._stage(x)))
        n = len(x)
        try:
            binding = self._local.bindings[n]
        except (AttributeError, KeyError):
            binding = self._cpu_binding(n)
        # IO binding: public, and lighter per call than session.run's Python-side checks. The
        # input is read in place; the output buffer is reused by the next run of this size, so
        # it is copied out.
        try:
            binding.bind_cpu_input(INPUT_NAME, x)
            self._session.run_with_iobinding(binding)
            out = binding.copy_outputs_to_cpu()[0]
        except Exception as exc:  # onnxruntime's own error types: the model failed, not us
            raise engine_failed(self.name, "onnxruntime", self.path, exc) from None
        if x.base is not None or n > KEEP_INPUT:  # a view may pin a caller's whole array
            # (clear_binding_inputs keeps its Python reference: rebinding replaces it)
            binding.bind_cpu_input(INPUT_NAME, _PLACEHOLDER)
        return out

    def _cpu_binding(self, n: int) -> Any:
        # Per thread (a binding holds its input: threads sharing one would run each other's
        # batches) and per batch size (its output buffer has the size of the first run).
        bindings = self._local.__dict__.setdefault("bindings", {})
        if len(bindings) >= MAX_BINDINGS:
            bindings.pop(next(iter(bindings)))
        binding = bindings[n] = self._session.io_binding()
        binding.bind_output(OUTPUT_NAME)
        return binding

    def upload(self, x: Any) -> Any:
        x = validate_batch(x)
        return self._stage(x) if self._cuda else x

    def compute(self, staged: Any) -> Any:
        if not self._cuda:
            return super().compute(staged)
        staged.synchronize_inputs()
        try:
            self._session.run_with_iobinding(staged)
        except Exception as exc:  # as in _predict: the model failed on the device
            raise engine_failed(self.name, "onnxruntime", self.path, exc) from None
        staged.synchronize_outputs()
        return staged

    def download(self, result: Any) -> np.ndarray:
        if not self._cuda:
            return result
        n = result.get_outputs()[0].shape()[0]
        return self._bindings[n][2].numpy()

    def _stage(self, x: np.ndarray) -> Any:
        binding, device_in, _ = self._binding_for(len(x))
        device_in.update_inplace(x)
        return binding

    def _binding_for(self, n: int):
        if n not in self._bindings:
            ort = self._ort
            if len(self._bindings) >= MAX_BINDINGS:  # device memory stays bounded
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
            **super().info(),
            "engine": "onnxruntime",
            "engine_version": self._ort.__version__,
            "providers": self.providers,
            "threads": self._options.threads or options.intra_op_num_threads or "default",
            "graph_optimization": str(options.graph_optimization_level),
        }

    def _close(self) -> None:
        self._bindings.clear()
        del self._local, self._session
