"""Measure runtimes side by side; returns Measurement records and prints nothing.

Method (as trtexec, onnxruntime_perf_test and torch.utils.benchmark do it):

* every runtime is loaded once (``load_ms``); the first call at each batch size is timed on its
  own (``first_inference_ms``), then each (runtime, batch size) is warmed up;
* timed calls run in interleaved rounds -- round 1 of every runtime and batch size, then round
  2, ... -- so machine noise hits all runtimes alike;
* every sample is kept; percentiles, IQR, mean, min and max are computed from them; a
  measurement whose IQR / median exceeds 0.1 is flagged as noisy;
* the end-to-end latency is ``predict`` (the copies included) followed by a device
  synchronisation; device runtimes (``Runtime.timed_phases``) also get host-to-device, compute
  (device-resident input) and device-to-host times, each phase finished on the device before
  the host clock is read (one clock for every engine), the input validated once beforehand so
  the check is never timed as a copy;
* every runtime that takes a ``threads`` option gets the same intra-op thread count (by
  default the CPUs this process may use), except that a runtime choosing threads by batch size
  (``ort-cpu``'s ``small_batch``) keeps its own choice unless ``threads`` is set; the thread
  count that served each batch size is recorded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LenetDeployError, RuntimeUnavailableError
from .machine import default_threads, environment, peak_rss_mb
from .measurement import NOISY_IQR_RATIO, BenchResult, Measurement

__all__ = [
    "NOISY_IQR_RATIO",
    "BenchResult",
    "BenchSettings",
    "Measurement",
    "benchmark",
    "default_threads",
    "environment",
    "resolve_runtimes",
]

DEFAULT_BATCH_SIZES = (1, 8, 64, 256)
DEFAULT_WARMUP = 20
DEFAULT_DURATION_S = 1.5  # timed seconds per (runtime, batch size), over all rounds
DEFAULT_ROUNDS = 5
MIN_SAMPLES_PER_ROUND = 3
_PHASES = ("h2d", "compute", "d2h")
_clock = time.perf_counter  # the one clock every phase and runtime is timed with


@dataclass(frozen=True)
class BenchSettings:
    """``batch_sizes`` (1, 8, 64, 256); ``warmup`` untimed calls (20); ``iterations`` timed
    calls per runtime and batch size, or None to time for ``duration_s`` seconds (1.5) split
    over ``rounds`` interleaved rounds (5); ``threads`` (None: the usable CPUs)."""

    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    warmup: int = DEFAULT_WARMUP
    iterations: int | None = None
    duration_s: float = DEFAULT_DURATION_S
    rounds: int = DEFAULT_ROUNDS
    threads: int | None = None


RuntimeLike = Any  # a registered name, or a Runtime object an app built


def benchmark(
    runtimes: Sequence[RuntimeLike],
    model: str | os.PathLike = "artifacts",
    settings: BenchSettings | None = None,
    *,
    images: np.ndarray | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    skipped: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BenchResult:
    """Measure each runtime at each batch size; returns the measurements and the environment.

    ``runtimes`` holds registry names (loaded from ``model`` with their ``options`` and the
    shared thread count) or ``Runtime`` objects (measured as given, with ``load_ms`` = 0). A
    named runtime that cannot run raises RuntimeUnavailableError; nothing is measured then.
    ``images`` (N, 1, 32, 32) feed the batches (default: uniform noise; latency does not
    depend on pixel values). ``skipped`` ({name: reason}) is carried into the result.
    ``progress(done, total)`` is called after every timed round.
    """
    from ..artifacts.layout import artifact_for
    from ..limits import check_bench_settings
    from ..runtimes import Runtime, get_entry, validate_batch

    settings = settings or BenchSettings()
    options = options or {}
    if not runtimes:
        raise LenetDeployError("no runtime to benchmark")
    check_bench_settings(settings)
    threads = settings.threads or default_threads()
    rng = np.random.default_rng(0)
    largest = max(settings.batch_sizes)
    pool = images if images is not None else rng.random((largest, 1, 32, 32), dtype=np.float32)
    batches = {
        b: validate_batch(np.ascontiguousarray(np.resize(pool, (b, 1, 32, 32)), dtype=np.float32))
        for b in settings.batch_sizes
    }

    loaded: list[tuple[Runtime, float, bool]] = []
    try:
        for item in runtimes:
            if isinstance(item, Runtime):
                loaded.append((item, 0.0, False))
                continue
            entry = get_entry(item)
            chosen = dict(options.get(item, {}))
            # a runtime that picks threads per batch size keeps that unless threads were asked
            if entry.accepts("threads") and (settings.threads or not entry.accepts("small_batch")):
                chosen.setdefault("threads", threads)
            t0 = time.perf_counter()
            runtime = entry.create(artifact_for(entry.artifact, model), chosen)
            loaded.append((runtime, (time.perf_counter() - t0) * 1e3, True))
        measurements = _measure(loaded, batches, settings, progress)
    finally:
        for runtime, _, owned in loaded:
            if owned:
                runtime.close()
    return BenchResult(measurements, environment(), settings, dict(skipped or {}))


def _measure(loaded, batches, settings: BenchSettings, progress) -> list[Measurement]:
    first: dict[tuple[int, int], float] = {}
    samples: dict[tuple[int, int], list[float]] = {}
    phases: dict[tuple[int, int], dict[str, list[float]]] = {}
    rss: dict[tuple[int, int], float] = {}
    for i, (runtime, _, _) in enumerate(loaded):
        for b, x in batches.items():
            t0 = time.perf_counter()
            runtime.predict(x)
            runtime.synchronize()
            first[i, b] = (time.perf_counter() - t0) * 1e3
            for _ in range(settings.warmup):
                runtime.predict(x)
            runtime.synchronize()
            samples[i, b], phases[i, b] = [], {p: [] for p in _PHASES}
    rounds = max(1, settings.rounds)
    total = rounds * len(samples)
    done = 0
    for _ in range(rounds):
        for b, x in batches.items():
            for i, (runtime, _, _) in enumerate(loaded):
                _time_round(runtime, x, settings, rounds, samples[i, b], phases[i, b])
                rss[i, b] = peak_rss_mb()
                done += 1
                if progress:
                    progress(done, total)
    return [
        Measurement(
            runtime.name,
            b,
            runtime.device,
            _threads(runtime, b),
            load_ms,
            first[i, b],
            np.asarray(samples[i, b]),
            rss[i, b],
            {k: np.asarray(v) for k, v in phases[i, b].items() if v},
        )
        for i, (runtime, load_ms, _) in enumerate(loaded)
        for b in batches
    ]


def _threads(runtime, batch_size: int) -> Any:
    threads_for = getattr(runtime, "threads_for", None)  # runtimes that choose per batch size
    return threads_for(batch_size) if threads_for else runtime.info().get("threads")


def _time_round(runtime, x, settings: BenchSettings, rounds: int, out: list, phases: dict):
    clock = _clock
    staged = runtime.timed_phases
    if settings.iterations is not None:
        count, budget = max(1, settings.iterations // rounds), None
    else:
        count, budget = None, settings.duration_s / rounds
    start = clock()
    n = 0
    while True:
        t0 = clock()
        runtime.predict(x)
        runtime.synchronize()
        out.append((clock() - t0) * 1e3)
        if staged:  # device runtimes: each phase has finished when it returns; one clock
            t0 = clock()
            handle = runtime.upload(x, validated=True)
            t1 = clock()
            result = runtime.compute(handle)
            t2 = clock()
            runtime.download(result)
            t3 = clock()
            phases["h2d"].append((t1 - t0) * 1e3)
            phases["compute"].append((t2 - t1) * 1e3)
            phases["d2h"].append((t3 - t2) * 1e3)
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
    from ..runtimes import available_runtimes, get_entry
    from ..runtimes.registry import COMPOSITE

    rows = {a.name: a for a in available_runtimes()}
    if names is not None and "all" in names:
        for name in names:
            if name != "all":
                get_entry(name)  # 'all' never hides a misspelt name
        names = None
    if names is None:
        from ..artifacts.layout import ArtifactKind

        # A URL runtime measures a server, which only an explicit --model URL names.
        skipped = {n: a.reason for n, a in rows.items() if not a}
        for name in rows:
            if name not in skipped and get_entry(name).artifact is ArtifactKind.URL:
                skipped[name] = f"{name}: needs a server: --runtime {name} --model URL"
        return [n for n in rows if n not in skipped and n not in COMPOSITE], skipped
    for name in names:
        get_entry(name)  # unknown: error listing the known ones
        if not rows[name]:
            reason = rows[name].reason
            raise RuntimeUnavailableError(
                reason if reason.startswith(name) else f"{name}: {reason}"
            )
    return list(dict.fromkeys(names)), {}
