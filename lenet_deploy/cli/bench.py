"""``lenet-deploy bench``: measure runtimes side by side."""

from __future__ import annotations

import argparse
import sys

from ..artifacts.layout import DEFAULT_DIR
from ._common import EXIT_FAILED, add_option_argument, options, progress_bar, say, write_json
from ._settings import add_bench_options, add_loadtest_options, bench_settings


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure runtimes side by side (latency percentiles, throughput)",
        description="Benchmark runtimes in interleaved rounds after warm-up: p50/p90/p99, IQR, "
        "throughput and GFLOP/s per batch size, with the environment recorded.",
    )
    p.add_argument(
        "--runtime",
        action="append",
        metavar="NAME",
        help="runtime to measure; repeat for several, or 'all' (default: every "
        "available runtime; unavailable ones are listed as skipped)",
    )
    p.add_argument(
        "--model",
        default=DEFAULT_DIR,
        help="artifacts directory (default: %(default)s/), model file, or a served model's URL",
    )
    add_bench_options(p)
    add_option_argument(p)
    p.add_argument("--json", metavar="PATH", help="write every field as JSON")
    p.add_argument("--csv", metavar="PATH", help="write one CSV row per runtime and batch")
    p.add_argument("--markdown", metavar="PATH", help="write a Markdown table")
    p.add_argument(
        "--plot", metavar="PATH.png", help="plot throughput and p50 latency against batch size"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_loadtest_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..bench import reports as bench_output
    from ..bench.runner import benchmark, resolve_runtimes
    from .formatting import bench_table

    if args.concurrency:
        names = None if not args.runtime or "all" in args.runtime else args.runtime
        return _load_test(args, names)
    # resolve_runtimes expands 'all' and still checks every other name
    chosen, skipped = resolve_runtimes(args.runtime or None)
    for name, reason in skipped.items():
        say(args, f"skipping {name}: {reason.removeprefix(name + ': ')}")
    with progress_bar(args, "bench") as progress:
        result = benchmark(
            chosen,
            args.model,
            bench_settings(args),
            options=options(args),
            skipped=skipped,
            progress=progress,
        )
    print(bench_table(result))
    print(peak_table(result))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for option, write in (
        ("json", bench_output.write_json),
        ("csv", bench_output.write_csv),
        ("markdown", bench_output.write_markdown),
        ("plot", bench_output.write_plot),
    ):
        if getattr(args, option):
            say(args, f"wrote {write(result, getattr(args, option))}")
    return 0


def peak_table(result) -> str:
    """GFLOP/s and the fraction of this machine's matmul peaks, measured now (once per run)."""
    from ..bench.peak import PEAK_HEADERS, describe_peaks, measure_peaks, peak_rows
    from .formatting import table

    peaks = measure_peaks()
    return table(PEAK_HEADERS, peak_rows(result.measurements, peaks)) + "\n" + describe_peaks(peaks)


def _load_test(args: argparse.Namespace, names: list[str] | None) -> int:
    """``--concurrency``: N requests in flight against a server (``bench.loadtest``)."""
    from ..artifacts.layout import is_url
    from ..bench.loadtest import load_test
    from ..errors import LenetDeployError
    from ..runtimes.remote import NAME
    from .formatting import loadtest_table

    if names not in (None, [NAME]) or not is_url(args.model):
        raise LenetDeployError(
            f"--concurrency load-tests a server: use --runtime {NAME} --model "
            "http://HOST:PORT/v2/models/NAME"
        )
    results = load_test(
        args.model,
        args.concurrency,
        args.duration,
        args.max_requests,
        binary=args.tensors == "binary",
        batch_size=args.batch_sizes[0],
    )
    print(loadtest_table(results))
    if args.json:
        write_json(args.json, {"url": args.model, "results": [r.to_dict() for r in results]})
    return 0 if not any(r.errors for r in results) else EXIT_FAILED
