"""torch-cuda's device path: pinned host staging, overlapped chunks on two streams, CUDA graphs.

A batch is split by ``cuda_staging.plan_chunks``; chunk k goes through buffer slot k % 2, each
slot with its own stream, pinned host buffers and device buffers. While one chunk computes on
its stream, the next is copied into pinned memory by the CPU and sent to the device on the
other. Every device operation is issued on the runtime's own device (``cuda:1`` included), and
results are read only after that slot's stream has finished. Imported by ``pytorch`` only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..spec import CHANNELS, IMAGE_SIZE, NUM_CLASSES
from .cuda_staging import STREAMS, BindingCache, bucket_size, plan_chunks

#: Eager warm-up passes before a graph is captured (cuDNN picks its algorithms on these).
WARMUP_RUNS = 3


class _Slot:
    """One stream's buffers for chunks of ``size`` images, and its captured graph if any."""

    def __init__(self, torch: Any, model: Any, device: Any, size: int, graph: bool) -> None:
        self.size = size
        self.stream = torch.cuda.Stream(device=device)
        shape = (size, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
        # Pinned host memory: the device copies from and to it asynchronously, and numpy
        # views of it let the CPU fill it without another allocation.
        self.host_in = torch.empty(shape, dtype=torch.float32, pin_memory=True)
        self.host_out = torch.empty((size, NUM_CLASSES), dtype=torch.float32, pin_memory=True)
        self.host_in_np = self.host_in.numpy()
        self.host_out_np = self.host_out.numpy()
        self.device_in = torch.zeros(shape, dtype=torch.float32, device=device)
        self.done = torch.cuda.Event()
        self.graph = None
        self.device_out = None
        if graph:
            self.graph, self.device_out = _capture(torch, model, self.device_in, device)
        # the buffers were filled on the device's current stream; this slot's stream must not
        # overtake that
        self.stream.wait_stream(torch.cuda.current_stream(device))

    def run(self, torch: Any, model: Any, m: int) -> Any:
        """Logits for the first ``m`` staged images, queued on the current stream. A graph
        always runs all ``size`` rows; rows past ``m`` hold an earlier batch's images, and
        LeNet's rows are independent, so they are ignored."""
        if self.graph is not None:
            self.graph.replay()
            return self.device_out[:m]
        with torch.inference_mode():
            return model(self.device_in[:m])


def _capture(torch: Any, model: Any, static_in: Any, device: Any) -> tuple[Any, Any]:
    """A CUDA graph of ``model(static_in)`` and its static output tensor.

    Warm-up runs on a side stream, as torch's documentation requires, so capture sees the
    kernels (and cuDNN algorithms) steady-state runs use. ``thread_local`` capture lets other
    threads keep running eagerly meanwhile; each graph has its own memory pool, because slots
    replay concurrently on different streams and a shared pool would let them overwrite each
    other's activations.
    """
    side = torch.cuda.Stream(device=device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side), torch.inference_mode():
        for _ in range(WARMUP_RUNS):
            model(static_in)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    # An explicit stream on this device: torch's default capture stream is made once, on
    # whichever device was current then, and is shared by every runtime in the process.
    capture = torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local")
    with torch.inference_mode(), capture:
        static_out = model(static_in)
    torch.cuda.current_stream(device).synchronize()
    return graph, static_out


class _Binding:
    """The slots for one thread and chunk size (one slot when the batch is a single chunk)."""

    def __init__(self, torch: Any, model: Any, device: Any, size: int, graphs: bool, slots: int):
        with torch.cuda.device(device):
            self.slots = [_Slot(torch, model, device, size, graphs) for _ in range(slots)]

    def synchronize(self) -> None:
        for slot in self.slots:
            slot.stream.synchronize()


class Staged:
    """What ``upload`` returns: the binding a batch was staged in, and later its result."""

    def __init__(self, binding: _Binding, n: int) -> None:
        self.binding, self.n, self.result = binding, n, None


class CudaEngine:
    """Runs a LeNet already on ``device`` with pinned staging, chunk overlap and (optionally)
    one CUDA graph per (thread, binding size); at most ``MAX_BINDINGS`` bindings are kept.
    ``predict`` uses power-of-two binding sizes up to ``chunk`` (``bucket_size``); the staged
    API binds the exact batch size, so benchmarks time no padding."""

    def __init__(self, torch: Any, model: Any, device: Any, *, graphs: bool, chunk: int):
        self._torch, self._model, self._device = torch, model, device
        self.graphs, self.chunk = graphs, chunk
        self._cache: BindingCache[_Binding] = BindingCache(
            self._make, on_evict=_Binding.synchronize
        )

    def _make(self, size: int) -> _Binding:
        slots = STREAMS if size == self.chunk else 1
        return _Binding(self._torch, self._model, self._device, size, self.graphs, slots)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits for a validated batch; identical whatever ``chunk`` is."""
        torch, n = self._torch, len(x)
        binding = self._cache.get(bucket_size(n, self.chunk))
        out = np.empty((n, NUM_CLASSES), dtype=np.float32)
        pending: list[Any] = [None] * len(binding.slots)
        with torch.cuda.device(self._device):
            for chunk in plan_chunks(n, self.chunk, len(binding.slots)):
                slot = binding.slots[chunk.slot]
                if pending[chunk.slot] is not None:  # the slot's buffers are free again
                    _collect(slot, pending[chunk.slot], out)
                m = chunk.size
                slot.host_in_np[:m] = x[chunk.start : chunk.stop]
                with torch.cuda.stream(slot.stream):
                    slot.device_in[:m].copy_(slot.host_in[:m], non_blocking=True)
                    logits = slot.run(torch, self._model, m)
                    slot.host_out[:m].copy_(logits, non_blocking=True)
                    slot.done.record(slot.stream)
                pending[chunk.slot] = chunk
            for slot, chunk in zip(binding.slots, pending, strict=True):
                if chunk is not None:
                    _collect(slot, chunk, out)
        return out

    # The staged API: the whole batch in one slot, each phase finished before it returns, so
    # the host clock read after it times that phase alone.
    def upload(self, x: np.ndarray) -> Staged:
        n = len(x)
        binding = self._cache.get(n)
        slot = binding.slots[0]
        slot.host_in_np[:] = x
        with self._on_stream(slot):
            slot.device_in.copy_(slot.host_in, non_blocking=True)
        slot.stream.synchronize()
        return Staged(binding, n)

    def compute(self, staged: Staged) -> Staged:
        slot = staged.binding.slots[0]
        with self._on_stream(slot):
            staged.result = slot.run(self._torch, self._model, staged.n)
        slot.stream.synchronize()
        return staged

    def download(self, staged: Staged) -> np.ndarray:
        slot = staged.binding.slots[0]
        with self._on_stream(slot):
            slot.host_out.copy_(staged.result, non_blocking=True)
        slot.stream.synchronize()
        return slot.host_out_np.copy()

    @contextlib.contextmanager
    def _on_stream(self, slot: _Slot) -> Iterator[None]:
        # the device too: entering a stream of another device may switch the current device
        with self._torch.cuda.device(self._device), self._torch.cuda.stream(slot.stream):
            yield

    def info(self) -> dict[str, Any]:
        return {"cuda_graphs": self.graphs, "overlap_chunk": self.chunk, "pinned_staging": True}

    def close(self) -> None:
        self._cache.clear()


def _collect(slot: _Slot, chunk: Any, out: np.ndarray) -> None:
    slot.done.synchronize()
    out[chunk.start : chunk.stop] = slot.host_out_np[: chunk.size]
