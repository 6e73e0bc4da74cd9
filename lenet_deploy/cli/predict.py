"""``lenet-deploy predict``: classify image files with any runtime."""

from __future__ import annotations

import argparse
import json

from ..artifacts.layout import DEFAULT_DIR
from ..images.answer import UNSURE_BELOW
from ..images.classify import DEFAULT_RUNTIME
from ._common import EXIT_FAILED, unsure_below


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify image files (PNG/JPEG/.npy) with any runtime",
        description="Classify digit images with the MNIST recipe (lenet_deploy.images.recipe): the "
        "paper (any colour, shading or transparency) is found and removed, the digit cropped, "
        "fitted to 20x20 keeping its aspect, centred by mass in 28x28 and padded to 32x32. A "
        "picture without a digit is reported as 'no digit' (exit 1), never as a label; one whose "
        "top probability is below --unsure-below as 'unsure: A or B' (exit 0). Fields of --json: "
        "docs/cli.md.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG or .npy files")
    p.add_argument("--runtime", default=DEFAULT_RUNTIME, help="runtime name (%(default)s)")
    p.add_argument(
        "--model",
        default=DEFAULT_DIR,
        help="artifacts directory, model file or URL (default: %(default)s/)",
    )
    p.add_argument(
        "--unsure-below",
        type=unsure_below,
        default=UNSURE_BELOW,
        metavar="P",
        help="answer 'unsure: A or B' below this top-1 probability; 0 = never "
        "(default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..images.classify import stream_predictions
    from .formatting import prediction_line

    predictions = stream_predictions(args.runtime, args.model, args.images, args.unsure_below)
    if args.json:
        records = [p.to_dict() for p in predictions]
        out = {"runtime": args.runtime, "unsure_below": args.unsure_below, "predictions": records}
        print(json.dumps(out, indent=2))
        return EXIT_FAILED if any(r["no_digit"] for r in records) else 0
    no_digit = False
    for prediction in predictions:  # printed as they come: memory does not grow with N
        print(prediction_line(prediction))
        no_digit = no_digit or prediction.no_digit
    return EXIT_FAILED if no_digit else 0
