"""``/v1/predict``'s image decoding in worker processes at the lowest CPU priority.

Decoding an upload (Pillow, then the image recipe over up to a million pixels) is CPU work
that, in a thread of the server, holds the GIL and shares the cores with the event loop and
the batcher: 500 uploads of an 8 KB 1024x1024 PNG once delayed a normal infer request by
16.5 s. In a process of its own at nice 19 it never holds the server's GIL, and the kernel
gives the server's threads the CPU first. Workers start on the first upload (``spawn``: no
fork of a process that runs engine threads) when the server has loaded its model, and leave
with the server.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading

import numpy as np

from ..errors import ImageError
from .image_predict import decode_upload


def _start_worker() -> None:
    try:
        os.nice(19)
    except (AttributeError, OSError):  # not Unix, or not allowed: still a process apart
        pass
    import PIL.PngImagePlugin  # noqa: F401 - imported once, not on the first upload's time

    from ..images import recipe  # noqa: F401


def _ready() -> int:
    return os.getpid()


class DecodePool:
    """``decode(data) -> (pixels, has_digit)`` run in ``workers`` niced processes; blocking
    (call it from a thread). ImageError as ``decode_upload`` raises it.

    A ProcessPoolExecutor, not a multiprocessing.Pool: a worker that cannot start (or dies)
    breaks the pool, which is an ImageError here and a new pool on the next upload, where
    multiprocessing.Pool would restart it for ever.
    """

    def __init__(self, workers: int):
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                )
            return self._pool

    def warm(self) -> None:
        """Start the workers now (returns at once): spawning one costs about a second of
        CPU, better spent before the first upload than during it."""
        pool = self._executor()
        for _ in range(self.workers):
            pool.submit(_ready)

    def __call__(self, data: bytes) -> tuple[np.ndarray, bool]:
        pool = self._executor()
        try:
            return pool.submit(decode_upload, data).result()
        except concurrent.futures.process.BrokenProcessPool:  # a worker died (e.g. memory)
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            raise ImageError("upload: the image decoder stopped on this image") from None
        except RuntimeError:  # submitted after close(): the server is stopping
            raise ImageError("upload: the server is shutting down") from None

    def close(self) -> None:
        """No new decodes; the workers leave once their current one is done."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
