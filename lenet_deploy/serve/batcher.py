"""Dynamic micro-batching: merge concurrent requests into one runtime call, scatter the rows back.

Requests arrive already validated (codec.py). ``submit`` appends a request to a deque with the
callback that gets its rows (``infer`` awaits them instead); one worker thread takes what is
queued (up to ``max_batch`` images), waits at most ``max_delay_s`` after the oldest request for
more, runs the runtime once -- off the event loop -- and hands every caller exactly its own rows
through one loop callback per batch.

Thread hand-offs cost more than the Python work around a small batch, so the event loop wakes
the worker only when it is parked with nothing to do, or when a batch it is waiting to fill is
full; every other request is a plain append.

A batch that the runtime refuses is re-run request by request, so one bad request only fails
itself. More than ``max_queue`` requests pending raises ``Overloaded`` at once (backpressure).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from ..errors import LenetDeployError
from ..runtimes.base import Runtime
from .metrics import ServerMetrics
from .settings import ServeSettings

_DEFAULTS = ServeSettings()  # the server's defaults, and LIMITS.serve_max_queue
_log = logging.getLogger("lenet_deploy.serve")


class Overloaded(LenetDeployError):
    """The queue is full: the caller should retry later (HTTP 503)."""


class Doorbell:
    """A binary semaphore: ``ring()`` from any thread wakes one ``wait()``; rings before the
    wait are kept (several count as one).

    Not ``queue.SimpleQueue``: in CPython 3.11 and 3.12 its ``get(timeout)`` recomputes the
    time left after taking its internal lock, and a thread preempted past the deadline at that
    point passes a negative timeout on -- which means "wait forever". With sub-millisecond
    waits on a busy machine that happens: the worker hung and the server stopped answering.
    ``Lock.acquire(timeout)`` turns an expired deadline into a failed acquire instead.
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()  # held = not rung

    def ring(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:  # already rung, not yet heard
            pass

    def wait(self, timeout: float = -1) -> bool:
        """True once rung; False after ``timeout`` seconds (default: no limit)."""
        return self._lock.acquire(timeout=timeout)


class Batcher:
    """One runtime behind a queue. Create inside the event loop; ``close()`` drains and stops."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        max_batch: int = _DEFAULTS.max_batch,
        max_delay_s: float = _DEFAULTS.max_delay_ms / 1e3,
        max_queue: int = _DEFAULTS.max_queue,
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
        # (x, deliver, enqueued ns): appended by the loop, popped by the worker (deque ends are
        # thread-safe). Images in = _added - _taken; each counter has a single writer.
        self._items: collections.deque = collections.deque()
        self._added = 0
        self._taken = 0
        self._doorbell = Doorbell()  # wakes the worker
        self._parked = False  # the worker waits for any request
        self._filling = False  # the worker waits for its batch to fill, until the delay
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker = threading.Thread(target=self._work, name="lenet-batcher", daemon=True)
        self._worker.start()

    def submit(self, x: np.ndarray, deliver: Callable[[object], None]) -> None:
        """Queue the validated batch ``x``; ``deliver`` gets its logits, or the runtime's
        exception, once, on the event loop. Raises Overloaded at once when the queue is full.
        Call on the event loop."""
        if self.pending >= self.max_queue:
            raise Overloaded(
                f"server overloaded: {self.pending} requests pending (limit {self.max_queue}); "
                "retry later"
            )
        if not self.pending:
            self._idle.clear()
        self.pending += 1
        self._items.append((x, deliver, time.perf_counter_ns()))
        before = self._added - self._taken
        self._added += len(x)
        if self._parked:
            self._parked = False
            self._doorbell.ring()
        elif self._filling and before < self.max_batch <= before + len(x):
            self._doorbell.ring()

    async def infer(self, x: np.ndarray) -> np.ndarray:
        """Logits for the validated batch ``x``; raises Overloaded or the runtime's error."""
        future = self._loop.create_future()
        self.submit(x, functools.partial(_settle, future))
        return await future

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
        self._stopping = True
        self._doorbell.ring()
        await asyncio.to_thread(self._worker.join, timeout_s)

    # -- the worker thread
    def _work(self) -> None:
        items, wait = self._items, self._doorbell.wait
        while True:
            if not items:
                if self._stopping:
                    return
                self._parked = True
                if not items and not self._stopping:  # checked again: the loop saw it parked
                    wait()
                self._parked = False
                continue
            self._fill(items[0][2] + self.max_delay_ns)
            self._run(self._take())

    def _fill(self, deadline_ns: int) -> None:
        """Wait until ``max_batch`` images are queued, the deadline passes or a stop."""
        self._filling = True
        while self._added - self._taken < self.max_batch and not self._stopping:
            wait_ns = deadline_ns - time.perf_counter_ns()
            if wait_ns <= 0:
                break
            if not self._doorbell.wait(wait_ns / 1e9):
                break
        self._filling = False

    def _take(self) -> list:
        """The oldest requests that fit in ``max_batch`` images (at least one request)."""
        items, taken = self._items, [self._items.popleft()]
        images = len(taken[0][0])
        while items and images + len(items[0][0]) <= self.max_batch:
            taken.append(items.popleft())
            images += len(taken[-1][0])
        self._taken += images
        return taken

    def _run(self, items: list) -> None:
        start = time.perf_counter_ns()
        xs = [item[0] for item in items]
        outcome: list[object]
        try:
            logits = self.runtime.predict(xs[0] if len(xs) == 1 else np.concatenate(xs))
            outcome, end = [], 0
            for x in xs:
                outcome.append(logits[end : end + len(x)])
                end += len(x)
        except Exception:
            # Only whole-batch failures get here; find out whose request it was.
            outcome = [_predict_or_error(self.runtime.predict, x) for x in xs]
        compute_ns = time.perf_counter_ns() - start
        self.metrics.batch_done(
            sum(len(x) for x in xs), [start - item[2] for item in items], compute_ns
        )
        sinks = [item[1] for item in items]
        try:
            self._loop.call_soon_threadsafe(self._deliver, sinks, outcome)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass

    def _deliver(self, sinks: list[Callable[[object], None]], outcome: list[object]) -> None:
        """On the loop: each caller's rows (or error) to its ``deliver``."""
        for deliver, result in zip(sinks, outcome, strict=True):
            self.pending -= 1
            try:
                deliver(result)
            except Exception:  # one caller's failure must not strand the others
                _log.exception("delivering an inference result failed")
        if not self.pending:
            self._idle.set()


def _predict_or_error(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> object:
    try:
        return predict(x)
    except Exception as exc:
        return exc


def _settle(future: asyncio.Future, result: object) -> None:
    if future.done():  # the caller went away
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
