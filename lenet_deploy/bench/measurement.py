"""Benchmark results: ``Measurement`` (one runtime at one batch size, raw samples kept) and
``BenchResult``; statistics are computed from the samples. No torch, no engines."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..spec import FLOPS_PER_IMAGE

NOISY_IQR_RATIO = 0.1


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
    def noisy(self) -> bool:
        return self.iqr_ms / self.p50_ms > NOISY_IQR_RATIO

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
        rec["compute_ips"] = self.compute_ips
        return rec


@dataclass(frozen=True)
class BenchResult:
    measurements: list[Measurement]
    environment: dict[str, Any]
    settings: Any  # bench.BenchSettings
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
        return [m.to_dict() for m in self.measurements]

    def to_dict(self) -> dict[str, Any]:
        """Everything, as written by ``bench --json``."""
        return {
            "environment": self.environment,
            "settings": asdict(self.settings),
            "skipped": dict(self.skipped),
            "warnings": self.warnings,
            "measurements": self.records(),
        }
