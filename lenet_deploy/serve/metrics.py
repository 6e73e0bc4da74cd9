"""Server counters: Triton-style statistics (``/v2/models/.../stats``) and Prometheus text.

The batcher's worker thread records one entry per executed batch, the event loop one per
finished request; each side owns its own fields, so neither takes a lock on the hot path.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Sequence

#: Upper bounds (seconds) of the queue and compute latency histograms.
LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)
#: Upper bounds of the formed-batch-size histogram.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    """Cumulative-on-export histogram with fixed upper bounds (Prometheus semantics)."""

    def __init__(self, bounds: Sequence[float]):
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # the first bound >= value
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def lines(self, name: str, labels: str) -> list[str]:
        out, running = [], 0
        for bound, n in zip((*self.bounds, "+Inf"), self.counts, strict=True):
            running += n
            out.append(f'{name}_bucket{{{labels},le="{bound}"}} {running}')
        out.append(f"{name}_sum{{{labels}}} {self.sum:.9g}")
        out.append(f"{name}_count{{{labels}}} {running}")
        return out


class ServerMetrics:
    """What the server has done since it started. Read by the stats and metrics endpoints."""

    def __init__(self) -> None:
        # Written by the event loop.
        self.success_count = 0
        self.success_ns = 0
        self.failures: Counter[int] = Counter()  # HTTP status -> count
        # Written by the batcher's worker thread.
        self.inference_count = 0  # images
        self.execution_count = 0  # batches run on the runtime
        self.queue_count = 0  # requests that went through the queue
        self.queue_ns = 0
        self.compute_ns = 0
        self.last_inference_ms = 0
        self.batch_sizes: Counter[int] = Counter()
        self.batch_ns: Counter[int] = Counter()
        self.batch_hist = Histogram(BATCH_BUCKETS)
        self.queue_hist = Histogram(LATENCY_BUCKETS_S)
        self.compute_hist = Histogram(LATENCY_BUCKETS_S)
        self._lock = threading.Lock()  # only between the worker and exporters

    # -- recording
    def request_done(self, started_ns: int) -> None:
        self.success_count += 1
        self.success_ns += time.perf_counter_ns() - started_ns

    def request_failed(self, status: int) -> None:
        self.failures[status] += 1

    def batch_done(self, images: int, waits_ns: Sequence[int], compute_ns: int) -> None:
        with self._lock:
            self.inference_count += images
            self.execution_count += 1
            self.queue_count += len(waits_ns)
            self.queue_ns += sum(waits_ns)
            self.compute_ns += compute_ns
            self.last_inference_ms = int(time.time() * 1e3)
            self.batch_sizes[images] += 1
            self.batch_ns[images] += compute_ns
            self.batch_hist.observe(images)
            self.compute_hist.observe(compute_ns / 1e9)
            for wait in waits_ns:
                self.queue_hist.observe(wait / 1e9)

    # -- exporting
    def triton_stats(self, model: str, version: str) -> dict:
        """The body of Triton's ``GET /v2/models/<model>/stats``, for one model version."""
        with self._lock:
            fail = sum(self.failures.values())
            model_stats = {
                "name": model,
                "version": version,
                "last_inference": self.last_inference_ms,
                "inference_count": self.inference_count,
                "execution_count": self.execution_count,
                "inference_stats": {
                    "success": {"count": self.success_count, "ns": self.success_ns},
                    "fail": {"count": fail, "ns": 0},
                    "queue": {"count": self.queue_count, "ns": self.queue_ns},
                    "compute_input": {"count": self.execution_count, "ns": 0},
                    "compute_infer": {"count": self.execution_count, "ns": self.compute_ns},
                    "compute_output": {"count": self.execution_count, "ns": 0},
                },
                "batch_stats": [
                    {
                        "batch_size": size,
                        "compute_infer": {"count": count, "ns": self.batch_ns[size]},
                    }
                    for size, count in sorted(self.batch_sizes.items())
                ],
            }
        return {"model_stats": [model_stats]}

    def prometheus(self, model: str, version: str, pending: int) -> str:
        """Prometheus text exposition format 0.0.4."""
        labels = f'model="{model}",version="{version}"'
        p = "lenet_deploy"
        lines = [
            f"# HELP {p}_requests_total Inference requests by outcome (HTTP status).",
            f"# TYPE {p}_requests_total counter",
            f'{p}_requests_total{{{labels},status="200"}} {self.success_count}',
        ]
        lines += [
            f'{p}_requests_total{{{labels},status="{status}"}} {count}'
            for status, count in sorted(self.failures.items())
        ]
        with self._lock:
            lines += [
                f"# HELP {p}_inferences_total Images inferred.",
                f"# TYPE {p}_inferences_total counter",
                f"{p}_inferences_total{{{labels}}} {self.inference_count}",
                f"# HELP {p}_executions_total Batches run on the runtime.",
                f"# TYPE {p}_executions_total counter",
                f"{p}_executions_total{{{labels}}} {self.execution_count}",
                f"# HELP {p}_batch_size Images per batch run on the runtime.",
                f"# TYPE {p}_batch_size histogram",
                *self.batch_hist.lines(f"{p}_batch_size", labels),
                f"# HELP {p}_queue_seconds Time a request waited for its batch to start.",
                f"# TYPE {p}_queue_seconds histogram",
                *self.queue_hist.lines(f"{p}_queue_seconds", labels),
                f"# HELP {p}_compute_seconds Time the runtime took per batch.",
                f"# TYPE {p}_compute_seconds histogram",
                *self.compute_hist.lines(f"{p}_compute_seconds", labels),
            ]
        lines += [
            f"# HELP {p}_pending_requests Requests queued or running now.",
            f"# TYPE {p}_pending_requests gauge",
            f"{p}_pending_requests{{{labels}}} {pending}",
        ]
        return "\n".join(lines) + "\n"
