"""The onnxruntime family: ``ort-cpu`` and ``ort-cuda``, one runner differing by provider.

The session is built by ``ort_loader``; this module only runs it. Never imports torch.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from ..artifacts.layout import ArtifactKind, engine_failed, resolve
from ..exporters.variants import file_precision
from ..spec import INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from .base import KEEP_INPUT, Runtime
from .ort_cuda import OrtCudaBindings
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
MAX_CPU_BINDINGS = 8  # per thread: output buffers kept for this many batch sizes
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
    options=OrtCpuOptions,
    description="onnxruntime, CPUExecutionProvider",
)
class OrtRuntime(Runtime):
    """An exported ONNX file in an ``onnxruntime.InferenceSession`` (options: ``OrtCpuOptions``,
    ``OrtCudaOptions``). On CUDA, batches go through IO binding with device buffers reused per
    batch size, and the upload / compute / download phases are separate. On the CPU, small
    batches may run on a second session with fewer threads (``OrtCpuOptions.small_batch``)."""

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
        # what the file computes in (a precision variant says so in its metadata)
        self.precision = file_precision(self._session.get_modelmeta().custom_metadata_map)
        #: where each node runs (``ort_loader.graph_placement``), None if onnxruntime can't tell
        self.placement = graph_placement(self._session)
        self.providers = self._session.get_providers()
        self._options = options
        self._local = threading.local()
        if self._cuda:
            assert isinstance(options, OrtCudaOptions)
            self.device = f"cuda:{options.device_id}"
            self.timed_phases = True
            self._bindings = OrtCudaBindings(
                ort, self._session, options.device_id, graphs=options.cuda_graphs
            )
        else:
            self.chunk_size = CPU_CHUNK

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if self._cuda:
            return self.download(self.compute(self._upload(x)))
        n = len(x)
        try:
            session, binding, logits = self._local.bindings[n]
        except (AttributeError, KeyError):
            session, binding, logits = self._cpu_binding(n)
        # IO binding: public, and lighter per call than session.run's Python-side checks. The
        # input is read in place; the output lands in this size's own buffer, which the next
        # run reuses, so it is copied out.
        try:
            binding.bind_cpu_input(INPUT_NAME, x)
            session.run_with_iobinding(binding)
            out = logits.copy()
        except Exception as exc:  # onnxruntime's own error types: the model failed, not us
            raise engine_failed(self.name, "onnxruntime", self.path, exc) from None
        if x.base is not None or n > KEEP_INPUT:
            # clear_binding_inputs keeps its Python reference: rebinding replaces it
            binding.bind_cpu_input(INPUT_NAME, _PLACEHOLDER)
        return out

    def _cpu_binding(self, n: int) -> tuple[Any, Any, np.ndarray]:
        # Per thread (a binding holds its input: threads sharing one would run each other's
        # batches) and per batch size (its output buffer has that size, and the size picks the
        # session: small batches may have their own).
        bindings = self._local.__dict__.setdefault("bindings", {})
        if len(bindings) >= MAX_CPU_BINDINGS:
            bindings.pop(next(iter(bindings)))
        session = self._small if n <= self._small_max else self._session
        binding, logits = session.io_binding(), np.empty((n, NUM_CLASSES), np.float32)
        binding.bind_ortvalue_output(OUTPUT_NAME, self._ort.OrtValue.ortvalue_from_numpy(logits))
        bindings[n] = session, binding, logits
        return bindings[n]

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
        small = {"up_to_batch": self._small_max, "threads": SMALL_BATCH_THREADS}
        return {
            **super().info(),
            "engine": "onnxruntime",
            "engine_version": self._ort.__version__,
            "providers": self.providers,
            "threads": self._options.threads or options.intra_op_num_threads or "default",
            "graph_optimization": str(options.graph_optimization_level),
            **({"cuda_graphs": self._bindings.graphs} if self._cuda else {}),
            "small_batch_threads": small if self._small is not None else None,
            "placement": self.placement,
        }

    def threads_for(self, batch_size: int) -> Any:
        """The intra-op threads that serve a batch of ``batch_size`` (bench records it)."""
        if batch_size <= self._small_max:
            return SMALL_BATCH_THREADS
        return self.info()["threads"]

    def _close(self) -> None:
        if self._cuda:
            self._bindings.clear()
        del self._local, self._session
        self._small = None
