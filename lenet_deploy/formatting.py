"""Plain-text tables for the CLI (the library returns data; this turns it into lines)."""

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


def parity_table(report) -> str:
    """The ``verify`` table: one row per runtime, then every failure, then skipped runtimes."""
    rows = [[f"{report.reference} (reference)", "", "", "", "", "", pct(report.reference_accuracy)]]
    for r in report.compared:
        rows.append(
            [
                r.runtime,
                PASS if r.passed else FAIL,
                sci(r.max_abs_diff),
                sci(r.max_rel_diff),
                r.outside_tolerance,
                pct(r.top1_agreement),
                pct(r.accuracy),
            ]
        )
    lines = [
        table(
            [
                "runtime",
                "parity",
                "max |diff|",
                "max rel",
                "outside tol",
                "top-1 agree",
                "accuracy",
            ],
            rows,
        )
    ]
    for r in report.failed:
        for c in r.failures:
            lines.append(
                f"{FAIL} {r.runtime} on {c.input_set} ({c.images} images): {c.outside_tolerance} "
                f"elements outside |a-b| <= {report.atol:g} + {report.rtol:g}*|ref|, "
                f"max |diff| {c.max_abs_diff:.3g}, top-1 agreement {c.top1_agreement:.2%}"
            )
    for r in report.skipped:
        reason = r.reason.removeprefix(f"{r.runtime}: ")
        lines.append(f"skipped {r.runtime}: {reason}")
    return "\n".join(lines)


def pipeline_summary(result, small: int, large: int) -> str:
    """One table: accuracy, parity and speed per runtime, then what was skipped and why."""
    parity, bench = result.parity, result.bench
    by_name = {r.runtime: r for r in parity.results}
    rows = []
    for name in [parity.reference] + list(by_name):
        r = by_name.get(name)
        if r is None:
            status, accuracy = "reference", parity.reference_accuracy
        else:
            status = "skipped" if r.status == "skipped" else PASS if r.passed else FAIL
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
    for r in parity.skipped:
        lines.append(f"skipped {r.runtime}: {r.reason.removeprefix(r.runtime + ': ')}")
    return "\n".join(lines)
