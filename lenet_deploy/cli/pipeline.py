"""``lenet-deploy pipeline``: train (if needed) -> export -> verify -> bench, one summary."""

from __future__ import annotations

import argparse
import sys

from ..artifacts.layout import DEFAULT_DIR
from ..exporters.onnx import EXPORTERS
from ._common import EXIT_FAILED, add_option_argument, options, progress_bar, say
from ._settings import add_bench_options, add_train_options, bench_settings, train_config
from .flags import add_json_arguments, add_verbosity, choice, emit_json, json_to_stdout


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pipeline",
        help="train (if needed) -> export -> verify -> bench, with one summary",
        description="The whole job on the embedded digits: train if DIR has no checkpoint, "
        "export to ONNX (gated), verify every available runtime against torch-cpu, benchmark "
        "them, and print one summary table. Exit 1 if parity fails.",
    )
    p.add_argument("--out", default=DEFAULT_DIR, help="artifacts directory (%(default)s/)")
    add_train_options(p, full=False)
    p.add_argument(
        "--exporter",
        type=choice(*EXPORTERS, what="exporter"),
        metavar="{" + ",".join(EXPORTERS) + "}",
        default=EXPORTERS[0],
    )
    add_bench_options(p)
    add_option_argument(p)
    add_json_arguments(p, "the summary and all records")
    p.add_argument("--report", dest="json_out", metavar="PATH", help="same as --json-file PATH")
    add_verbosity(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..jobs.pipeline import run_pipeline
    from .formatting import parity_table, pipeline_summary

    settings = bench_settings(args)
    with progress_bar(args, "pipeline") as progress:
        result = run_pipeline(
            args.out,
            train_config=train_config(args),
            exporter=args.exporter,
            bench_settings=settings,
            options=options(args),
            log=lambda m: say(args, m),
            progress=progress,
        )
    if not result:  # the summary says which runtime failed; the table says where and by how much
        print(parity_table(result.parity, verbose=args.verbose, quiet=True), file=sys.stderr)
    if not json_to_stdout(args):
        small, large = min(settings.batch_sizes), max(settings.batch_sizes)
        print(pipeline_summary(result, small, large, verbose=args.verbose, quiet=args.quiet))
    if result.bench is not None and not args.quiet:
        for line in result.bench.warnings:
            print(f"warning: {line}", file=sys.stderr)
    emit_json(args, result.to_dict())
    return 0 if result else EXIT_FAILED
