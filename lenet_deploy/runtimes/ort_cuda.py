"""ort-cuda's device buffers: IO bindings per (thread, batch size), and CUDA graphs.

onnxruntime replays a captured CUDA graph on the device addresses it was captured with, so a
graph's input and output buffers are fixed for the session's life: such bindings are never
evicted and number at most ``MAX_GRAPHS``, each with its own ``gpu_graph_id`` run option.
Further batch sizes run without a graph (``gpu_graph_id`` -1) through bindings evicted least
recently used. Never imports torch.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from typing import Any, NamedTuple

import numpy as np

from ..spec import CHANNELS, IMAGE_SIZE, INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from .cuda_staging import MAX_BINDINGS, BindingCache

MAX_GRAPHS = MAX_BINDINGS
#: The ``gpu_graph_id`` that tells onnxruntime to run without capturing or replaying a graph.
SKIP_GRAPH = -1


class Binding(NamedTuple):
    """One thread's device buffers for one batch size, bound to the session's input/output."""

    io: Any
    device_in: Any
    device_out: Any
    run_options: Any
    graph_id: int


class OrtCudaBindings:
    """Bindings for ``session`` on CUDA device ``device_id``; ``graphs`` as the session was
    created (the CUDA provider's ``enable_cuda_graph``)."""

    def __init__(self, ort: Any, session: Any, device_id: int, *, graphs: bool) -> None:
        self._ort, self._session, self._device_id = ort, session, device_id
        self.graphs = graphs
        self._ids = itertools.count()
        self._eager: BindingCache[Binding] = BindingCache(lambda n: self._bind(n, SKIP_GRAPH))
        self._captured: BindingCache[Binding] | None = None
        if graphs:
            self._captured = BindingCache(
                lambda n: self._bind(n, next(self._ids)), MAX_GRAPHS, evict=False
            )
        # onnxruntime keeps graph capture and replay state per session, not per thread
        self.run_lock = threading.Lock() if graphs else contextlib.nullcontext()

    def get(self, n: int) -> Binding:
        """The calling thread's binding for batch size ``n`` (a graph one while any is left)."""
        binding = self._captured.get(n) if self._captured is not None else None
        return binding if binding is not None else self._eager.get(n)

    def _bind(self, n: int, graph_id: int) -> Binding:
        ort = self._ort
        device_in = ort.OrtValue.ortvalue_from_shape_and_type(
            (n, CHANNELS, IMAGE_SIZE, IMAGE_SIZE), np.float32, "cuda", self._device_id
        )
        device_out = ort.OrtValue.ortvalue_from_shape_and_type(
            (n, NUM_CLASSES), np.float32, "cuda", self._device_id
        )
        io = self._session.io_binding()
        io.bind_ortvalue_input(INPUT_NAME, device_in)
        io.bind_ortvalue_output(OUTPUT_NAME, device_out)
        run_options = None
        if self.graphs:  # without the entry onnxruntime would use graph 0 for every size
            run_options = ort.RunOptions()
            run_options.add_run_config_entry("gpu_graph_id", str(graph_id))
        return Binding(io, device_in, device_out, run_options, graph_id)

    def sizes(self) -> dict[str, list[int]]:
        """Batch sizes with device buffers: ``graphs`` (captured or to be) and ``eager``."""
        graphs = self._captured.sizes() if self._captured is not None else []
        return {"graphs": graphs, "eager": self._eager.sizes()}

    def clear(self) -> None:
        self._eager.clear()
        if self._captured is not None:
            self._captured.clear()
