"""``lenet-deploy train``: train LeNet and write the checkpoint and metrics."""

from __future__ import annotations

import argparse

from ..artifacts.layout import DEFAULT_DIR
from ._common import progress_bar, say
from ._settings import add_train_options, train_config
from .flags import add_json_arguments, add_verbosity, emit_json, json_to_stdout


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train LeNet on the embedded MNIST-5k digits (or digits / MNIST IDX files)",
        description="Train LeNet with autograd and write DIR/lenet.pt and DIR/metrics.json "
        "(atomically: a failed run keeps the old files).",
    )
    add_train_options(p)
    p.add_argument("--out", default=DEFAULT_DIR, help="output directory (default: %(default)s/)")
    add_json_arguments(p, "the result")
    add_verbosity(p, verbose=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model.train import train

    cfg = train_config(args)
    say(args, f"training LeNet on {cfg.data} for {cfg.epochs} epochs (seed {cfg.seed})")

    def on_epoch(rec: dict) -> None:
        say(
            args,
            f"epoch {rec['epoch']:>3}/{cfg.epochs}  loss {rec['loss']:.4f}  "
            f"test accuracy {rec['test_accuracy']:.2%}",
        )

    with progress_bar(args, "train") as progress:
        result = train(cfg, args.out, progress=progress, on_epoch=on_epoch)
    if not json_to_stdout(args):
        print(
            f"test accuracy {result.test_accuracy:.2%} in {result.train_seconds:.1f} s -> "
            f"{result.checkpoint_path}, {result.metrics_path}"
        )
    emit_json(
        args,
        {
            "checkpoint": str(result.checkpoint_path),
            "metrics": str(result.metrics_path),
            "test_accuracy": result.test_accuracy,
            "train_seconds": result.train_seconds,
            "history": result.history,
        },
    )
    return 0
