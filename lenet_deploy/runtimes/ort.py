"""The onnxruntime family: ``ort-cpu`` and ``ort-cuda``, two small runners over one base.

The session is built by ``ort_loader``; this module only runs it. ``OrtRuntime`` owns what
both share (the session, its placement, info); ``OrtCpuRuntime`` runs CPU IO bindings per
thread and batch size, optionally on a small-batch session; ``OrtCudaRuntime`` runs device
buffers from ``ort_cuda`` and times upload / compute / download apart. Never imports torch.
"""

from __future__ import annotations

import abc
import os
import threading
from typing import Any

import numpy as np

from ..artifacts.layout import ArtifactKind, engine_failed, resolve
from ..spec import INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from .base import CPU_CHUNK, KEEP_INPUT, Runtime
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

MAX_CPU_BINDINGS = 8  # per thread: output buffers kept for this many batch sizes
_PLACEHOLDER = np.zeros((1, 1, 32, 32), np.float32)


class OrtRuntime(Runtime):
    """An exported ONNX file in an ``onnxruntime.InferenceSession`` that ``_open`` builds."""

    _small: Any = None  # ort-cpu's small-batch session, serving batches up to _small_max
    _small_max = 0

    def __init__(
        self, artifact: str | os.PathLike, options: OrtOptions, entry: RuntimeEntry
    ) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.name = entry.name
        self.path = resolve(artifact, ArtifactKind.ONNX)
        self._session = self._open(options)
        #: where each node runs (``ort_loader.graph_placement``), None if onnxruntime can't tell
        self.placement = graph_placement(self._session)
        self.providers = self._session.get_providers()
        self._options = options

    @abc.abstractmethod
    def _open(self, options: OrtOptions) -> Any:
        """The session to run (through ``ort_loader``), and whatever the runner keeps with it."""

    def _engine_failed(self, exc: Exception) -> Exception:
        # onnxruntime's own error types: the model failed, not the caller's input
        return engine_failed(self.name, "onnxruntime", self.path, exc)

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
            **self._device_info(),
            "small_batch_threads": small if self._small is not None else None,
            "placement": self.placement,
        }

    def _device_info(self) -> dict[str, Any]:
        return {}

    def threads_for(self, batch_size: int) -> Any:
        """The intra-op threads that serve a batch of ``batch_size`` (bench records it)."""
        if batch_size <= self._small_max:
            return SMALL_BATCH_THREADS
        return self.info()["threads"]

    def _close(self) -> None:
        del self._session
        self._small = None


@register_runtime("ort-cpu", options=OrtCpuOptions)
class OrtCpuRuntime(OrtRuntime):
    """onnxruntime, CPUExecutionProvider

    Runs through IO binding; small batches may run on a second session with fewer threads
    (``OrtCpuOptions.small_batch``)."""

    chunk_size = CPU_CHUNK

    def _open(self, options: OrtOptions) -> Any:
        assert isinstance(options, OrtCpuOptions)
        self._local = threading.local()
        session, self._small, self._small_max = cpu_sessions(self.name, self.path, options)
        return session

    def _predict(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        try:
            session, binding, logits = self._local.bindings[n]
        except (AttributeError, KeyError):
            session, binding, logits = self._binding(n)
        # IO binding: public, and lighter per call than session.run's Python-side checks. The
        # input is read in place; the output lands in this size's own buffer, which the next
        # run reuses, so it is copied out.
        try:
            binding.bind_cpu_input(INPUT_NAME, x)
            session.run_with_iobinding(binding)
            out = logits.copy()
        except Exception as exc:
            raise self._engine_failed(exc) from None
        if x.base is not None or n > KEEP_INPUT:
            # clear_binding_inputs keeps its Python reference: rebinding replaces it
            binding.bind_cpu_input(INPUT_NAME, _PLACEHOLDER)
        return out

    def _binding(self, n: int) -> tuple[Any, Any, np.ndarray]:
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

    def _close(self) -> None:
        del self._local
        super()._close()


@register_runtime("ort-cuda", device="cuda", options=OrtCudaOptions, probe=cuda_probe)
class OrtCudaRuntime(OrtRuntime):
    """onnxruntime-gpu, CUDAExecutionProvider with IO binding

    Device buffers are reused per (thread, batch size), CUDA graphs run on request, and the
    upload / compute / download phases are separate."""

    timed_phases = True

    def _open(self, options: OrtOptions) -> Any:
        assert isinstance(options, OrtCudaOptions)
        session = load_session(self.name, self.path, options, cuda=True)
        self.device = f"cuda:{options.device_id}"
        self._bindings = OrtCudaBindings(
            self._ort, session, options.device_id, graphs=options.cuda_graphs
        )
        return session

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self.download(self.compute(self._upload(x)))

    def _upload(self, x: np.ndarray) -> Any:
        binding = self._bindings.get(len(x))
        binding.device_in.update_inplace(x)  # a synchronous copy: finished when it returns
        return binding

    def compute(self, staged: Any) -> Any:
        self._check_open("compute")
        staged.io.synchronize_inputs()
        try:
            # Run synchronises the CUDA stream before returning (onnxruntime's default)
            with self._bindings.run_lock:
                self._session.run_with_iobinding(staged.io, staged.run_options)
        except Exception as exc:  # as on the CPU: the model failed on the device
            raise self._engine_failed(exc) from None
        staged.io.synchronize_outputs()
        return staged

    def download(self, result: Any) -> np.ndarray:
        return result.device_out.numpy()

    def _device_info(self) -> dict[str, Any]:
        return {"cuda_graphs": self._bindings.graphs}

    def _close(self) -> None:
        self._bindings.clear()
        super()._close()
