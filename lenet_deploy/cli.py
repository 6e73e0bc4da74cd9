"""The ``lenet-deploy`` command: parses arguments, calls the library, formats output.

Each subcommand is a few lines. ``LenetDeployError`` becomes one line on stderr and exit code 2
(``verify`` uses 1 for a parity failure); anything else is a bug and keeps its traceback.
Heavy modules are imported inside the handlers so ``lenet-deploy --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import LenetDeployError

EXIT_ERROR = 2
EXIT_FAILED = 1


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _say(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


# --------------------------------------------------------------------------- train
def _add_train(sub) -> None:
    from .artifacts import DEFAULT_DIR as DEFAULT_OUT

    p = sub.add_parser(
        "train",
        help="train LeNet on the embedded digits (or MNIST IDX files)",
        description="Train LeNet with autograd and write DIR/lenet.pt and "
        "DIR/metrics.json (atomically: a failed run keeps the old files).",
    )
    p.add_argument(
        "--data",
        default="digits",
        help="'digits' (default, bundled with scikit-learn) or 'mnist:DIR'",
    )
    p.add_argument("--epochs", type=_positive_int, default=None, help="default: 30")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="default: 32")
    p.add_argument(
        "--lr", type=_positive_float, default=None, help="peak learning rate, default 2e-3"
    )
    p.add_argument("--seed", type=int, default=None, help="default: 0 (deterministic on CPU)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT}/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(func=_cmd_train)


def _train_config(args: argparse.Namespace):
    import dataclasses

    from .train import TrainConfig

    overrides = {
        k: getattr(args, k)
        for k in ("epochs", "batch_size", "lr", "seed")
        if getattr(args, k, None) is not None
    }
    return dataclasses.replace(TrainConfig(data=getattr(args, "data", "digits")), **overrides)


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    cfg = _train_config(args)
    _say(args, f"training LeNet on {cfg.data} for {cfg.epochs} epochs (seed {cfg.seed})")

    def on_epoch(rec: dict) -> None:
        _say(
            args,
            f"epoch {rec['epoch']:>3}/{cfg.epochs}  loss {rec['loss']:.4f}  "
            f"test accuracy {rec['test_accuracy']:.2%}",
        )

    result = train(cfg, args.out, progress=not args.quiet, on_epoch=on_epoch)
    print(
        f"test accuracy {result.test_accuracy:.2%} in {result.train_seconds:.1f} s -> "
        f"{result.checkpoint_path}, {result.metrics_path}"
    )
    return 0


# --------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lenet-deploy",
        description="Train LeNet, export it to ONNX, verify every runtime agrees, benchmark "
        "them, and predict. Start with 'lenet-deploy pipeline'.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


_SUBCOMMANDS = [_add_train]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except LenetDeployError as exc:
        print(f"lenet-deploy {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(
            f"lenet-deploy {args.command}: interrupted; existing artifacts were left as they were",
            file=sys.stderr,
        )
        return 130


def _write_json(path: str | Path, payload) -> None:
    from ._io import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
