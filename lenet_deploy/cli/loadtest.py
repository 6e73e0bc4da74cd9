"""`lenet-deploy bench --concurrency 1,8,64 --runtime oip-http --model URL`: load-test a server."""

from __future__ import annotations

import argparse
import json


def _levels(text: str) -> tuple[int, ...]:
    from . import _batch_sizes

    try:
        return _batch_sizes(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"concurrency levels are comma-separated integers >= 1; got {text!r}"
        ) from None


def add_options(p: argparse.ArgumentParser) -> None:
    from ..loadtest import DEFAULT_MAX_REQUESTS

    group = p.add_argument_group(
        "load test (--concurrency): N requests always in flight against an OIP server"
    )
    group.add_argument(
        "--concurrency",
        type=_levels,
        default=None,
        help="comma-separated levels, e.g. 1,8,64; needs --runtime oip-http --model URL; "
        "each level runs --duration seconds (batch size: the first of --batch-sizes)",
    )
    group.add_argument(
        "--tensors",
        choices=("binary", "json"),
        default="binary",
        help="request encoding (default: binary tensor extension)",
    )
    group.add_argument(
        "--max-requests",
        type=int,
        default=DEFAULT_MAX_REQUESTS,
        help=f"request cap per level (default: {DEFAULT_MAX_REQUESTS})",
    )


def run(args: argparse.Namespace) -> int:
    from ..errors import LenetDeployError
    from ..formatting import table
    from ..loadtest import load_test
    from ..runtimes.remote import NAME, is_url

    if args.runtime not in (None, [NAME]) or not is_url(args.model):
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
    rows = []
    for r in results:
        server = r.server or {}
        rows.append(
            [
                r.concurrency,
                r.to_dict()["encoding"],
                r.requests,
                r.errors,
                f"{r.requests_per_s:,.0f}",
                f"{r.images_per_s:,.0f}",
                f"{r.percentile(50):.2f}",
                f"{r.percentile(90):.2f}",
                f"{r.percentile(99):.2f}",
                server.get("avg_batch", "-"),
                server.get("queue_ms_per_request", "-"),
                server.get("compute_ms_per_batch", "-"),
            ]
        )
    headers = [
        "concurrency", "tensors", "requests", "errors", "req/s", "images/s",
        "p50 ms", "p90 ms", "p99 ms", "avg batch", "queue ms", "compute ms/batch",
    ]  # fmt: skip
    print(table(headers, rows))
    if args.json:
        from .._io import atomic_write_text

        payload = {"url": args.model, "results": [r.to_dict() for r in results]}
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return 0 if not any(r.errors for r in results) else 1
