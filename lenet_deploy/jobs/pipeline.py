"""The whole job in one call: train (if needed) -> export -> verify -> bench. Prints nothing."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts.layout import CHECKPOINT_NAME, METRICS_NAME, ONNX_NAME, read_metrics

Log = Callable[[str], None]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": str(self.checkpoint),
            "onnx": str(self.onnx),
            "trained": self.trained,
            "test_accuracy": self.metadata.get("test_accuracy"),
            "parity_passed": bool(self.parity),
            "parity": self.parity.to_dict(),
            "bench": self.bench.to_dict() if self.bench else None,
        }


def ensure_checkpoint(
    out: str | os.PathLike,
    train_config: Any = None,
    *,
    log: Log | None = None,
    progress: Progress | None = None,
) -> tuple[Path, bool]:
    """``out/lenet.pt``, trained with ``train_config`` first if it does not exist (default:
    ``TrainConfig()``: the default dataset, mnist5k, 30 epochs). Returns the path and whether it
    was trained."""
    say = log or (lambda _msg: None)
    checkpoint = Path(out) / CHECKPOINT_NAME
    if checkpoint.exists():
        if (checkpoint.parent / METRICS_NAME).exists():
            read_metrics(out)  # refuses a pair left by an interrupted or concurrent train
        return checkpoint, False
    from ..model.train import TrainConfig, train

    cfg = train_config or TrainConfig()
    say(f"{checkpoint} not found: training on {cfg.data} for {cfg.epochs} epochs (seed {cfg.seed})")
    result = train(cfg, out, progress=progress)
    say(f"trained: test accuracy {result.test_accuracy:.2%} in {result.train_seconds:.1f} s")
    return checkpoint, True


def run_pipeline(
    out: str | os.PathLike,
    *,
    train_config: Any = None,
    exporter: str = "dynamo",
    bench_settings: Any = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    log: Log | None = None,
    progress: Progress | None = None,
) -> PipelineResult:
    """Train into ``out`` unless it holds a checkpoint, export, verify every available runtime
    against torch-cpu, and benchmark them if parity holds. ``log`` gets one line per stage;
    ``progress(done, total)`` follows training steps, then benchmark rounds."""
    from ..bench.runner import benchmark
    from ..exporters.onnx import export_onnx
    from ..model.lenet import load_checkpoint
    from ..verify.parity import verify

    say = log or (lambda _msg: None)
    out = Path(out)
    say("[1/4] train")
    checkpoint, trained = ensure_checkpoint(
        out, train_config, log=lambda m: say("      " + m), progress=progress
    )
    if not trained:
        say(f"      using existing {checkpoint}")
    _, metadata = load_checkpoint(checkpoint)
    onnx_path = out / ONNX_NAME
    say(f"[2/4] export: {checkpoint} -> {onnx_path}")
    export_onnx(checkpoint, onnx_path, exporter=exporter, log=lambda m: say("      " + m))
    say("[3/4] verify: every available runtime against torch-cpu")
    parity = verify(out, options=options, log=lambda m: say("      " + m))
    result = None
    if parity:
        say("[4/4] bench: available runtimes, interleaved rounds")
        names = [parity.reference] + [r.runtime for r in parity.compared]
        skipped = {r.runtime: r.reason for r in parity.skipped}
        result = benchmark(
            names, out, bench_settings, options=options, skipped=skipped, progress=progress
        )
    else:
        say("[4/4] bench: skipped because parity failed")
    return PipelineResult(checkpoint, onnx_path, trained, metadata, parity, result)
