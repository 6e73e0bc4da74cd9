"""Argument types and helpers shared by the command modules (no heavy imports)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .guard import EXIT_ERROR, EXIT_FAILED  # noqa: F401 - the documented exit codes


def in_range(kind: type, low: float, high: float | None = None, what: str = "a number"):
    """An argparse type: ``kind(text)`` within [low, high], else an error naming ``what``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (value >= low and (high is None or value <= high)):  # NaN fails both
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


positive_int = in_range(int, 1, what="a positive integer")
#: ``--unsure-below`` of predict and serve (images.answer); 0 = never unsure.
unsure_below = in_range(float, 0.0, 1.0, what="a probability in [0, 1]")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {text!r}")
    return sizes


def runtime_option(text: str) -> tuple[str, str, str]:
    """``RUNTIME:KEY=VALUE`` -> (runtime, key, value); the value is typed by ``options()``."""
    runtime, _, assignment = text.partition(":")
    key, equals, value = assignment.partition("=")
    if not (runtime and key and equals):
        raise argparse.ArgumentTypeError(
            f"expected RUNTIME:KEY=VALUE (e.g. ov-cpu:precision=bf16), got {text!r}"
        )
    return runtime.strip(), key.strip(), value.strip()


def add_option_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--option",
        dest="runtime_options",
        action="append",
        type=runtime_option,
        default=[],
        metavar="RUNTIME:KEY=VALUE",
        help="a runtime option, repeatable (e.g. ov-cpu:precision=bf16); "
        "'lenet-deploy runtimes --json' lists each runtime's options",
    )


def options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """``--option`` values checked and typed by each runtime's options dataclass."""
    from ..runtimes import get_entry
    from ..runtimes.options import parse_options

    chosen: dict[str, dict[str, Any]] = {}
    for runtime, key, value in getattr(args, "runtime_options", []):
        entry = get_entry(runtime)
        if entry.options is None:
            chosen.setdefault(runtime, {})[key] = value
            continue
        parsed = parse_options(runtime, entry.options, {key: value}, from_text=True)
        chosen.setdefault(runtime, {})[key] = getattr(parsed, key)
    return chosen


def runtime_list(text: str) -> list[str] | None:
    """'all' (or nothing) -> None; otherwise the comma-separated names."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return None if names in ([], ["all"]) else names


def say(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


@contextlib.contextmanager
def progress_bar(args: argparse.Namespace, desc: str) -> Iterator[Any]:
    """A ``progress(done, total)`` callback drawing a bar on a terminal, or None."""
    if getattr(args, "quiet", False) or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc=desc, leave=False, file=sys.stderr)

    def advance(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    try:
        yield advance
    finally:
        bar.close()


def write_json(path: str | Path, payload: Any) -> None:
    from ..artifacts.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
