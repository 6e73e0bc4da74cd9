"""The onnxruntime family: ``ort-cpu`` and ``ort-cuda``, one runner differing by provider.

The session is built by ``ort_loader``; this module only runs it. Never imports torch.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..artifacts import ArtifactKind, engine_failed, resolve
from ..spec import INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from .base import Runtime, validate_batch
from .ort_loader import (
    SMALL_BATCH_THREADS,
    OrtCpuOptions,
    OrtCudaOptions,
    OrtOptions,
    cpu_sessions,
    cuda_probe,
    graph_placement,
    load_session,
)
from .registry import RuntimeEntry, register_runtime

#: Images per engine call on the CPU: larger batches run in pieces this size, which keeps the
#: activations in cache (measured by benchmarks/large_batch.py).
CPU_CHUNK = 256
MAX_BINDINGS = 8  # device buffers kept for this many batch sizes


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
    options=OrtCpuOptions,
    description="onnxruntime, CPUExecutionProvider",
)
class OrtRuntime(Runtime):
    """An exported ONNX file in an ``onnxruntime.InferenceSession`` (options: ``OrtCpuOptions``,
    ``OrtCudaOptions``). On CUDA, batches go through IO binding with device buffers reused per
    batch size, and the upload / compute / download phases are separate. On the CPU, small
    batches may run on a second, 1-thread session (``OrtCpuOptions.small_batch``)."""

    _small: Any = None  # the small-batch ort-cpu session, serving batches up to _small_max
    _small_max = 0

    def __init__(
        self, artifact: str | os.PathLike, options: OrtOptions, entry: RuntimeEntry
    ) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.name = entry.name
        self._cuda = entry.device == "cuda"
        self.path = resolve(artifact, ArtifactKind.ONNX)
        if self._cuda:
            self._session = load_session(entry.name, self.path, options, cuda=True)
        else:
            assert isinstance(options, OrtCpuOptions)
            self._session, self._small, self._small_max = cpu_sessions(
                entry.name, self.path, options
            )
        #: where each node runs (``ort_loader.graph_placement``), None if onnxruntime can't tell
        self.placement = graph_placement(self._session)
        self.providers = self._session.get_providers()
        self._options = options
        self._bindings: dict[int, tuple[Any, Any, Any]] = {}
        if self._cuda:
            assert isinstance(options, OrtCudaOptions)
            self._device_id = options.device_id
            self.device = f"cuda:{options.device_id}"
            self.timed_phases = True
        else:
            self.chunk_size = CPU_CHUNK
        self._outputs = [OUTPUT_NAME]

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if self._cuda:
            return self.download(self.compute(self._stage(x)))
        session = self._small if len(x) <= self._small_max else self._session
        try:
            return session.run(self._outputs, {INPUT_NAME: x})[0]
        except Exception as exc:  # onnxruntime's own error types: the model failed, not us
            raise engine_failed(self.name, "onnxruntime", self.path, exc) from None

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
        small = {"up_to_batch": self._small_max, "threads": SMALL_BATCH_THREADS}
        return {
            **super().info(),
            "engine": "onnxruntime",
            "engine_version": self._ort.__version__,
            "providers": self.providers,
            "threads": self._options.threads or options.intra_op_num_threads or "default",
            "graph_optimization": str(options.graph_optimization_level),
            "small_batch_threads": small if self._small is not None else None,
            "placement": self.placement,
        }

    def threads_for(self, batch_size: int) -> Any:
        """The intra-op threads that serve a batch of ``batch_size`` (bench records it)."""
        if batch_size <= self._small_max:
            return SMALL_BATCH_THREADS
        return self.info()["threads"]

    def _close(self) -> None:
        self._bindings.clear()
        del self._session
        self._small = None
