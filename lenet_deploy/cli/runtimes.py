"""``lenet-deploy runtimes``: every registered runtime and whether it can run here."""

from __future__ import annotations

import argparse

from .flags import add_json_arguments, emit_json, json_to_stdout


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "runtimes",
        help="list every registered runtime and whether it can run here",
        description="List every registered runtime (built-in and plug-ins) with whether it can "
        "run on this machine and, if not, why and how to fix it.",
    )
    add_json_arguments(p, "every runtime with its artifact kind, device and options")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runtimes import available_runtimes, get_entry
    from .formatting import runtimes_table

    rows = available_runtimes()
    if not json_to_stdout(args):
        print(runtimes_table(rows))
    if args.json_out is None:
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
    emit_json(args, records)
    return 0
