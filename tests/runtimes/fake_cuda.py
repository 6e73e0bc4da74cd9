"""A stand-in for the few ``torch`` / ``torch.cuda`` calls ``runtimes.torch_cuda`` makes, where
device work is deferred: a copy or kernel queued on a stream runs only when something waits
for that stream. Code that reads a result before waiting reads NaN, and code that refills a
buffer before its copy has run sends the wrong rows, as on a real GPU at its worst."""

from __future__ import annotations

import contextlib
import threading
import types

import numpy as np

WEIGHTS = np.random.default_rng(0).standard_normal((32 * 32, 10)).astype(np.float32)


def logits_of(x: np.ndarray) -> np.ndarray:
    """What the fake model computes: a fixed linear map, row by row in one summation order (a
    BLAS product's rounding would depend on the batch size)."""
    return (x.reshape(len(x), -1, 1) * WEIGHTS).sum(axis=1)


class Stream:
    def __init__(self, device=None):
        self.device = device
        self.ops: list = []
        self._lock = threading.RLock()

    def enqueue(self, op) -> None:
        # work is queued only while the stream's own device is current (cuda:1 included)
        assert self.device is None or current_device() == self.device, (self.device, op)
        with self._lock:
            self.ops.append(op)

    def synchronize(self) -> None:
        with self._lock:
            while self.ops:
                self.ops.pop(0)()

    def wait_stream(self, other: Stream) -> None:
        other.synchronize()  # stricter than a device-side wait, never looser


class Event:
    def __init__(self, enable_timing=False):
        self.stream = None

    def record(self, stream=None):
        self.stream = stream or current_stream()
        assert self.stream.device in (None, current_device())

    def synchronize(self):
        if self.stream is not None:
            self.stream.synchronize()


class Tensor:
    def __init__(self, array: np.ndarray, pinned: bool = False):
        self.a, self.pinned = array, pinned

    def __getitem__(self, key):
        return Tensor(self.a[key], self.pinned)

    def numpy(self) -> np.ndarray:
        return self.a

    def copy_(self, src: Tensor, non_blocking: bool = False) -> Tensor:
        dst = self.a
        current_stream().enqueue(lambda: np.copyto(dst, src.a))
        return self


class Graph:
    def __init__(self):
        self.ops: list = []
        self.replays = 0

    def replay(self):
        self.replays += 1
        for op in self.ops:
            current_stream().enqueue(op)


class Model:
    """Queues ``logits_of`` on the current stream; counts the eager calls."""

    def __init__(self):
        self.calls = 0

    def to(self, device) -> Model:  # what the torch runtimes call on a loaded LeNet
        return self

    def eval(self) -> Model:
        return self

    def __call__(self, x: Tensor) -> Tensor:
        self.calls += 1
        out = Tensor(np.full((len(x.a), 10), np.nan, np.float32))
        current_stream().enqueue(lambda: np.copyto(out.a, logits_of(x.a)))
        return out


_DEFAULT = Stream()
_local = threading.local()


def current_device():
    return getattr(_local, "device", "cuda:0")


@contextlib.contextmanager
def use_device(device):
    previous = current_device()
    _local.device = device
    try:
        yield
    finally:
        _local.device = previous


def current_stream(device=None):
    return getattr(_local, "stream", None) or _DEFAULT


@contextlib.contextmanager
def use_stream(stream):
    previous = getattr(_local, "stream", None)
    _local.stream = stream
    try:
        yield
    finally:
        _local.stream = previous


@contextlib.contextmanager
def capture(graph: Graph, pool=None, stream=None, capture_error_mode: str = "global"):
    assert capture_error_mode == "thread_local"  # other threads may keep running meanwhile
    assert isinstance(stream, Stream)  # not torch's process-wide default capture stream
    with use_stream(types.SimpleNamespace(enqueue=graph.ops.append)):
        yield


pinned_allocations: list[tuple] = []


def empty(shape, dtype=None, pin_memory=False):
    if pin_memory:
        pinned_allocations.append(tuple(shape))
    return Tensor(np.full(shape, np.nan, np.float32), pin_memory)


def zeros(shape, dtype=None, device=None):
    return Tensor(np.zeros(shape, np.float32))


torch = types.SimpleNamespace(
    float32=np.float32,
    empty=empty,
    zeros=zeros,
    inference_mode=contextlib.nullcontext,
    cuda=types.SimpleNamespace(
        Stream=Stream,
        Event=Event,
        CUDAGraph=Graph,
        graph=capture,
        stream=use_stream,
        current_stream=current_stream,
        device=use_device,
    ),
)


def runtime_torch() -> types.SimpleNamespace:
    """``torch`` as ``runtimes.pytorch.TorchCudaRuntime`` sees it: the fake CUDA above plus the
    process-wide switches it sets and restores; ``calls`` records the device-wide calls."""
    calls: list = []
    state = {"threads": 4}
    cuda = types.SimpleNamespace(
        **vars(torch.cuda),
        synchronize=lambda device=None: calls.append(("synchronize", device)),
        get_device_name=lambda device=None: f"Fake GPU {device}",
        empty_cache=lambda: calls.append(("empty_cache",)),
    )
    return types.SimpleNamespace(
        **{**vars(torch), "cuda": cuda},
        __version__="0.0-fake",
        calls=calls,
        device=lambda kind, index=None: kind if index is None else f"{kind}:{index}",
        get_num_threads=lambda: state["threads"],
        set_num_threads=lambda n: state.update(threads=n),
        backends=types.SimpleNamespace(
            cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=True)),
            cudnn=types.SimpleNamespace(allow_tf32=True),
        ),
    )
