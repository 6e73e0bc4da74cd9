"""The onnxruntime family: ``ort-cpu`` and ``ort-cuda``, one runner differing by provider.

The session is built by ``ort_loader``; this module only runs it. Never imports torch.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..artifacts import ArtifactKind, engine_failed, resolve
from ..spec import INPUT_NAME, OUTPUT_NAME
from .base import Runtime
from .ort_cuda import OrtCudaBindings
from .ort_loader import OrtCudaOptions, OrtOptions, cuda_probe, load_session
from .registry import RuntimeEntry, register_runtime

#: Images per engine call on the CPU: larger batches run in pieces this size, which keeps the
#: activations in cache (measured by benchmarks/large_batch.py).
CPU_CHUNK = 256


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
        if self._cuda:
            assert isinstance(options, OrtCudaOptions)
            self.device = f"cuda:{options.device_id}"
            self.timed_phases = True
            self._bindings = OrtCudaBindings(
                ort, self._session, options.device_id, graphs=options.cuda_graphs
            )
        else:
            self.chunk_size = CPU_CHUNK
        self._outputs = [OUTPUT_NAME]

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if self._cuda:
            return self.download(self.compute(self._upload(x)))
        try:
            return self._session.run(self._outputs, {INPUT_NAME: x})[0]
        except Exception as exc:  # onnxruntime's own error types: the model failed, not us
            raise engine_failed(self.name, "onnxruntime", self.path, exc) from None

    def _upload(self, x: np.ndarray) -> Any:
        if not self._cuda:
            return x
        binding = self._bindings.get(len(x))
        binding.device_in.update_inplace(x)  # a synchronous copy: finished when it returns
        return binding

    def compute(self, staged: Any) -> Any:
        if not self._cuda:
            return super().compute(staged)
        self._check_open("compute")
        staged.io.synchronize_inputs()
        try:
            # Run synchronises the CUDA stream before returning (onnxruntime's default)
            with self._bindings.run_lock:
                self._session.run_with_iobinding(staged.io, staged.run_options)
        except Exception as exc:  # as in _predict: the model failed on the device
            raise engine_failed(self.name, "onnxruntime", self.path, exc) from None
        staged.io.synchronize_outputs()
        return staged

    def download(self, result: Any) -> np.ndarray:
        return result.device_out.numpy() if self._cuda else result

    def info(self) -> dict[str, Any]:
        options = self._session.get_session_options()
        return {
            **super().info(),
            "engine": "onnxruntime",
            "engine_version": self._ort.__version__,
            "providers": self.providers,
            "threads": self._options.threads or options.intra_op_num_threads or "default",
            "graph_optimization": str(options.graph_optimization_level),
            **({"cuda_graphs": self._bindings.graphs} if self._cuda else {}),
        }

    def _close(self) -> None:
        if self._cuda:
            self._bindings.clear()
        del self._session
