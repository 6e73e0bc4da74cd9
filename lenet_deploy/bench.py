"""Measure runtimes side by side; returns Measurement records and prints nothing.

Method (as trtexec, onnxruntime_perf_test and torch.utils.benchmark do it):

* every runtime is loaded once (``load_ms``); the first call at each batch size is timed on its
  own (``first_inference_ms``), then each (runtime, batch size) is warmed up;
* timed calls run in interleaved rounds -- round 1 of every runtime and batch size, then round
  2, ... -- so machine noise hits all runtimes alike;
* every sample is kept; percentiles, IQR, mean, min and max are computed from them; a
  measurement whose IQR / median exceeds 0.1 is flagged as noisy;
* GPU runtimes synchronise the device before the clock is read; those that expose the phase
  API (``upload`` / ``compute`` / ``download``) get host-to-device, compute (device-resident
  input, IO binding for ort-cuda; CUDA events for torch) and device-to-host times reported
  separately, and the end-to-end latency includes the copies;
* torch and onnxruntime get the same intra-op thread count by default (the CPUs this process
  may use), and it is recorded.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LenetDeployError, RuntimeUnavailableError
from .spec import FLOPS_PER_IMAGE

DEFAULT_BATCH_SIZES = (1, 8, 64, 256)
DEFAULT_WARMUP = 20
DEFAULT_DURATION_S = 1.5  # timed seconds per (runtime, batch size), over all rounds
DEFAULT_ROUNDS = 5
NOISY_IQR_RATIO = 0.1
MIN_SAMPLES_PER_ROUND = 3


def default_threads() -> int:
    """The CPUs this process may run on (what both engines get unless told otherwise)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class BenchSettings:
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    warmup: int = DEFAULT_WARMUP
    iterations: int | None = None  # timed calls per (runtime, batch); None: use duration_s
    duration_s: float = DEFAULT_DURATION_S
    rounds: int = DEFAULT_ROUNDS
    threads: int | None = None  # None: default_threads()


@dataclass
class Measurement:
    """One runtime at one batch size. ``samples_ms`` are the raw end-to-end call times."""

    runtime: str
    batch_size: int
    device: str
    threads: Any
    load_ms: float
    first_inference_ms: float
    samples_ms: np.ndarray
    peak_rss_mb: float = 0.0
    phases_ms: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def iterations(self) -> int:
        return len(self.samples_ms)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.samples_ms, q))

    @property
    def p50_ms(self) -> float:
        return self.percentile(50)

    @property
    def p90_ms(self) -> float:
        return self.percentile(90)

    @property
    def p99_ms(self) -> float:
        return self.percentile(99)

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.samples_ms))

    @property
    def min_ms(self) -> float:
        return float(np.min(self.samples_ms))

    @property
    def max_ms(self) -> float:
        return float(np.max(self.samples_ms))

    @property
    def iqr_ms(self) -> float:
        return self.percentile(75) - self.percentile(25)

    @property
    def throughput_ips(self) -> float:
        """Images per second over all timed calls (batch size / mean latency)."""
        return self.batch_size / (self.mean_ms / 1e3)

    @property
    def gflops(self) -> float:
        return self.throughput_ips * FLOPS_PER_IMAGE / 1e9

    @property
    def noisy(self) -> bool:
        return self.iqr_ms / self.p50_ms > NOISY_IQR_RATIO

    def record(self) -> dict[str, Any]:
        rec = {
            "runtime": self.runtime,
            "batch_size": self.batch_size,
            "device": self.device,
            "threads": self.threads,
            "iterations": self.iterations,
            "load_ms": self.load_ms,
            "first_inference_ms": self.first_inference_ms,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
            "iqr_ms": self.iqr_ms,
            "throughput_ips": self.throughput_ips,
            "gflops": self.gflops,
            "peak_rss_mb": self.peak_rss_mb,
            "noisy": self.noisy,
        }
        for phase in ("h2d", "compute", "d2h"):
            values = self.phases_ms.get(phase)
            rec[f"{phase}_p50_ms"] = float(np.median(values)) if values is not None else None
        return rec


@dataclass
class BenchResult:
    measurements: list[Measurement]
    environment: dict[str, Any]
    settings: BenchSettings
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return [
            f"{m.runtime} batch {m.batch_size}: IQR/median = {m.iqr_ms / m.p50_ms:.2f} > "
            f"{NOISY_IQR_RATIO} (noisy machine; close other programs or raise --duration)"
            for m in self.measurements
            if m.noisy
        ]

    def records(self) -> list[dict[str, Any]]:
        return [m.record() for m in self.measurements]


def environment() -> dict[str, Any]:
    """CPU, cores, library versions and providers, without importing torch."""
    from importlib.metadata import PackageNotFoundError, version

    def pkg(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    env: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cpus": default_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": pkg("torch"),
        "onnxruntime": pkg("onnxruntime-gpu") or pkg("onnxruntime"),
    }
    if "onnxruntime" in sys.modules:
        env["ort_providers"] = sys.modules["onnxruntime"].get_available_providers()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        env["torch_cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
    return env


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


RuntimeLike = Any  # a registered name, or a Runtime object an app built


def benchmark(
    runtimes: Sequence[RuntimeLike],
    model: str | os.PathLike = "artifacts",
    settings: BenchSettings | None = None,
    *,
    images: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BenchResult:
    """Measure each runtime at each batch size; returns the measurements and the environment.

    ``runtimes`` holds registry names (loaded from ``model`` with the shared thread count) or
    ``Runtime`` objects (measured as given, with ``load_ms`` = 0). A named runtime that cannot
    run raises RuntimeUnavailableError; nothing is measured then. ``images`` (N, 1, 32, 32)
    feed the batches (default: uniform noise; latency does not depend on pixel values).
    ``progress(done, total)`` is called after every timed round.
    """
    from .limits import check_bench_settings
    from .runtimes import Runtime, load_runtime

    settings = settings or BenchSettings()
    if not runtimes:
        raise LenetDeployError("no runtime to benchmark")
    check_bench_settings(settings)
    threads = settings.threads or default_threads()
    rng = np.random.default_rng(0)
    largest = max(settings.batch_sizes)
    pool = images if images is not None else rng.random((largest, 1, 32, 32), dtype=np.float32)
    batches = {
        b: np.ascontiguousarray(np.resize(pool, (b, 1, 32, 32)), dtype=np.float32)
        for b in settings.batch_sizes
    }

    loaded: list[tuple[Runtime, float, bool]] = []
    try:
        for item in runtimes:
            if isinstance(item, Runtime):
                loaded.append((item, 0.0, False))
                continue
            options = {"threads": threads} if _accepts_threads(item) else {}
            t0 = time.perf_counter()
            runtime = load_runtime(item, model, **options)
            loaded.append((runtime, (time.perf_counter() - t0) * 1e3, True))
        measurements = _measure(loaded, batches, settings, threads, progress)
    finally:
        for runtime, _, owned in loaded:
            if owned:
                runtime.close()
    return BenchResult(measurements, environment(), settings)


def _accepts_threads(name: str) -> bool:
    """Built-ins take ``threads``; a plug-in factory may not, and then keeps its own setting."""
    import inspect

    from .runtimes import get_entry

    try:
        params = inspect.signature(get_entry(name).factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "threads" or p.kind is p.VAR_KEYWORD for p in params)


def _measure(loaded, batches, settings: BenchSettings, threads: int, progress):
    cells: dict[tuple[int, int], Measurement] = {}
    samples: dict[tuple[int, int], list[float]] = {}
    phases: dict[tuple[int, int], dict[str, list[float]]] = {}
    for i, (runtime, load_ms, owned) in enumerate(loaded):
        for b, x in batches.items():
            t0 = time.perf_counter()
            runtime.predict(x)
            runtime.synchronize()
            first = (time.perf_counter() - t0) * 1e3
            for _ in range(settings.warmup):
                runtime.predict(x)
            runtime.synchronize()
            info_threads = runtime.info().get("threads", threads if owned else None)
            cells[i, b] = Measurement(
                runtime.name, b, runtime.device, info_threads, load_ms, first, np.empty(0)
            )
            samples[i, b], phases[i, b] = [], {"h2d": [], "compute": [], "d2h": []}
    rounds = max(1, settings.rounds)
    total = rounds * len(cells)
    done = 0
    for _ in range(rounds):
        for b, x in batches.items():
            for i, (runtime, _, _) in enumerate(loaded):
                _time_round(runtime, x, settings, rounds, samples[i, b], phases[i, b])
                cells[i, b].peak_rss_mb = _peak_rss_mb()
                done += 1
                if progress:
                    progress(done, total)
    for key, m in cells.items():
        m.samples_ms = np.asarray(samples[key])
        m.phases_ms = {k: np.asarray(v) for k, v in phases[key].items() if v}
    return [cells[i, b] for i in range(len(loaded)) for b in batches]


def _time_round(runtime, x, settings: BenchSettings, rounds: int, out: list, phases: dict):
    clock = time.perf_counter
    staged = runtime.device != "cpu" and hasattr(runtime, "upload")
    if settings.iterations is not None:
        count, budget = max(1, settings.iterations // rounds), None
    else:
        count, budget = None, settings.duration_s / rounds
    start = clock()
    n = 0
    while True:
        if staged:  # device runtimes: each phase synchronises before its clock is read
            t0 = clock()
            handle = runtime.upload(x)
            t1 = clock()
            result = runtime.compute(handle)
            t2 = clock()
            runtime.download(result)
            t3 = clock()
            phases["h2d"].append((t1 - t0) * 1e3)
            # CUDA events time the kernels themselves where the runtime offers them (torch)
            event_ms = getattr(runtime, "last_compute_ms", None)
            phases["compute"].append(event_ms if event_ms is not None else (t2 - t1) * 1e3)
            phases["d2h"].append((t3 - t2) * 1e3)
            out.append((t3 - t0) * 1e3)
        else:
            t0 = clock()
            runtime.predict(x)
            runtime.synchronize()
            out.append((clock() - t0) * 1e3)
        n += 1
        if count is not None:
            if n >= count:
                break
        elif n >= MIN_SAMPLES_PER_ROUND and clock() - start >= budget:
            break


def resolve_runtimes(names: Sequence[str] | None) -> tuple[list[str], dict[str, str]]:
    """Names to measure and {name: reason} skipped. None (or a list holding 'all') = every
    available runtime; every other name must still be a registered runtime.

    A runtime named explicitly that cannot run here raises RuntimeUnavailableError.
    """
    from .runtimes import available_runtimes, get_entry

    rows = {a.name: a for a in available_runtimes()}
    if names is not None and "all" in names:
        for name in names:
            if name != "all":
                get_entry(name)  # 'all' never hides a misspelt name
        names = None
    if names is None:
        chosen = [n for n, a in rows.items() if a]
        return chosen, {n: a.reason for n, a in rows.items() if not a}
    for name in names:
        get_entry(name)  # unknown: error listing the known ones
        if not rows[name]:
            raise RuntimeUnavailableError(
                rows[name].reason
                if rows[name].reason.startswith(name)
                else f"{name}: {rows[name].reason}"
            )
    return list(dict.fromkeys(names)), {}
