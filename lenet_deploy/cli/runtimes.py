"""``lenet-deploy runtimes``: every registered runtime and whether it can run here."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "runtimes",
        help="list every registered runtime and whether it can run here",
        description="List every registered runtime (built-in and plug-ins) with whether it can "
        "run on this machine and, if not, why and how to fix it.",
    )
    p.add_argument(
        "--json", action="store_true", help="print JSON (with each runtime's options) instead"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runtimes import available_runtimes, get_entry
    from .formatting import runtimes_table

    rows = available_runtimes()
    if not args.json:
        print(runtimes_table(rows))
        return 0
    records = []
    for row in rows:
        entry = get_entry(row.name)
        records.append(
            row.to_dict()
            | {
                "artifact": entry.artifact.value,
                "device": entry.device,
                "options": entry.describe_options(),
            }
        )
    print(json.dumps(records, indent=2))
    return 0
