"""Benchmark results: ``Measurement`` (one runtime at one batch size, raw samples kept),
``BenchResult`` (a batch sweep) and ``LoadTestReport`` (``bench --concurrency``: the load test's
``LoadResult`` levels); statistics are computed from the samples. No torch, no engines.

The noise rule has one owner, here: a cell is noisy when IQR / median > ``NOISY_IQR_RATIO``;
its warning prints the ratio with enough digits to be seen to exceed the threshold."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..spec import FLOPS_PER_IMAGE

NOISY_IQR_RATIO = 0.1
#: How each statistic is computed (written into every report beside the figures).
HOW = {
    "latency": "one call's wall time; p50/p90/p95/p99 are percentiles of every timed call",
    "iqr_ms": "p75 - p25 of the timed calls",
    "throughput_ips": "batch size / mean latency (every timed call: slow outliers lower it, "
    "the median does not)",
    "noisy": f"IQR / median > {NOISY_IQR_RATIO}",
}
#: A mean this many times the median makes batch/mean and batch/p50 disagree: say so.
OUTLIER_MEAN_RATIO = 1.5


def iqr_ratio(samples_ms) -> float:
    """IQR / median of ``samples_ms`` (0 when there are none)."""
    if not len(samples_ms):
        return 0.0
    q25, q50, q75 = np.percentile(samples_ms, [25, 50, 75])
    return float((q75 - q25) / q50) if q50 > 0 else 0.0


def is_noisy(ratio: float) -> bool:
    return ratio > NOISY_IQR_RATIO


def ratio_text(ratio: float) -> str:
    """``ratio`` with the fewest decimals (2 or more) that still show it above the threshold,
    so a warning never reads "0.10 > 0.1"."""
    for digits in range(2, 8):
        text = f"{ratio:.{digits}f}"
        if float(text) > NOISY_IQR_RATIO or not is_noisy(ratio):
            return text
    return repr(ratio)


def noise_warning(what: str, ratio: float, fix: str) -> str:
    return f"{what}: IQR/median = {ratio_text(ratio)} > {NOISY_IQR_RATIO} (noisy; {fix})"


def provenance(models: list[dict[str, Any]]) -> dict[str, Any]:
    """What every report carries: the models measured (path and sha256), the lenet-deploy
    version, the time (UTC) and the machine."""
    import platform
    from datetime import datetime, timezone

    from .. import __version__
    from .machine import environment

    return {
        "models": models,
        "lenet_deploy": __version__,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "machine": environment(),
    }


@dataclass(frozen=True)
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
    def p95_ms(self) -> float:
        return self.percentile(95)

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
    def compute_ips(self) -> float | None:
        """Images per second of the compute phase alone (device-resident input and output),
        from its median; None for runtimes without separate phases."""
        values = self.phases_ms.get("compute")
        if values is None or not len(values):
            return None
        return self.batch_size / (float(np.median(values)) / 1e3)

    @property
    def noise(self) -> float:
        """IQR / median of the timed calls."""
        return iqr_ratio(self.samples_ms)

    @property
    def noisy(self) -> bool:
        return is_noisy(self.noise)

    @property
    def outliers(self) -> bool:
        """True when the mean is far above the median: batch/mean (``throughput_ips``) is then
        well below batch/p50, and a table must say why."""
        return self.mean_ms > OUTLIER_MEAN_RATIO * self.p50_ms

    def to_dict(self) -> dict[str, Any]:
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
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
            "iqr_ms": self.iqr_ms,
            "throughput_ips": self.throughput_ips,
            "gflops": self.gflops,
            "peak_rss_mb": self.peak_rss_mb,
            "noisy": self.noisy,
            "iqr_over_median": self.noise,
        }
        for phase in ("h2d", "compute", "d2h"):
            values = self.phases_ms.get(phase)
            rec[f"{phase}_p50_ms"] = float(np.median(values)) if values is not None else None
        rec["compute_ips"] = self.compute_ips
        return rec


@dataclass(frozen=True)
class BenchResult:
    """A batch sweep. ``provenance`` (see :func:`provenance`) is what reports carry."""

    measurements: list[Measurement]
    environment: dict[str, Any]
    settings: Any  # bench.BenchSettings
    skipped: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    kind = "batch"

    @property
    def warnings(self) -> list[str]:
        fix = "close other programs or raise --duration"
        return [
            noise_warning(f"{m.runtime} batch {m.batch_size}", m.noise, fix)
            for m in self.measurements
            if m.noisy
        ]

    def records(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in self.measurements]

    def to_dict(self) -> dict[str, Any]:
        """Everything, as written by ``bench --json``."""
        return {
            "kind": self.kind,
            "provenance": self.provenance,
            "how": HOW,
            "environment": self.environment,
            "settings": asdict(self.settings),
            "skipped": dict(self.skipped),
            "warnings": self.warnings,
            "measurements": self.records(),
        }


@dataclass(frozen=True)
class LoadTestReport:
    """``bench --concurrency``: one ``bench.loadtest.LoadResult`` per (batch size, level)."""

    results: list[Any]
    url: str
    settings: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)

    kind = "concurrency"

    @property
    def warnings(self) -> list[str]:
        fix = "latency varies with load; raise --duration or close other programs"
        out = [
            noise_warning(
                f"concurrency {r.concurrency} batch {r.batch_size}", iqr_ratio(r.latencies_ms), fix
            )
            for r in self.results
            if is_noisy(iqr_ratio(r.latencies_ms))
        ]
        out += [
            f"concurrency {r.concurrency} batch {r.batch_size}: {r.errors} errors, "
            f"{r.mismatches} wrong answers"
            for r in self.results
            if r.errors or r.mismatches
        ]
        return out

    def records(self) -> list[dict[str, Any]]:
        records = []
        for r in self.results:
            ratio = iqr_ratio(r.latencies_ms)
            records.append(
                r.to_dict()
                | {
                    "p95_ms": round(r.percentile(95), 4),
                    "mean_ms": round(float(np.mean(r.latencies_ms)), 4)
                    if len(r.latencies_ms)
                    else 0.0,
                    "iqr_ms": round(r.percentile(75) - r.percentile(25), 4),
                    "iqr_over_median": ratio,
                    "noisy": is_noisy(ratio),
                }
            )
        return records

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "provenance": self.provenance,
            "how": {
                "latency": "one request's round trip; percentiles of every timed request",
                "images_per_s": "requests completed / wall time x batch size (all clients)",
                "noisy": HOW["noisy"],
            },
            "url": self.url,
            "settings": self.settings,
            "warnings": self.warnings,
            "results": self.records(),
        }
