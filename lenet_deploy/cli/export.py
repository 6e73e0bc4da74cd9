"""``lenet-deploy export``: the checkpoint to one gated ONNX file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..artifacts.layout import CHECKPOINT_NAME, DEFAULT_DIR, ONNX_NAME
from ..exporters.onnx import DEFAULT_OPSET, EXPORTERS, OPSET_RANGE
from ..exporters.precision import DEFAULT_CALIBRATION_SIZE
from ..exporters.variants import PRECISIONS
from ._common import in_range, progress_bar, say
from .flags import (
    add_json_arguments,
    add_model_argument,
    add_verbosity,
    choice,
    emit_json,
    json_to_stdout,
)


def precision_list(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    bad = [p for p in names if p not in PRECISIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown precision {bad[0] if bad else text!r}; use a comma-separated list of "
            f"{', '.join(PRECISIONS)}"
        )
    return names


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
    p.add_argument(
        "--precision",
        type=precision_list,
        default=("fp32",),
        help="comma-separated precisions to write (default: fp32): fp32 exports --out; int8 "
        "(static QDQ, calibrated on the training split), fp16 (for GPUs) and bf16 (OpenVINO's "
        "hint, a descriptor) are written beside it, each only if it passes the reduced-precision "
        "gate; without fp32 the variants are made from the existing --out",
    )
    p.add_argument(
        "--calibration-size",
        type=in_range(int, 1, 100_000, "an image count"),
        default=DEFAULT_CALIBRATION_SIZE,
        help="training images that calibrate int8 (default: %(default)s)",
    )
    add_json_arguments(p, "the export report")
    add_verbosity(p, verbose=False)  # its --verbose shows the exporter's output
    # a missing checkpoint is named by the exporter, with 'lenet-deploy train' as the fix
    p.set_defaults(func=run, model_may_be_missing=True)


def run(args: argparse.Namespace) -> int:
    variants = [p for p in args.precision if p != "fp32"]
    if "fp32" in args.precision:
        _export_fp32(args)
    if variants:
        _make_variants(args, variants)
    return 0


def _make_variants(args: argparse.Namespace, variants: list[str]) -> None:
    from ..errors import ExportError
    from ..exporters.precision import make_variants

    say(args, f"precision variants of {args.out}: {', '.join(variants)}")
    reports = make_variants(
        args.out, variants, calibration_size=args.calibration_size,
        log=lambda m: say(args, "  " + m),
    )  # fmt: skip
    for report in reports:
        print(report.describe(), file=sys.stdout if report else sys.stderr)
    refused = [r.precision for r in reports if not r]
    if refused:
        raise ExportError(
            f"{len(refused)} of {len(reports)} precision variants refused by the "
            f"reduced-precision gate or unavailable here ({', '.join(refused)}); not written"
        )


def _export_fp32(args: argparse.Namespace) -> None:
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
