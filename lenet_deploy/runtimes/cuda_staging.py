"""What the CUDA runtimes share that needs no GPU: the per-thread binding cache and the plan
that splits a batch into overlapped chunks. Imports neither torch nor onnxruntime, so it is
tested in the normal suite.

Why per thread: a binding holds device (and pinned host) buffers that a call writes its input
into and reads its logits from. Two threads sharing one for the same batch size would overwrite
each other's input between the copy and the run, and each could return the other's logits. A
lock would serialise them across the three staged calls (``upload`` / ``compute`` /
``download``); keying bindings by thread needs no lock across calls, and a binding evicted
while a thread still holds it stays valid until that thread lets go of it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")

#: Bindings a CUDA runtime keeps (per thread and batch size) before it evicts the oldest: all
#: the power-of-two sizes up to 256, and one more.
MAX_BINDINGS = 10
#: Streams (and buffer slots) a chunked batch alternates between: one chunk's copies overlap
#: the other's kernels.
STREAMS = 2
_thread_id = threading.get_ident  # the key's first half (a module name, so tests can pin it)


class Chunk(NamedTuple):
    """Images ``start:stop`` of a batch, staged through buffer slot (and stream) ``slot``."""

    start: int
    stop: int
    slot: int

    @property
    def size(self) -> int:
        return self.stop - self.start


def plan_chunks(n: int, chunk: int, slots: int = STREAMS) -> list[Chunk]:
    """Split ``n`` images into chunks of ``chunk`` (the last may be smaller), in order, each on
    slot ``index % slots``.

    Chunks on the same slot run one after the other (same stream, same buffers); chunks on
    different slots overlap: while chunk k computes on one stream, chunk k+1 is copied to the
    device on the other. A batch no larger than ``chunk`` is one chunk on slot 0.
    """
    if n < 1 or chunk < 1 or slots < 1:
        raise ValueError(f"need n, chunk and slots >= 1, got {n}, {chunk}, {slots}")
    return [
        Chunk(start, min(start + chunk, n), index % slots)
        for index, start in enumerate(range(0, n, chunk))
    ]


def bucket_size(n: int, chunk: int) -> int:
    """The binding size a batch of ``n`` images uses: the smallest power of two >= ``n``, at
    most ``chunk`` (larger batches run in chunks).

    Batches of any size then share at most log2(chunk) + 1 bindings, so a server's varying
    batch sizes do not evict (and re-capture) graphs on every call. The extra rows are padding:
    LeNet computes every image independently, so they never change the real rows' logits.
    """
    if n < 1 or chunk < 1:
        raise ValueError(f"need n and chunk >= 1, got {n}, {chunk}")
    return min(1 << (n - 1).bit_length(), chunk)


class BindingCache(Generic[T]):
    """Bindings built by ``make(size)``, kept per (calling thread, size), at most ``capacity``.

    With ``evict=True`` the least recently used binding is dropped (``on_evict`` is called with
    it) when a new one would exceed ``capacity``; with ``evict=False`` (onnxruntime's captured
    graphs, which live as long as the session) ``get`` returns None once full, and the caller
    runs without one. Building happens under the cache's lock, so two threads never capture or
    allocate at the same time.
    """

    def __init__(
        self,
        make: Callable[[int], T],
        capacity: int = MAX_BINDINGS,
        *,
        evict: bool = True,
        on_evict: Callable[[T], Any] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._make = make
        self.capacity = capacity
        self._evict = evict
        self._on_evict = on_evict
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, size: int) -> T | None:
        """The calling thread's binding for ``size``, built on first use."""
        key = (_thread_id(), size)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
            if len(self._entries) >= self.capacity:
                if not self._evict:
                    return None
                _, old = self._entries.popitem(last=False)
                if self._on_evict is not None:
                    self._on_evict(old)
            entry = self._make(size)
            self._entries[key] = entry
            return entry

    def __len__(self) -> int:
        return len(self._entries)

    def sizes(self) -> list[int]:
        """Batch sizes with a binding, oldest first (for ``info`` and tests)."""
        with self._lock:
            return [size for _, size in self._entries]

    def clear(self) -> None:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        if self._on_evict is not None:
            for entry in entries:
                self._on_evict(entry)
