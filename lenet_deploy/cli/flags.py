"""The flags every command spells the same way (documented once, in docs/cli.md).

* ``--runtime NAME`` -- repeatable and comma-separated (``--runtime ort-cpu,ov-cpu``);
  ``--runtimes`` is the same flag. Misspelt names get "did you mean ...?".
* ``--model`` -- an artifacts directory, a model file, or a served model: ``HOST:PORT``,
  ``http://HOST:PORT`` or ``http://HOST:PORT/v2/models/NAME`` (``artifacts.served``).
* ``--json`` prints JSON on stdout instead of the table; ``--json-file PATH`` writes it to a
  file (atomically) and keeps the table. ``--json PATH`` is the old spelling of
  ``--json-file PATH`` where a command takes no positional arguments.
* ``--quiet`` prints only the result; ``--verbose`` adds the full reason for every runtime that
  cannot run here.

:func:`check_arguments` runs before any command does: names, the model and the input paths are
checked there, so nothing is announced before a mistake is found.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

STDOUT = "-"


class _NameList(argparse.Action):
    """Appends each comma-separated name; ``--runtime a,b --runtime c`` -> [a, b, c]."""

    def __call__(self, parser, namespace, values, option_string=None):
        names = list(getattr(namespace, self.dest, None) or [])
        names += [n.strip() for n in str(values).split(",") if n.strip()]
        setattr(namespace, self.dest, names)


def add_runtime_argument(p: argparse.ArgumentParser, help: str, *, single: str | None = None):
    """``--runtime``/``--runtimes``. ``single`` (a default name) for commands that run one."""
    p.add_argument(
        "--runtime",
        "--runtimes",
        dest="runtime",
        action=_NameList,
        default=None,
        metavar="NAME" if single else "NAME[,NAME]",
        help=help,
    )
    p.set_defaults(single_runtime=single)


def add_model_argument(p: argparse.ArgumentParser, help: str, *aliases: str, default=None):
    p.add_argument("--model", *aliases, dest="model", default=default, help=help)


def add_json_arguments(p: argparse.ArgumentParser, what: str, *, positionals: bool = False):
    """``--json`` (stdout) and ``--json-file PATH``; extra spellings via ``aliases``."""
    if positionals:  # a path after --json would be taken from the positional arguments
        p.add_argument(
            "--json",
            dest="json_out",
            action="store_const",
            const=STDOUT,
            help=f"print {what} as JSON on stdout instead of the table",
        )
    else:
        p.add_argument(
            "--json",
            dest="json_out",
            nargs="?",
            const=STDOUT,
            metavar="FILE",
            help=f"print {what} as JSON on stdout instead of the table (--json FILE: the old "
            "spelling of --json-file FILE)",
        )
    p.add_argument(
        "--json-file",
        dest="json_out",
        metavar="PATH",
        help=f"also write {what} as JSON to PATH ('-': stdout)",
    )


def add_verbosity(p: argparse.ArgumentParser, *, verbose: bool = True) -> None:
    """``--quiet`` and (unless the command has its own) ``--verbose``."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", "-q", action="store_true", help="print only the result")
    if verbose:
        g.add_argument(
            "--verbose",
            "-v",
            action="store_true",
            help="also the full reason for every runtime that cannot run here",
        )


def choice(*names: str, what: str = "value"):
    """An argparse type accepting ``names``, with "did you mean ...?" for anything else."""
    from ..errors import did_you_mean

    def parse(text: str) -> str:
        if text in names:
            return text
        hint = did_you_mean(text, names)
        raise argparse.ArgumentTypeError(
            f"unknown {what} {text!r}{hint}; choose from {', '.join(names)}"
        )

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def json_to_stdout(args: argparse.Namespace) -> bool:
    return getattr(args, "json_out", None) == STDOUT


def emit_json(args: argparse.Namespace, payload: Any) -> None:
    """Print ``payload`` on stdout (``--json``) or write it to ``--json-file``."""
    target = getattr(args, "json_out", None)
    if target is None:
        return
    if target == STDOUT:
        print(json.dumps(payload, indent=2))
        return
    from ..artifacts.atomic import atomic_write_text

    written = atomic_write_text(target, json.dumps(payload, indent=2) + "\n")
    if not getattr(args, "quiet", False):
        print(f"wrote {written}", file=sys.stderr)


def runtimes_given(args: argparse.Namespace) -> list[str] | None:
    """The names given (None: none, or 'all' among them -- the others were checked)."""
    names = getattr(args, "runtime", None)
    return None if not names or "all" in names else list(dict.fromkeys(names))


def check_arguments(args: argparse.Namespace) -> None:
    """Everything that can be checked before a command runs (see the module docstring)."""
    from ..errors import LenetDeployError

    _check_runtimes(args)
    for image in getattr(args, "images", None) or []:
        if Path(image).is_dir():
            raise LenetDeployError(
                f"{image!r} is a directory; give image files (PNG, JPEG or .npy), e.g. "
                f"{image}/*.png"
            )
    data = getattr(args, "data", None)
    if isinstance(data, str):
        from ..data.datasets import check_spec

        check_spec(data)
    check_first = getattr(args, "check_first", None)  # a command's own settings come first
    if check_first is not None:
        check_first(args)
    _check_model(args)


def _check_runtimes(args: argparse.Namespace) -> None:
    from ..errors import LenetDeployError
    from ..runtimes import get_entry

    names = getattr(args, "runtime", None)
    if names is None:
        return
    for name in names:
        if name != "all":
            get_entry(name)  # unknown: "did you mean ...?" and the known names
    single = getattr(args, "single_runtime", None)
    if single and (len(names) > 1 or names == ["all"]):
        raise LenetDeployError(
            f"{args.command} runs one runtime; got {','.join(names)}: pick one, e.g. "
            f"--runtime {single}"
        )


def _check_model(args: argparse.Namespace) -> None:
    """A served model's URL in its full form; a path that does not exist, named as given."""
    from ..artifacts.served import model_url
    from ..errors import ArtifactError

    model = getattr(args, "model", None)
    if not isinstance(model, str):
        return
    url = model_url(model)
    if url is not None:
        args.model = url
        single = getattr(args, "single_runtime", None)
        if single and not getattr(args, "runtime", None):
            from ..runtimes.remote import NAME

            args.runtime = [NAME]  # a URL picks oip-http, as it does in verify and bench
        return
    if not Path(model).exists() and not getattr(args, "model_may_be_missing", False):
        raise ArtifactError(
            f"--model {model!r} not found (no such file or directory); give an artifacts "
            "folder, a .onnx/.pt file or a served model (HOST:PORT), or create the artifacts "
            "with 'lenet-deploy pipeline' (or 'lenet-deploy train' then 'lenet-deploy export')"
        )


def the_runtime(args: argparse.Namespace) -> str:
    """The one runtime of a command that runs one (``single`` default unless given)."""
    names = getattr(args, "runtime", None)
    return names[0] if names else args.single_runtime
