"""The whole job in one call: train (if needed) -> export -> verify -> bench. Prints nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import CHECKPOINT_NAME, METRICS_NAME, ONNX_NAME, read_metrics


@dataclass
class PipelineResult:
    """Truthy when every compared runtime matched the reference."""

    checkpoint: Path
    onnx: Path
    trained: bool
    metadata: dict[str, Any]
    parity: Any  # parity.ParityReport
    bench: Any | None  # bench.BenchResult, None when parity failed

    def __bool__(self) -> bool:
        return bool(self.parity)

    def record(self) -> dict[str, Any]:
        from . import bench_output

        return {
            "checkpoint": str(self.checkpoint),
            "onnx": str(self.onnx),
            "trained": self.trained,
            "test_accuracy": self.metadata.get("test_accuracy"),
            "parity_passed": bool(self.parity),
            "parity": self.parity.records(),
            "bench": bench_output.payload(self.bench) if self.bench else None,
        }


def run_pipeline(
    out: str | os.PathLike,
    *,
    train_config: Any = None,
    exporter: str = "dynamo",
    bench_settings: Any = None,
    log: Callable[[str], None] | None = None,
    train_progress: bool = False,
    bench_progress: Callable[[int, int], None] | None = None,
) -> PipelineResult:
    """Train into ``out`` unless it holds a checkpoint, export, verify every available runtime
    against torch-cpu, and benchmark them if parity holds. ``log`` gets one line per stage."""
    from .bench import benchmark
    from .exporters.onnx import export_onnx
    from .model import load_checkpoint
    from .parity import verify

    say = log or (lambda _msg: None)
    out = Path(out)
    checkpoint, onnx_path = out / CHECKPOINT_NAME, out / ONNX_NAME
    trained = not checkpoint.exists()
    if trained:
        from .train import TrainConfig, train

        cfg = train_config or TrainConfig()
        say(f"[1/4] train: {checkpoint} not found, training on {cfg.data} for {cfg.epochs} epochs")
        train(cfg, out, progress=train_progress)
    else:
        say(f"[1/4] train: using existing {checkpoint}")
        if (out / METRICS_NAME).exists():
            read_metrics(out)  # refuses a pair left by an interrupted or concurrent train
    _, metadata = load_checkpoint(checkpoint)
    say(f"[2/4] export: {checkpoint} -> {onnx_path}")
    export_onnx(checkpoint, onnx_path, exporter=exporter, log=lambda m: say("      " + m))
    say("[3/4] verify: every available runtime against torch-cpu")
    parity = verify(out, progress=lambda m: say("      " + m))
    result = None
    if parity:
        say("[4/4] bench: available runtimes, interleaved rounds")
        names = [parity.reference] + [r.runtime for r in parity.compared]
        result = benchmark(names, out, bench_settings, progress=bench_progress)
        result.skipped = {r.runtime: r.reason for r in parity.skipped}
    else:
        say("[4/4] bench: skipped because parity failed")
    return PipelineResult(checkpoint, onnx_path, trained, metadata, parity, result)
