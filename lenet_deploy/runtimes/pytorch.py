"""The torch family: ``torch-cpu`` and ``torch-cuda``, one class differing by device.

torch is imported when a runtime is created or probed, never at module import.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._optional import missing_reason
from ..artifacts import DEFAULT_DIR, resolve
from ..errors import RuntimeUnavailableError
from .base import Runtime, validate_batch
from .registry import RuntimeEntry


class TorchRuntime(Runtime):
    """LeNet in eager PyTorch, eval mode, under ``torch.inference_mode``.

    Options: ``threads`` (intra-op threads; process-wide in torch, default: torch's own),
    ``device`` ("cpu", "cuda", "cuda:N"), ``allow_tf32`` (CUDA only, default False so fp32
    parity holds; also process-wide in torch).
    """

    def __init__(
        self,
        artifact: str | os.PathLike = DEFAULT_DIR,
        *,
        device: str = "cpu",
        threads: int | None = None,
        allow_tf32: bool = False,
    ) -> None:
        is_cuda = device.startswith("cuda")
        self.name = "torch-cuda" if is_cuda else "torch-cpu"
        reason = torch_missing(self.name)
        if reason:
            raise RuntimeUnavailableError(reason)
        import torch

        from ..model import load_checkpoint

        if is_cuda:
            reason = cuda_unavailable_reason(device)
            if reason:
                raise RuntimeUnavailableError(f"{self.name}: {reason}")
            torch.backends.cuda.matmul.allow_tf32 = allow_tf32
            torch.backends.cudnn.allow_tf32 = allow_tf32
        elif device != "cpu":
            raise RuntimeUnavailableError(f"{self.name}: unknown device {device!r}; use 'cpu'")
        if threads is not None:
            torch.set_num_threads(int(threads))
        self._torch = torch
        self._device = torch.device(device)
        self.device = str(self._device)
        self.path = resolve(artifact, "checkpoint")
        model, self.metadata = load_checkpoint(self.path)
        self._model = model.to(self._device).eval()
        self._threads = torch.get_num_threads()
        self._tf32 = allow_tf32 if is_cuda else None
        self.last_compute_ms: float | None = None

    def _predict(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            inputs = torch.from_numpy(x).to(self._device)
            out = self._model(inputs)
            if self._device.type == "cuda":
                torch.cuda.synchronize(self._device)
            return out.cpu().numpy()

    # Phases for GPU benchmarks: host->device, compute, device->host, each synchronised.
    def upload(self, x: np.ndarray) -> Any:
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
            "name": self.name,
            "device": self.device,
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
        if self._device.type == "cuda":
            self._torch.cuda.empty_cache()


def torch_missing(name: str) -> str | None:
    """None if torch is installed, else why ``name`` cannot run and the extra to install."""
    return missing_reason("torch", "train", name)


def cuda_unavailable_reason(device: str = "cuda:0") -> str | None:
    """None if torch can run on ``device``, else why not and what to do."""
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
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return (
            f"{device} does not exist: {torch.cuda.device_count()} CUDA device(s) visible; "
            "pass device='cuda:0'"
        )
    return None


def _factory(default_device: str):
    def factory(artifact: str | os.PathLike = DEFAULT_DIR, **options: Any) -> TorchRuntime:
        device = str(options.pop("device", default_device))
        if device.split(":")[0] != default_device.split(":")[0]:
            family = "torch-cuda" if default_device.startswith("cuda") else "torch-cpu"
            raise RuntimeUnavailableError(
                f"{family} cannot run on device {device!r}; use the runtime for that device"
            )
        return TorchRuntime(artifact, device=device, **options)

    return factory


ENTRIES = [
    RuntimeEntry(
        "torch-cpu",
        _factory("cpu"),
        lambda: torch_missing("torch-cpu"),
        "PyTorch eager on the CPU (reference)",
    ),
    RuntimeEntry(
        "torch-cuda",
        _factory("cuda:0"),
        lambda: cuda_unavailable_reason("cuda:0"),
        "PyTorch eager on an NVIDIA GPU",
    ),
]
