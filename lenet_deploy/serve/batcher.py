"""Dynamic micro-batching: merge concurrent requests into one runtime call, scatter the rows back.

Requests arrive already validated (codec.py). ``infer`` puts a request on a queue and awaits its
rows; one worker thread takes everything queued (up to ``max_batch`` images), waits at most
``max_delay_s`` after the oldest request for more, runs the runtime once -- off the event loop
-- and hands every caller exactly its own rows through one loop callback per batch.

A batch that the runtime refuses is re-run request by request, so one bad request only fails
itself. More than ``max_queue`` requests pending raises ``Overloaded`` at once (backpressure).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from ..errors import LenetDeployError
from ..runtimes.base import Runtime
from .metrics import ServerMetrics

_STOP = None


class Overloaded(LenetDeployError):
    """The queue is full: the caller should retry later (HTTP 503)."""


class Batcher:
    """One runtime behind a queue. Create inside the event loop; ``close()`` drains and stops."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        max_batch: int = 64,
        max_delay_s: float = 0.0005,
        max_queue: int = 1024,
        metrics: ServerMetrics | None = None,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_delay_s < 0:
            raise LenetDeployError(
                f"batcher needs max_batch >= 1, max_queue >= 1 and max_delay >= 0; got "
                f"{max_batch}, {max_queue}, {max_delay_s}"
            )
        self.runtime = runtime
        self.max_batch = max_batch
        self.max_delay_ns = int(max_delay_s * 1e9)
        self.max_queue = max_queue
        self.metrics = metrics or ServerMetrics()
        self.pending = 0  # requests queued or running; only the event loop changes it
        self._loop = asyncio.get_running_loop()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker = threading.Thread(target=self._work, name="lenet-batcher", daemon=True)
        self._worker.start()

    async def infer(self, x: np.ndarray) -> np.ndarray:
        """Logits for the validated batch ``x``; raises Overloaded or the runtime's error."""
        if self.pending >= self.max_queue:
            raise Overloaded(
                f"server overloaded: {self.pending} requests pending (limit {self.max_queue}); "
                "retry later"
            )
        future = self._loop.create_future()
        self.pending += 1
        self._idle.clear()
        self._queue.put((x, future, time.perf_counter_ns()))
        try:
            return await future
        finally:
            self.pending -= 1
            if not self.pending:
                self._idle.set()

    def infer_blocking(self, x: np.ndarray) -> np.ndarray:
        """``infer`` from a worker thread (never the event loop): blocks that thread only, so
        other endpoints share the queue, the batches and the one thread that runs the runtime."""
        return asyncio.run_coroutine_threadsafe(self.infer(x), self._loop).result()

    async def close(self, timeout_s: float = 30.0) -> None:
        """Wait for pending requests (at most ``timeout_s``), then stop the worker."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass
        self._queue.put(_STOP)
        await asyncio.to_thread(self._worker.join, timeout_s)

    # -- the worker thread
    def _work(self) -> None:
        carry = None
        while True:
            first = carry if carry is not None else self._queue.get()
            if first is _STOP:
                return
            items, carry, stop = self._collect(first)
            self._run(items)
            if stop:
                return

    def _collect(self, first: tuple) -> tuple[list, tuple | None, bool]:
        """``first`` plus what else fits: (items, the item that did not fit, stop seen)."""
        items, images = [first], len(first[0])
        deadline = first[2] + self.max_delay_ns
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while images < self.max_batch:
            try:
                item = get_nowait()
            except queue.Empty:
                wait_ns = deadline - time.perf_counter_ns()
                if wait_ns <= 0:
                    break
                try:
                    item = get(timeout=wait_ns / 1e9)
                except queue.Empty:
                    break
            if item is _STOP:
                return items, None, True
            if images + len(item[0]) > self.max_batch:
                return items, item, False
            items.append(item)
            images += len(item[0])
        return items, None, False

    def _run(self, items: list) -> None:
        start = time.perf_counter_ns()
        xs = [item[0] for item in items]
        outcome: list[object]
        try:
            logits = self.runtime.predict(xs[0] if len(xs) == 1 else np.concatenate(xs))
            ends = np.cumsum([len(x) for x in xs])[:-1]
            outcome = np.split(logits, ends) if len(xs) > 1 else [logits]
        except Exception:
            # Only whole-batch failures get here; find out whose request it was.
            outcome = [_predict_or_error(self.runtime.predict, x) for x in xs]
        compute_ns = time.perf_counter_ns() - start
        self.metrics.batch_done(
            sum(len(x) for x in xs), [start - item[2] for item in items], compute_ns
        )
        futures = [item[1] for item in items]
        try:
            self._loop.call_soon_threadsafe(_resolve, futures, outcome)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass


def _predict_or_error(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> object:
    try:
        return predict(x)
    except Exception as exc:
        return exc


def _resolve(futures: list[asyncio.Future], outcome: list[object]) -> None:
    for future, result in zip(futures, outcome, strict=True):
        if future.done():  # the client went away
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
