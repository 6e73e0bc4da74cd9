"""``lenet-deploy verify``: does every runtime compute what the reference does?"""

from __future__ import annotations

import argparse
import sys

from ..artifacts.layout import DEFAULT_DIR
from ..verify.compare import DEFAULT_ATOL, DEFAULT_RTOL
from ..verify.parity import DEFAULT_REFERENCE
from ._common import EXIT_FAILED, add_option_argument, options, say
from .flags import (
    add_json_arguments,
    add_model_argument,
    add_runtime_argument,
    add_verbosity,
    emit_json,
    json_to_stdout,
    runtimes_given,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check every runtime computes what the reference does (parity)",
        description="Run every runtime on the test split of the dataset the model records (else "
        "mnist5k) and edge inputs (zeros, ones, noise, batches of 1/3/7/1000) and compare "
        "with the reference by the policy of the "
        "precision it computes in: fp32 elementwise (|a-b| <= atol + rtol*|ref|) and by top-1; "
        "bf16 by top-1 agreement and accuracy. Exit 0: all pass; 1: a parity failure; "
        "2: an error (missing model, unknown or unavailable named runtime, an ONNX file and a "
        "checkpoint that are different models).",
    )
    add_model_argument(
        p,
        f"artifacts directory (default: {DEFAULT_DIR}/), a .onnx/.pt file, or a served model "
        "(HOST:PORT, http://HOST:PORT or http://HOST:PORT/v2/models/NAME, checked by oip-http)",
        default=DEFAULT_DIR,
    )
    add_runtime_argument(
        p,
        "runtime to compare, repeatable or comma-separated, or 'all' (default: every "
        "registered runtime that can run here; the others are listed as skipped)",
    )
    p.add_argument(
        "--reference",
        default=DEFAULT_REFERENCE,
        help="runtime the others are compared with (default: %(default)s), or the checkpoint "
        "a --model X.onnx was exported from (Y.pt; found beside it by its sha256 otherwise)",
    )
    p.add_argument(
        "--reference-model",
        help="local artifacts for the other runtimes when --model is a URL "
        f"(default: {DEFAULT_DIR}/)",
    )
    p.add_argument("--atol", type=float, help=f"fp32 atol (default: {DEFAULT_ATOL:g})")
    p.add_argument("--rtol", type=float, help=f"fp32 rtol (default: {DEFAULT_RTOL:g})")
    add_option_argument(p)
    add_json_arguments(p, "the records")
    add_verbosity(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..artifacts.pairing import is_checkpoint_path
    from ..verify.parity import verify
    from .formatting import parity_table

    checkpoint = args.reference if is_checkpoint_path(args.reference) else None
    report = verify(
        args.model,
        runtimes_given(args),
        reference=DEFAULT_REFERENCE if checkpoint else args.reference,
        checkpoint=checkpoint,
        atol=args.atol,
        rtol=args.rtol,
        options=options(args),
        log=lambda m: say(args, m),
        reference_model=args.reference_model,
    )
    if not json_to_stdout(args):
        print(parity_table(report, verbose=args.verbose, quiet=args.quiet))
    emit_json(args, report.to_dict())
    if not report.compared:
        print("no runtime was compared with the reference", file=sys.stderr)
    return 0 if report else EXIT_FAILED
