"""``lenet-deploy predict``: classify image files with any runtime."""

from __future__ import annotations

import argparse

from ..artifacts.layout import DEFAULT_DIR
from ..images.answer import UNSURE_BELOW
from ..images.classify import DEFAULT_RUNTIME
from ._common import EXIT_FAILED, unsure_below
from .flags import add_json_arguments, add_model_argument, add_runtime_argument, the_runtime


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
    add_runtime_argument(
        p,
        f"runtime (default: {DEFAULT_RUNTIME}; oip-http when --model names a server)",
        single=DEFAULT_RUNTIME,
    )
    add_model_argument(
        p,
        f"artifacts directory, model file, or a served model: HOST:PORT, http://HOST:PORT or "
        f"http://HOST:PORT/v2/models/NAME (default: {DEFAULT_DIR}/)",
        default=DEFAULT_DIR,
    )
    p.add_argument(
        "--unsure-below",
        type=unsure_below,
        default=UNSURE_BELOW,
        metavar="P",
        help="answer 'unsure: A or B' below this top-1 probability; 0 = never "
        "(default: %(default)s)",
    )
    add_json_arguments(p, "the predictions", positionals=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..images.classify import stream_predictions
    from .flags import emit_json, json_to_stdout
    from .formatting import prediction_line

    runtime = the_runtime(args)
    predictions = stream_predictions(runtime, args.model, args.images, args.unsure_below)
    records, no_digit = [], False
    for prediction in predictions:  # printed as they come: memory does not grow with N
        if not json_to_stdout(args):
            print(prediction_line(prediction))
        if args.json_out is not None:
            records.append(prediction.to_dict())
        no_digit = no_digit or prediction.no_digit
    out = {"runtime": runtime, "model": args.model, "unsure_below": args.unsure_below}
    emit_json(args, out | {"predictions": records})
    return EXIT_FAILED if no_digit else 0
