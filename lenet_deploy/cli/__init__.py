"""The ``lenet-deploy`` command: one module per subcommand, each arguments + a library call +
formatting.

A command module ``lenet_deploy/cli/<name>.py`` exposes ``register(subparsers)`` (adds its
parser and sets ``func=run``) and ``run(args) -> int``; adding a command is that module plus
its name in ``COMMANDS``. Command modules import the heavy parts of the library inside ``run``,
so ``lenet-deploy --help`` imports neither torch nor onnxruntime.

``cli_guard.run_command`` checks the output options first, then maps every expected failure to
one line on stderr and a documented exit code (2 an error, 1 a parity failure, 130 Ctrl-C,
141 a closed pipe); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib

from .. import __version__

#: Command modules, in the order ``--help`` lists them.
COMMANDS = (
    "pipeline",
    "train",
    "export",
    "verify",
    "bench",
    "predict",
    "runtimes",
    "serve",
    "package",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lenet-deploy",
        description="Train LeNet, export it to ONNX, verify every runtime agrees, benchmark "
        "them, and predict. Start with 'lenet-deploy pipeline'.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .guard import run_command

    args = build_parser().parse_args(argv)
    return run_command(args.func, args)
