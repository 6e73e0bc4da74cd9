"""The torch family: ``torch-cpu`` and ``torch-cuda``, one class differing by device.

torch is imported when a runtime is created or probed, never at module import; without it (the
``[train]`` extra) both runtimes are listed as unavailable with the install command. torch's thread
count and TF32 switches are process-wide: a runtime that changes them restores them on close.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._optional import missing_reason
from ..artifacts import ArtifactKind, resolve
from ..errors import RuntimeUnavailableError
from .base import Runtime, validate_batch
from .options import ThreadOptions
from .registry import RuntimeEntry, register_runtime

#: Images per forward pass on the CPU (see ort.CPU_CHUNK).
CPU_CHUNK = 256


@dataclass(frozen=True)
class TorchOptions(ThreadOptions):
    """``torch-cpu``: ``threads`` (intra-op threads while this runtime is open; None: torch's
    own)."""


@dataclass(frozen=True)
class TorchCudaOptions(TorchOptions):
    """``torch-cuda``: also ``device_id`` (0) and ``allow_tf32`` (False, so fp32 parity holds)."""

    device_id: int = 0
    allow_tf32: bool = False


@register_runtime(
    "torch-cuda",
    artifact=ArtifactKind.CHECKPOINT,
    device="cuda",
    options=TorchCudaOptions,
    probe=lambda: cuda_unavailable_reason(0),
    description="PyTorch eager on an NVIDIA GPU",
)
@register_runtime(
    "torch-cpu",
    artifact=ArtifactKind.CHECKPOINT,
    device="cpu",
    options=TorchOptions,
    probe=lambda: torch_missing("torch-cpu"),
    description="PyTorch eager on the CPU (reference)",
)
class TorchRuntime(Runtime):
    """LeNet in eager PyTorch, eval mode, under ``torch.inference_mode``."""

    def __init__(
        self, artifact: str | os.PathLike, options: TorchOptions, entry: RuntimeEntry
    ) -> None:
        self.name = entry.name
        reason = torch_missing(self.name)
        if reason:
            raise RuntimeUnavailableError(reason)
        import torch

        from ..model import load_checkpoint

        self._torch = torch
        self._restore: list[tuple[Any, str, Any]] = []
        if entry.device == "cuda":
            assert isinstance(options, TorchCudaOptions)
            reason = cuda_unavailable_reason(options.device_id)
            if reason:
                raise RuntimeUnavailableError(f"{self.name}: {reason}")
            self._device = torch.device("cuda", options.device_id)
            self._set(torch.backends.cuda.matmul, "allow_tf32", options.allow_tf32)
            self._set(torch.backends.cudnn, "allow_tf32", options.allow_tf32)
            self.timed_phases = True
        else:
            self._device = torch.device("cpu")
            self.chunk_size = CPU_CHUNK
        self.device = str(self._device)
        self.path = resolve(artifact, ArtifactKind.CHECKPOINT)
        model, self.metadata = load_checkpoint(self.path)
        self._model = model.to(self._device).eval()
        if options.threads is not None:
            self._restore.append((torch, "threads", torch.get_num_threads()))
            torch.set_num_threads(options.threads)
        self._threads = torch.get_num_threads()
        self._tf32 = options.allow_tf32 if isinstance(options, TorchCudaOptions) else None

    def _set(self, owner: Any, attribute: str, value: Any) -> None:
        self._restore.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, value)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self.download(self.compute(self._torch.from_numpy(x).to(self._device)))

    def upload(self, x: Any) -> Any:
        tensor = self._torch.from_numpy(validate_batch(x)).to(self._device)
        self.synchronize()
        return tensor

    def compute(self, staged: Any) -> Any:
        """Run the model on a device-resident batch. On CUDA the kernel time is also measured
        with CUDA events (``last_compute_ms``), which the benchmark prefers to the host clock."""
        torch = self._torch
        if self._device.type != "cuda":
            with torch.inference_mode():
                return self._model(staged)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        with torch.inference_mode():
            out = self._model(staged)
        end.record()
        end.synchronize()
        self.last_compute_ms = start.elapsed_time(end)
        return out

    def download(self, result: Any) -> np.ndarray:
        return result.cpu().numpy()

    def synchronize(self) -> None:
        if self._device.type == "cuda":
            self._torch.cuda.synchronize(self._device)

    def info(self) -> dict[str, Any]:
        info = {
            **super().info(),
            "engine": "torch",
            "engine_version": str(self._torch.__version__),
            "threads": self._threads,
        }
        if self._device.type == "cuda":
            info["gpu"] = self._torch.cuda.get_device_name(self._device)
            info["tf32"] = self._tf32
        return info

    def _close(self) -> None:
        del self._model
        for owner, attribute, value in reversed(self._restore):
            if attribute == "threads":
                owner.set_num_threads(value)
            else:
                setattr(owner, attribute, value)
        if self._device.type == "cuda":
            self._torch.cuda.empty_cache()


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
