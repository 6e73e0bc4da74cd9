"""``tune``: every runtime x precision x thread count (and OpenVINO's performance hints) that
runs here, measured side by side; the fastest accurate one per batch regime wins.

1. The candidates: each precision variant in the artifacts directory (``exporters.variants``;
   fp32 is ``lenet.onnx``, and ``lenet.pt`` for torch-cpu) on each engine that computes it and
   runs here, at each thread count (default 1, 2, 4, ... up to the usable CPUs, and that count),
   OpenVINO with its LATENCY and THROUGHPUT hints.
2. The accuracy gate: each candidate runs the held-out split and ``verify``'s edge inputs and is
   judged against ``lenet.onnx`` on onnxruntime by ``verify.compare`` under its precision's
   policy; a candidate that fails is reported and never measured or chosen.
3. The measurement: ``bench.runner.benchmark`` (warm-up, interleaved rounds, raw samples, noise
   flags) over the candidates that passed, at each batch size (default 1, 64, 256).
4. The winners: per batch size, the lowest median latency (ort-cpu fp32 keeps a regime unless
   beaten by more than ``WIN_MARGIN``); written to ``tuned.json``
   (``bench.tuned``) with the machine, the versions and the model files' sha256.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts.layout import CHECKPOINT_NAME, ONNX_NAME, resolve
from ..errors import LenetDeployError, RuntimeUnavailableError
from .runner import BenchResult, BenchSettings, benchmark
from .tuned import FORMAT, Winner, file_hashes, fingerprint

DEFAULT_TUNE_BATCHES = (1, 64, 256)
DEFAULT_TUNE_DURATION_S = 1.0
DEFAULT_TUNE_ROUNDS = 3
DEFAULT_TUNE_WARMUP = 10
OV_HINTS = ("LATENCY", "THROUGHPUT")
#: A challenger replaces ort-cpu fp32 only when its median latency is this much lower.
WIN_MARGIN = 0.03


@dataclass(frozen=True)
class TuneSettings:
    """``batch_sizes`` (1, 64, 256); ``threads`` thread counts to try (None: 1, 2, 4, ... and
    the usable CPUs); ``duration_s`` timed seconds per candidate and batch size over
    ``rounds`` interleaved rounds (1.0 over 3); ``warmup`` untimed calls (10)."""

    batch_sizes: tuple[int, ...] = DEFAULT_TUNE_BATCHES
    threads: tuple[int, ...] | None = None
    duration_s: float = DEFAULT_TUNE_DURATION_S
    rounds: int = DEFAULT_TUNE_ROUNDS
    warmup: int = DEFAULT_TUNE_WARMUP


@dataclass(frozen=True)
class Candidate:
    runtime: str
    precision: str
    file: str  # relative to the artifacts directory
    options: dict[str, Any]

    @property
    def label(self) -> str:
        opts = self.options
        parts = [self.runtime, self.precision]
        if "performance_hint" in opts:
            parts.append(opts["performance_hint"].lower())
        if opts.get("threads") is not None:
            parts.append(f"t{opts['threads']}")
        return " ".join(parts)


@dataclass
class TuneResult:
    directory: Path
    bench: BenchResult | None
    accuracy: dict[str, float | None]
    rejected: dict[str, str]
    skipped: dict[str, str]
    winners: list[Winner]
    candidates: dict[str, Candidate] = field(default_factory=dict)
    peaks: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """What ``tuned.json`` holds."""
        files = [w.file for w in self.winners] + [ONNX_NAME]
        return {
            "format": FORMAT,
            "machine": fingerprint(),
            "files": file_hashes(self.directory, files),
            "winners": [w.to_dict() for w in self.winners],
            "peaks": {p: peak.to_dict() for p, peak in self.peaks.items()},
            "accuracy": self.accuracy,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "wall_s": self.wall_s,
            "settings": asdict(self.bench.settings) if self.bench else None,
            "measurements": self.bench.records() if self.bench else [],
        }


def thread_counts(usable: int) -> tuple[int, ...]:
    """1, 2, 4, ... below ``usable``, and ``usable`` itself."""
    counts, n = [], 1
    while n < usable:
        counts.append(n)
        n *= 2
    return (*counts, usable)


def candidates(directory: Path, threads: tuple[int, ...]) -> tuple[list[Candidate], dict[str, str]]:
    """Every configuration that can run here, and {what: why not} for those that cannot."""
    from ..exporters.variants import ENGINES, list_variants
    from ..runtimes import available_runtimes, get_entry

    usable = {a.name: a for a in available_runtimes()}
    files = {"fp32": ONNX_NAME}
    skipped: dict[str, str] = {}
    for variant in list_variants(directory):
        if variant.stale:
            skipped[variant.path.name] = variant.stale
        else:
            files[variant.precision] = variant.model.name
    found = []
    for precision, file in files.items():
        for name, base in ENGINES[precision]:
            if name not in usable or not usable[name]:
                skipped[f"{name} {precision}"] = usable[name].reason if name in usable else "?"
                continue
            entry = get_entry(name)
            model = CHECKPOINT_NAME if entry.artifact.value == "checkpoint" else file
            if not (directory / model).is_file():
                skipped[f"{name} {precision}"] = f"no {model} in {directory}"
                continue
            hints = OV_HINTS if entry.accepts("performance_hint") else (None,)
            counts = threads if entry.accepts("threads") and entry.device == "cpu" else (None,)
            if entry.artifact.value == "checkpoint" and counts != (None,):
                counts = (max(threads),)  # torch's thread count is process-wide: one setting
            for hint in hints:
                for count in counts:
                    options = dict(base)
                    if hint is not None:
                        options["performance_hint"] = hint
                    if count is not None:
                        options["threads"] = count
                    found.append(Candidate(name, precision, model, options))
    return found, skipped


def tune(
    model: str | os.PathLike = "artifacts",
    settings: TuneSettings | None = None,
    *,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TuneResult:
    """Gate and measure every candidate in the artifacts directory ``model``; the winners per
    batch size. Raises LenetDeployError when no candidate passes the accuracy gate."""
    from ..limits import check_bench_settings
    from ..runtimes import get_entry, load_runtime
    from ..verify.compare import compare, tolerance_for
    from ..verify.parity import dataset_for, parity_inputs
    from .machine import default_threads
    from .peak import measure_peaks

    start = time.perf_counter()
    say = log or (lambda _m: None)
    settings = settings or TuneSettings()
    bench_settings = BenchSettings(
        batch_sizes=settings.batch_sizes,
        warmup=settings.warmup,
        duration_s=settings.duration_s,
        rounds=settings.rounds,
    )
    check_bench_settings(bench_settings)
    directory = resolve(model, "onnx").parent
    threads = settings.threads or thread_counts(default_threads())
    found, skipped = candidates(directory, threads)
    say(f"{len(found)} candidates in {directory} ({len(skipped)} cannot run here)")
    from ..artifacts.pairing import read_metadata

    ds = dataset_for(read_metadata(directory / ONNX_NAME).get("dataset"), say)
    inputs = parity_inputs(ds.x_test, ds.y_test)
    labels = {s.name: s.labels for s in inputs if s.labels is not None}
    with load_runtime("ort-cpu", directory / ONNX_NAME) as ref:
        want = {s.name: ref.predict(s.x) for s in inputs}

    loaded, accuracy, rejected = [], {}, {}
    try:
        for cand in found:
            try:
                runtime = get_entry(cand.runtime).create(directory / cand.file, cand.options)
            except RuntimeUnavailableError as exc:
                skipped[cand.label] = str(exc)
                continue
            got = {s.name: runtime.predict(s.x) for s in inputs}
            result = compare(got, want, tolerance_for(runtime.precision), labels=labels)
            accuracy[cand.label] = result.accuracy
            if not result:
                rejected[cand.label] = "; ".join(result.failures)
                say(f"rejected {cand.label}: {rejected[cand.label]}")
                runtime.close()
                continue
            runtime.name = cand.label  # measurements are reported by configuration
            loaded.append((cand, runtime))
        if not loaded:
            raise LenetDeployError(
                f"no configuration in {directory} passed the accuracy gate; run "
                "'lenet-deploy verify' to see why"
            )
        say(f"{len(loaded)} passed the accuracy gate; measuring the matmul peak")
        peaks = measure_peaks()
        say(f"measuring at batch sizes {', '.join(map(str, settings.batch_sizes))}")
        bench = benchmark(
            [rt for _, rt in loaded], directory, bench_settings, skipped=skipped,
            progress=progress,
        )  # fmt: skip
    finally:
        for _, runtime in loaded:
            runtime.close()
    by_label = {c.label: c for c, _ in loaded}
    winners = _winners(bench, by_label, accuracy)
    wall = time.perf_counter() - start
    return TuneResult(directory, bench, accuracy, rejected, skipped, winners, by_label, peaks, wall)


def _winners(bench: BenchResult, by_label: dict[str, Candidate], accuracy) -> list[Winner]:
    """Per batch size the lowest median latency; ``ort-cpu`` fp32 on every usable CPU (what
    ``auto`` serves untuned) keeps the regime unless a challenger's median beats its own by
    more than ``WIN_MARGIN``, so noise alone never replaces the default with something slower."""
    from .machine import default_threads

    baseline = f"ort-cpu fp32 t{default_threads()}"
    winners = []
    for size in bench.settings.batch_sizes:
        rows = {m.runtime: m for m in bench.measurements if m.batch_size == size}
        best = min(rows.values(), key=lambda m: m.p50_ms)
        base = rows.get(baseline)
        if base is not None and best.p50_ms > base.p50_ms * (1 - WIN_MARGIN):
            best = base
        cand = by_label[best.runtime]
        winners.append(
            Winner(size, cand.runtime, cand.precision, cand.file, dict(cand.options),
                   cand.label, size / best.p50_ms * 1e3, best.p50_ms, accuracy.get(cand.label))
        )  # fmt: skip
    return winners
