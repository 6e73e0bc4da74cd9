"""The torch family: ``torch-cpu`` and ``torch-cuda``, two small classes over one base.

``TorchRuntime`` loads the checkpoint onto a device and owns what both share (threads, info,
restoring process-wide switches); ``TorchCpuRuntime`` runs eager forward passes in chunks of
``CPU_CHUNK``; ``TorchCudaRuntime`` hands batches to ``torch_cuda.CudaEngine`` and times
upload / compute / download apart.

torch is imported when a runtime is created or probed, never at module import; without it (the
``[train]`` extra) both runtimes are listed as unavailable with the install command. torch's thread
count and TF32 switches are process-wide: a runtime that changes them restores them on close.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._optional import missing_reason
from ..artifacts.layout import ArtifactKind, resolve
from ..errors import RuntimeUnavailableError
from .base import CPU_CHUNK, Runtime
from .options import ThreadOptions
from .registry import RuntimeEntry, register_runtime


@dataclass(frozen=True)
class TorchOptions(ThreadOptions):
    """``torch-cpu``: ``threads`` (intra-op threads while this runtime is open; None: torch's
    own)."""


@dataclass(frozen=True)
class TorchCudaOptions(TorchOptions):
    """``torch-cuda``: also ``device_id`` (0), ``allow_tf32`` (False, so fp32 parity holds),
    ``cuda_graphs`` (False: capture and replay one CUDA graph per batch size; off until
    graph-vs-eager parity has been confirmed on a GPU by the gpu tests) and ``overlap_chunk``
    (256: images per chunk whose copies overlap the previous chunk's kernels)."""

    device_id: int = 0
    allow_tf32: bool = False
    cuda_graphs: bool = False
    overlap_chunk: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.overlap_chunk < 1:
            raise ValueError(f"overlap_chunk must be >= 1, got {self.overlap_chunk}")


CHECKPOINT = ArtifactKind.CHECKPOINT


def torch_probe() -> str | None:
    """``torch-cpu``'s availability: None when torch is installed."""
    return torch_missing("torch-cpu")


def cuda_probe() -> str | None:
    """``torch-cuda``'s availability: None when torch can run on cuda:0."""
    return cuda_unavailable_reason(0)


class TorchRuntime(Runtime):
    """LeNet in eager PyTorch, eval mode, on the device ``_device_for`` picks."""

    def __init__(
        self, artifact: str | os.PathLike, options: TorchOptions, entry: RuntimeEntry
    ) -> None:
        self.name = entry.name
        reason = torch_missing(self.name)
        if reason:
            raise RuntimeUnavailableError(reason)
        torch = self._torch = import_torch()
        self._restore: list[tuple[Any, str, Any]] = []
        self._device = self._device_for(options)
        self.device = str(self._device)
        self.path = resolve(artifact, CHECKPOINT)
        model, self.metadata = load_model(self.path)
        self._model = model.to(self._device).eval()
        if options.threads is not None:
            self._restore.append((torch, "threads", torch.get_num_threads()))
            torch.set_num_threads(options.threads)
        self._threads = torch.get_num_threads()

    @abc.abstractmethod
    def _device_for(self, options: TorchOptions) -> Any:
        """The ``torch.device`` to load on, or RuntimeUnavailableError saying why not."""

    def _set(self, owner: Any, attribute: str, value: Any) -> None:
        """Set a process-wide switch until close, which restores it."""
        self._restore.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, value)

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "engine": "torch",
            "engine_version": str(self._torch.__version__),
            "threads": self._threads,
        }

    def _close(self) -> None:
        del self._model
        for owner, attribute, value in reversed(self._restore):
            if attribute == "threads":
                owner.set_num_threads(value)
            else:
                setattr(owner, attribute, value)


@register_runtime("torch-cpu", artifact=CHECKPOINT, options=TorchOptions, probe=torch_probe)
class TorchCpuRuntime(TorchRuntime):
    """PyTorch eager on the CPU (reference)

    Eager forward passes under ``torch.inference_mode``."""

    chunk_size = CPU_CHUNK

    def _device_for(self, options: TorchOptions) -> Any:
        return self._torch.device("cpu")

    def _predict(self, x: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self._model(self._torch.from_numpy(x)).numpy()


@register_runtime(
    "torch-cuda", artifact=CHECKPOINT, device="cuda", options=TorchCudaOptions, probe=cuda_probe
)
class TorchCudaRuntime(TorchRuntime):
    """PyTorch eager on an NVIDIA GPU

    Batches go through ``torch_cuda.CudaEngine``: pinned staging, overlapped chunks and
    (optionally) CUDA graphs. Each staged phase has finished when it returns, so the
    benchmark's host clock times it alone."""

    timed_phases = True

    def __init__(
        self, artifact: str | os.PathLike, options: TorchCudaOptions, entry: RuntimeEntry
    ) -> None:
        super().__init__(artifact, options, entry)
        from .torch_cuda import CudaEngine

        torch = self._torch
        self._tf32 = options.allow_tf32
        self._set(torch.backends.cuda.matmul, "allow_tf32", options.allow_tf32)
        self._set(torch.backends.cudnn, "allow_tf32", options.allow_tf32)
        self._engine = CudaEngine(
            self._torch,
            self._model,
            self._device,
            graphs=options.cuda_graphs,
            chunk=options.overlap_chunk,
        )

    def _device_for(self, options: TorchOptions) -> Any:
        assert isinstance(options, TorchCudaOptions)
        reason = cuda_unavailable_reason(options.device_id)
        if reason:
            raise RuntimeUnavailableError(f"{self.name}: {reason}")
        return self._torch.device("cuda", options.device_id)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self._engine.predict(x)

    def _upload(self, x: np.ndarray) -> Any:
        return self._engine.upload(x)

    def compute(self, staged: Any) -> Any:
        self._check_open("compute")
        return self._engine.compute(staged)

    def download(self, result: Any) -> np.ndarray:
        return self._engine.download(result)

    def synchronize(self) -> None:
        self._torch.cuda.synchronize(self._device)

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "gpu": self._torch.cuda.get_device_name(self._device),
            "tf32": self._tf32,
            **self._engine.info(),
        }

    def _close(self) -> None:
        self._engine.close()
        super()._close()
        self._torch.cuda.empty_cache()


def import_torch() -> Any:
    """torch, imported when a runtime is created (tests hand a fake CUDA torch in here)."""
    import torch

    return torch


def load_model(path: Any) -> tuple[Any, dict]:
    """(LeNet in eval mode on the CPU, the checkpoint's metadata) from ``path``."""
    from ..model.lenet import load_checkpoint

    return load_checkpoint(path)


def torch_missing(name: str) -> str | None:
    """None if torch is installed, else why ``name`` cannot run and the extra to install."""
    return missing_reason("torch", "train", name)


def cuda_unavailable_reason(device_id: int = 0) -> str | None:
    """None if torch can run on CUDA device ``device_id``, else why not and what to do."""
    missing = torch_missing("torch-cuda")
    if missing:
        return missing
    import torch

    fix = "install a CUDA build of torch on a machine with an NVIDIA GPU, or use torch-cpu"
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build (no CUDA); {fix}"
    if not torch.cuda.is_available():
        return (
            f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable CUDA "
            f"device (driver missing or CUDA_VISIBLE_DEVICES empty); {fix}"
        )
    if device_id >= torch.cuda.device_count():
        return (
            f"cuda:{device_id} does not exist: {torch.cuda.device_count()} CUDA device(s) "
            "visible; pass device_id=0"
        )
    return None
