"""``lenet-deploy export``: the checkpoint to one gated ONNX file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..artifacts.layout import CHECKPOINT_NAME, DEFAULT_DIR, ONNX_NAME
from ..exporters.onnx import DEFAULT_OPSET, EXPORTERS, OPSET_RANGE
from ._common import progress_bar, say
from .flags import (
    add_json_arguments,
    add_model_argument,
    add_verbosity,
    choice,
    emit_json,
    json_to_stdout,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export the checkpoint to one ONNX file, gated by checker/shapes/parity",
        description="Export a trained checkpoint to a self-contained ONNX file. The file is put "
        "in place only after onnx.checker, shape inference and onnxruntime-vs-torch parity "
        "all pass; otherwise the existing file is left untouched.",
    )
    add_model_argument(
        p,
        f"checkpoint to export, or its artifacts directory (default: {DEFAULT_DIR}/"
        f"{CHECKPOINT_NAME}, trained first if it does not exist); --checkpoint is the same",
        "--checkpoint",
    )
    p.add_argument(
        "--out", default=f"{DEFAULT_DIR}/{ONNX_NAME}", help="ONNX file to write (%(default)s)"
    )
    ranges = ", ".join(f"{name} {low}..{high}" for name, (low, high) in OPSET_RANGE.items())
    p.add_argument("--opset", type=int, help=f"ONNX opset (default: {DEFAULT_OPSET}; {ranges})")
    p.add_argument(
        "--exporter",
        type=choice(*EXPORTERS, what="exporter"),
        metavar="{" + ",".join(EXPORTERS) + "}",
        default=EXPORTERS[0],
        help="torch.onnx exporter (default: %(default)s)",
    )
    p.add_argument("--verbose", action="store_true", help="show the exporter's own output")
    p.add_argument(
        "--mean",
        type=float,
        help="bake Normalize(mean, std) into the graph, for a plain state_dict trained with one "
        "(checkpoints from 'lenet-deploy train' carry their own)",
    )
    p.add_argument("--std", type=float, help="the std that goes with --mean")
    add_json_arguments(p, "the export report")
    add_verbosity(p, verbose=False)  # its --verbose shows the exporter's output
    # a missing checkpoint is named by the exporter, with 'lenet-deploy train' as the fix
    p.set_defaults(func=run, model_may_be_missing=True)


def run(args: argparse.Namespace) -> int:
    from ..errors import ExportError
    from ..exporters.onnx import export_onnx
    from ..jobs.pipeline import ensure_checkpoint

    checkpoint = args.model
    if checkpoint is not None and Path(checkpoint).is_dir():
        checkpoint = str(Path(checkpoint) / CHECKPOINT_NAME)
    if checkpoint is None:
        with progress_bar(args, "train") as progress:
            checkpoint, _ = ensure_checkpoint(
                DEFAULT_DIR, log=lambda m: say(args, m), progress=progress
            )
    say(args, f"exporting {checkpoint} -> {args.out}")
    try:
        report = export_onnx(
            checkpoint,
            args.out,
            opset=args.opset,
            exporter=args.exporter,
            verbose=args.verbose,
            log=lambda msg: say(args, "  " + msg),
            mean=args.mean,
            std=args.std,
        )
    except ExportError as exc:
        # the error line says how many gates failed; these lines say which and why
        for failure in exc.failures:
            print(f"  FAILED {failure}", file=sys.stderr)
        raise
    if not json_to_stdout(args):
        print(
            f"wrote {report.path} ({report.exporter}, opset {report.opset}, "
            f"{report.size_bytes / 1024:.0f} KiB, all {len(report.gates)} gates passed)"
        )
    emit_json(
        args,
        {
            "checkpoint": str(checkpoint),
            "onnx": str(report.path),
            "exporter": report.exporter,
            "opset": report.opset,
            "size_bytes": report.size_bytes,
            "gates": [g.to_dict() for g in report.gates],
            "export_seconds": report.export_seconds,
        },
    )
    return 0
