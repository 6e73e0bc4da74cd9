"""How every command ends: one line and a documented exit code, never a traceback for an
expected failure.

Exit codes: 0 success; 1 a parity failure (``verify``, ``pipeline``); 2 an error the user can
fix (bad input, missing file, a limit, a full disk); 130 interrupted (Ctrl-C); 141 the reader
of stdout went away (``lenet-deploy predict ... | head -1``), quietly, as other Unix tools do.
Anything not listed here is a bug and keeps its traceback.

Before the command runs, :func:`preflight` checks the output options every command shares
(``--json-file``/``--csv``/``--markdown``/``--plot``/``--out``; the plot's format from its
extension, and matplotlib installed), so a long run never
ends by failing to write, or by overwriting one of its inputs or another artifact.
"""

from __future__ import annotations

import argparse
import codecs
import errno
import os
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

from ..errors import LenetDeployError, first_line

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 130, 141

#: Characters the output uses, and what an ASCII-only terminal gets instead.
_ASCII = {"✓": "ok", "✗": "FAIL", "…": "...", "±": "+/-", "×": "x", "—": "-", "–": "-"}
_REPORT_OPTIONS = ("json_out", "csv", "markdown", "plot")


def _ascii_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start : exc.end]
    return "".join(_ASCII.get(ch, "?") for ch in text), exc.end


codecs.register_error("lenet_deploy_ascii", _ascii_fallback)


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one parsed command; map every expected failure to one stderr line and an exit code."""
    prefix = f"lenet-deploy {getattr(args, 'command', '') or ''}".rstrip()
    _tolerant_streams()
    try:
        from .flags import check_arguments

        check_arguments(args)
        preflight(args)
        code = func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except KeyboardInterrupt:
        return _interrupted(prefix)
    except LenetDeployError as exc:
        if _caused_by_interrupt(exc):  # e.g. an exporter that wrapped the KeyboardInterrupt
            return _interrupted(prefix)
        return _error(prefix, first_line(exc, 500))
    except MemoryError:
        return _error(prefix, "out of memory; use smaller inputs (see 'Limits' in the README)")
    except OSError as exc:
        return _error(prefix, _os_error(exc))
    except (zlib.error, EOFError) as exc:
        return _error(prefix, f"corrupt or truncated compressed data ({first_line(exc)})")
    except Exception as exc:
        if _caused_by_interrupt(exc):
            return _interrupted(prefix)
        raise


def preflight(args: argparse.Namespace) -> None:
    """Check output targets before the long run: not a directory, not an input, not another
    artifact, and their folder writable."""
    from ..artifacts.atomic import check_outputs, ensure_writable_dir
    from ..artifacts.layout import CHECKPOINT_NAME, METRICS_NAME, ONNX_NAME

    command = getattr(args, "command", "")
    outputs: list[tuple[str, str]] = []
    for option in _REPORT_OPTIONS:
        value = getattr(args, option, None)
        if isinstance(value, str) and value != "-":  # "-" is stdout
            outputs.append((value, "plot" if option == "plot" else "report"))
    out = getattr(args, "out", None)
    if isinstance(out, str) and command == "export":
        outputs.append((out, "onnx"))
    elif isinstance(out, str) and command in ("train", "pipeline"):
        names = [(CHECKPOINT_NAME, "checkpoint"), (METRICS_NAME, "metrics")]
        if command == "pipeline":
            names.append((ONNX_NAME, "onnx"))
        outputs += [(str(Path(out) / name), kind) for name, kind in names]
    inputs = [getattr(args, k, None) for k in ("model", "checkpoint")]
    inputs += list(getattr(args, "images", None) or [])
    data = getattr(args, "data", None)
    if isinstance(data, str) and data.startswith("mnist:"):
        inputs.append(data[len("mnist:") :])
    check_outputs(outputs, [p for p in inputs if isinstance(p, str)])
    plot = getattr(args, "plot", None)
    if isinstance(plot, str):
        _check_plot(plot)
    for path, kind in outputs:
        try:
            ensure_writable_dir(Path(path).parent)
        except LenetDeployError as exc:
            if kind not in ("report", "plot"):
                raise
            raise LenetDeployError(
                f"cannot write output {path!r} (its folder: "
                f"{first_line(exc).partition('(')[2].partition(')')[0]}); choose another path"
            ) from None


def _check_plot(path: str) -> None:
    from .. import _optional
    from ..bench.reports import plot_format
    from ..errors import MissingDependencyError

    plot_format(path)  # refuses an extension matplotlib is not asked to write
    reason = _optional.missing_reason("matplotlib", "plot", "bench --plot")
    if reason:
        raise MissingDependencyError(reason)


def _tolerant_streams() -> None:
    """Never fail on a character the terminal's encoding lacks (PYTHONIOENCODING=ascii)."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="lenet_deploy_ascii")
            except (ValueError, OSError):  # a detached or closed stream: nothing to protect
                pass


def _error(prefix: str, message: str) -> int:
    print(f"{prefix}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def _interrupted(prefix: str) -> int:
    print(f"{prefix}: interrupted; existing artifacts were left as they were", file=sys.stderr)
    return EXIT_INTERRUPTED


def _pipe_closed() -> int:
    # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_PIPE


def _caused_by_interrupt(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _os_error(exc: OSError) -> str:
    where = f" {exc.filename!s}" if exc.filename else ""
    reason = exc.strerror or first_line(exc)
    name = errno.errorcode.get(exc.errno or 0, "")
    hint = {
        errno.ENOSPC: "free some space or write elsewhere (--out)",
        errno.EDQUOT: "free some space or write elsewhere (--out)",
        errno.EACCES: "check the permissions or write elsewhere (--out)",
        errno.EROFS: "the file system is read-only; write elsewhere (--out)",
        errno.ENOENT: "check the path",
    }.get(exc.errno or 0, "check the path and the disk")
    code = f" [{name}]" if name else ""
    return f"cannot read or write{where}: {reason}{code}; {hint}"
