"""All text rendering: the library returns result objects; this turns them into lines and
tables (terminal and Markdown). Nothing else in the package formats results for people; bench
and load-test tables are in ``bench_format``, on the same ``table``."""

from __future__ import annotations

from collections.abc import Sequence

PASS, FAIL = "✓", "✗"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned first column, right-aligned others, two spaces between columns."""
    cells = [[str(c) for c in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def sci(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"


def short_reason(name: str, reason: str, limit: int = 90) -> str:
    """The first clause of why ``name`` cannot run ("CUDAExecutionProvider failed to load")."""
    text = reason.removeprefix(f"{name}: ")
    for stop in ("; ", ": "):
        text = text.split(stop, 1)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _needs_what_was_not_given(name: str, reason: str) -> bool:
    """A runtime skipped only because the command was not given what it loads (a server URL
    for oip-http): nobody asked for it, so it is not listed."""
    from ..artifacts.layout import ArtifactKind
    from ..errors import LenetDeployError
    from ..runtimes import get_entry

    try:
        needs_url = get_entry(name).artifact is ArtifactKind.URL
    except LenetDeployError:
        return False
    return needs_url and ("is not a URL" in reason or "needs a server" in reason)


def skipped_lines(skipped: dict[str, str], *, verbose: bool = False, quiet: bool = False):
    """One short line per runtime that cannot run here (the full reason with ``verbose``);
    none with ``quiet``; runtimes that needed something not given are left out unless
    ``verbose``. The full reasons are always in the JSON and in ``lenet-deploy runtimes``."""
    if quiet:
        return []
    lines, hidden = [], False
    for name, reason in skipped.items():
        if verbose:
            lines.append(f"skipped {name}: {reason.removeprefix(f'{name}: ')}")
        elif not _needs_what_was_not_given(name, reason):
            lines.append(f"skipped {name}: {short_reason(name, reason)}")
            hidden = True
    if hidden:
        lines.append("  (--verbose or 'lenet-deploy runtimes' says why and how to fix it)")
    return lines


def parity_table(report, *, verbose: bool = False, quiet: bool = False) -> str:
    """The ``verify`` table: one row per runtime, then every failure, then skipped runtimes
    (see :func:`skipped_lines`)."""
    rows = [
        [f"{report.reference} (reference)", "", "", "", "", "", "", pct(report.reference_accuracy)]
    ]
    for r in report.compared:
        rows.append(
            [
                r.runtime,
                PASS if r.passed else FAIL,
                r.precision,
                sci(r.max_abs_diff),
                sci(r.max_rel_diff),
                r.outside_tolerance,
                pct(r.top1_agreement),
                pct(r.accuracy),
            ]
        )
    headers = ["runtime", "parity", "precision", "max |diff|", "max rel", "outside tol"]
    lines = [table([*headers, "top-1 agree", "accuracy"], rows)]
    for r in report.failed:
        lines += [f"{FAIL} {r.runtime} on {failure}" for failure in r.failures]
    skipped = {r.runtime: r.reason for r in report.skipped}
    lines += skipped_lines(skipped, verbose=verbose, quiet=quiet)
    return "\n".join(lines)


def pipeline_summary(result, small: int, large: int, *, verbose=False, quiet=False) -> str:
    """One table: accuracy, parity and speed per runtime, then what was skipped and why."""
    parity, bench = result.parity, result.bench
    by_name = {r.runtime: r for r in parity.results}
    rows = []
    for name in [parity.reference] + list(by_name):
        r = by_name.get(name)
        if r is None:
            status, accuracy = "reference", parity.reference_accuracy
        else:
            status = r.status.value if not r.comparison else PASS if r.passed else FAIL
            accuracy = r.accuracy
        cells = {
            m.batch_size: m for m in (bench.measurements if bench else []) if m.runtime == name
        }
        rows.append(
            [
                name,
                status,
                pct(accuracy),
                f"{cells[small].p50_ms:.3f}" if small in cells else "-",
                f"{cells[large].throughput_ips:,.0f}" if large in cells else "-",
            ]
        )
    meta = result.metadata
    lines = [
        f"model: {result.checkpoint} ({meta.get('dataset')}, test accuracy "
        f"{pct(meta.get('test_accuracy'))}) -> {result.onnx}",
        table(["runtime", "parity", "accuracy", f"p50 ms @{small}", f"images/s @{large}"], rows),
    ]
    skipped = {r.runtime: r.reason for r in parity.skipped}
    lines += skipped_lines(skipped, verbose=verbose, quiet=quiet)
    return "\n".join(lines)


def runtimes_table(rows) -> str:
    """``lenet-deploy runtimes``: name, available, and the description or the reason."""
    width = max(len(r.name) for r in rows)
    lines = [f"{'runtime':<{width}}  available  details"]
    for r in rows:
        mark = "yes" if r.available else "no"
        lines.append(f"{r.name:<{width}}  {mark:<9}  {r.description if r.available else r.reason}")
    return "\n".join(lines)


def prediction_lines(predictions) -> str:
    """``file: label (probability)``, or ``file: no digit (...)``; ``file[i]`` for files that
    hold several images."""
    return "\n".join(prediction_line(p) for p in predictions)


def prediction_line(p) -> str:
    """One prediction as ``prediction_lines`` prints it."""
    name = f"{p.file}[{p.index}]" if p.images_in_file > 1 else p.file
    return f"{name}: {p.describe()}"
