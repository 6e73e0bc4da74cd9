"""``lenet-deploy bench``: measure runtimes side by side, or load-test a server."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ..artifacts.layout import DEFAULT_DIR
from ._common import EXIT_FAILED, add_option_argument, options, progress_bar
from ._settings import add_bench_options, add_loadtest_options, bench_settings
from .flags import (
    add_json_arguments,
    add_model_argument,
    add_runtime_argument,
    add_verbosity,
    emit_json,
    json_to_stdout,
    runtimes_given,
)

#: Report options and their writers in ``bench.reports``; each works for both kinds of run.
OUTPUTS = ("csv", "markdown", "plot")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure runtimes side by side (latency percentiles, throughput), or load-test a "
        "server (--concurrency)",
        description="Benchmark runtimes in interleaved rounds after warm-up: p50/p90/p95/p99, "
        "IQR, throughput and GFLOP/s per batch size, with the model, machine and time recorded. "
        "With --concurrency, keep N requests in flight against an OIP server instead.",
    )
    add_runtime_argument(
        p,
        "runtime to measure, repeatable or comma-separated, or 'all' (default: every runtime "
        "that can run here; oip-http when --model names a server)",
    )
    add_model_argument(
        p,
        f"artifacts directory (default: {DEFAULT_DIR}/), model file, or a served model: "
        "HOST:PORT, http://HOST:PORT or http://HOST:PORT/v2/models/NAME",
        default=DEFAULT_DIR,
    )
    add_bench_options(p)
    add_option_argument(p)
    add_json_arguments(p, "every field")
    p.add_argument("--csv", metavar="PATH", help="write one CSV row per measurement")
    p.add_argument("--markdown", metavar="PATH", help="write a Markdown report")
    p.add_argument(
        "--plot",
        metavar="PATH",
        help="plot throughput and latency (p50 with its IQR band; noisy points marked); the "
        "format follows the extension: .png, .svg or .pdf (needs matplotlib)",
    )
    add_verbosity(p)
    add_loadtest_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..artifacts.layout import is_url
    from ..bench.runner import benchmark, resolve_runtimes
    from ..runtimes.remote import NAME
    from .bench_format import bench_table
    from .formatting import skipped_lines

    names = runtimes_given(args)
    if names is None and args.runtime is None and is_url(args.model):
        names = [NAME]  # a served model is measured by the runtime that loads URLs
    if args.concurrency:
        return _load_test(args, names)
    chosen, skipped = resolve_runtimes(names)
    for line in skipped_lines(skipped, verbose=args.verbose, quiet=args.quiet):
        print(line, file=sys.stderr)
    with progress_bar(args, "bench") as progress:
        result = benchmark(
            chosen,
            args.model,
            bench_settings(args),
            options=options(args),
            skipped=skipped,
            progress=progress,
        )
    result = dataclasses.replace(result, provenance=_provenance(chosen, args.model))
    if not json_to_stdout(args):
        print(bench_table(result))
        print(peak_table(result))
    _finish(args, result)
    return 0


def peak_table(result) -> str:
    """GFLOP/s and the fraction of this machine's matmul peaks, measured now (once per run)."""
    from ..bench.peak import PEAK_HEADERS, describe_peaks, measure_peaks, peak_rows
    from .formatting import table

    peaks = measure_peaks()
    return table(PEAK_HEADERS, peak_rows(result.measurements, peaks)) + "\n" + describe_peaks(peaks)


def _load_test(args: argparse.Namespace, names: list[str] | None) -> int:
    """``--concurrency``: N requests in flight against a server, at every batch size."""
    from ..artifacts.layout import is_url
    from ..bench.loadtest import DEFAULT_DURATION_S, load_test
    from ..bench.measurement import LoadTestReport
    from ..errors import LenetDeployError
    from ..runtimes.remote import NAME
    from .bench_format import loadtest_table

    if names not in (None, [NAME]) or not is_url(args.model):
        raise LenetDeployError(
            f"--concurrency load-tests a server: give --model HOST:PORT (or "
            f"http://HOST:PORT/v2/models/NAME){'' if names in (None, [NAME]) else ', no --runtime'}"
        )
    batch_only = [
        flag
        for flag, value in (
            ("--iterations", args.iterations),
            ("--warmup", args.warmup),
            ("--threads", args.threads),
            ("--option", args.runtime_options),
        )
        if value
    ]
    if batch_only:
        raise LenetDeployError(
            f"{', '.join(batch_only)}: not used by a --concurrency load test (it runs "
            "--duration seconds per level, up to --max-requests); drop it"
        )
    duration = args.duration or DEFAULT_DURATION_S
    sizes = args.batch_sizes or (1,)
    results = []
    for batch_size in sizes:
        results += load_test(
            args.model,
            args.concurrency,
            duration,
            args.max_requests,
            binary=args.tensors == "binary",
            batch_size=batch_size,
        )
    settings = {
        "concurrency": list(args.concurrency),
        "batch_sizes": list(sizes),
        "duration_s": duration,
        "max_requests": args.max_requests,
        "tensors": args.tensors,
    }
    report = LoadTestReport(results, args.model, settings, _provenance([NAME], args.model))
    if not json_to_stdout(args):
        print(loadtest_table(report))
    _finish(args, report)
    return 0 if not any(r.errors or r.mismatches for r in results) else EXIT_FAILED


def _finish(args: argparse.Namespace, report) -> None:
    """Warnings, then every report file asked for (their paths were checked before the run)."""
    from ..bench import reports

    if not args.quiet:
        for warning in report.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    emit_json(args, report.to_dict())
    for option in OUTPUTS:
        path = getattr(args, option)
        if path:
            written = getattr(reports, f"write_{option}")(report, path)
            if not args.quiet:
                print(f"wrote {written}", file=sys.stderr)


def _provenance(names: list[str], model: str) -> dict:
    """Each model file measured (path and sha256) or the served model's URL."""
    from ..artifacts.layout import artifact_for, file_sha256, is_url, resolve
    from ..bench.measurement import provenance
    from ..runtimes import get_entry

    models: dict[str, dict] = {}
    for name in names:
        kind = get_entry(name).artifact
        if is_url(model):
            models.setdefault(model, {"url": model, "sha256": None, "runtimes": []})
            models[model]["runtimes"].append(name)
            continue
        path = str(resolve(artifact_for(kind, model), kind))
        models.setdefault(path, {"path": path, "sha256": file_sha256(path), "runtimes": []})
        models[path]["runtimes"].append(name)
    return provenance(list(models.values()))
