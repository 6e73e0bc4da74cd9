"""All text rendering: the library returns result objects; this turns them into lines and
tables (terminal and Markdown). Nothing else in the package formats results for people."""

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
    for r in report.skipped:
        lines.append(f"skipped {r.runtime}: {r.reason.removeprefix(f'{r.runtime}: ')}")
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
    for r in parity.skipped:
        lines.append(f"skipped {r.runtime}: {r.reason.removeprefix(r.runtime + ': ')}")
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


BENCH_HEADERS = [
    "runtime",
    "batch",
    "threads",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "IQR ms",
    "images/s",
    "GFLOP/s",
    "compute img/s",
    "first ms",
    "load ms",
]


def bench_rows(result) -> list[list[str]]:
    return [
        [
            m.runtime,
            str(m.batch_size),
            str(m.threads),
            f"{m.p50_ms:.4f}",
            f"{m.p90_ms:.4f}",
            f"{m.p99_ms:.4f}",
            f"{m.iqr_ms:.4f}",
            f"{m.throughput_ips:,.0f}",
            f"{m.gflops:.2f}",
            "-" if m.compute_ips is None else f"{m.compute_ips:,.0f}",
            f"{m.first_inference_ms:.2f}",
            f"{m.load_ms:.1f}",
        ]
        for m in result.measurements
    ]


def bench_table(result) -> str:
    """The ``bench`` table, then the p50 of each phase for device runtimes."""
    lines = [table(BENCH_HEADERS, bench_rows(result))]
    for m in result.measurements:
        if m.phases_ms:
            phases = ", ".join(
                f"{k} {float(sorted(v)[len(v) // 2]):.4f} ms" for k, v in m.phases_ms.items()
            )
            lines.append(f"{m.runtime} batch {m.batch_size} p50 phases: {phases}")
    return "\n".join(lines)


def bench_markdown(result) -> str:
    env = result.environment
    lines = [
        "# lenet-deploy bench",
        "",
        f"{env.get('cpu')} ({env.get('usable_cpus')} CPUs), Python {env.get('python')}, "
        f"torch {env.get('torch')}, onnxruntime {env.get('onnxruntime')}, "
        f"openvino {env.get('openvino')}",
        "",
        "| " + " | ".join(BENCH_HEADERS) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(BENCH_HEADERS))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in bench_rows(result)]
    if result.skipped:
        lines += ["", "Skipped:"] + [f"- {n}: {r}" for n, r in result.skipped.items()]
    if result.warnings:
        lines += ["", "Warnings:"] + [f"- {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"


def loadtest_table(results) -> str:
    """One row per concurrency level of ``lenet_deploy.bench.loadtest.load_test``."""
    headers = [
        "concurrency", "tensors", "requests", "errors", "req/s", "images/s",
        "p50 ms", "p90 ms", "p99 ms", "avg batch", "queue ms", "compute ms/batch",
    ]  # fmt: skip
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
    return table(headers, rows)
