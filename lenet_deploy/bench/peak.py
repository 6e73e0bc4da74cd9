"""This machine's matmul peak, measured, so a benchmark can say how close LeNet gets to it.

A square float32 matmul (``PEAK_SIZE``², 1024², the usable CPUs) is timed with numpy and, where
it is installed, torch; bf16 with torch (numpy has no bf16). Each engine gets a warm-up call and
then its best of ``repeats`` calls; per precision the engine that reaches the highest GFLOP/s is
kept and named. Measured once per run (``bench``, ``tune``), never taken from another machine.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..spec import FLOPS_PER_IMAGE

PEAK_SIZE = 1024  # 2.1 GFLOP a call: enough to fill 2-16 cores, quick on a loaded one
PEAK_REPEATS = 5


@dataclass(frozen=True)
class Peak:
    precision: str
    gflops: float
    engine: str

    def to_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, "gflops": self.gflops, "engine": self.engine}


def _best_seconds(call, repeats: int) -> float:
    call()  # warm-up: thread pools, packing buffers
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_peaks(size: int = PEAK_SIZE, repeats: int = PEAK_REPEATS) -> dict[str, Peak]:
    """{"fp32": Peak, "bf16": Peak} (bf16 only with torch), each the fastest engine's."""
    flops = 2.0 * size**3
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    found: dict[str, list[Peak]] = {"fp32": [], "bf16": []}
    seconds = _best_seconds(lambda: a @ b, repeats)
    found["fp32"].append(Peak("fp32", flops / seconds / 1e9, f"numpy {np.__version__} matmul"))
    if importlib.util.find_spec("torch") is not None:
        import torch

        for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            ta, tb = torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)
            with torch.inference_mode():
                seconds = _best_seconds(lambda ta=ta, tb=tb: torch.mm(ta, tb), repeats)
            engine = f"torch {torch.__version__} mm"
            found[precision].append(Peak(precision, flops / seconds / 1e9, engine))
    return {p: max(peaks, key=lambda k: k.gflops) for p, peaks in found.items() if peaks}


def peak_fractions(throughput_ips: float, peaks: dict[str, Peak]) -> dict[str, float]:
    """{"fp32": fraction, "bf16": fraction} of each peak that LeNet at ``throughput_ips``
    reaches (``spec.FLOPS_PER_IMAGE`` per image)."""
    gflops = throughput_ips * FLOPS_PER_IMAGE / 1e9
    return {p: gflops / peak.gflops for p, peak in peaks.items() if peak.gflops > 0}


PEAK_HEADERS = ("runtime", "batch", "GFLOP/s", "% fp32 peak", "% bf16 peak")


def peak_rows(measurements, peaks: dict[str, Peak]) -> list[list[str]]:
    """One row per measurement: runtime, batch, GFLOP/s and the fraction of each peak."""
    rows = []
    for m in measurements:
        fractions = peak_fractions(m.throughput_ips, peaks)
        rows.append(
            [m.runtime, str(m.batch_size), f"{m.gflops:.1f}"]
            + [f"{fractions[p]:.1%}" if p in fractions else "-" for p in ("fp32", "bf16")]
        )
    return rows


def describe_peaks(peaks: dict[str, Peak]) -> str:
    """One line: what each peak is and which engine reached it."""
    return "matmul peak here: " + "; ".join(
        f"{p.precision} {p.gflops:.0f} GFLOP/s ({p.engine}, {PEAK_SIZE}x{PEAK_SIZE})"
        for p in peaks.values()
    )
