"""Text rendering of bench results -- batch sweeps (``BenchResult``) and load tests
(``LoadTestReport``) -- for the terminal and Markdown, from one list of columns each.

A column is data (``Column``): its header, how a cell is drawn from a ``Measurement`` or a
load-test record, and a note on how the figure is computed. Adding a column to every table,
the Markdown report included, is one more entry in ``BENCH_COLUMNS`` (or ``LOAD_COLUMNS``).

Marks: ``*`` on a latency cell whose IQR / median exceeds the noise threshold; ``†`` on a
throughput cell computed from a mean far above the median (slow outliers), with the median's
figure in the legend, so p50 and images/s never disagree unexplained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .formatting import table

NOISY_MARK, OUTLIER_MARK = "*", "†"


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Any], str]
    how: str = ""  # how the figure is computed, for the legend


def _ms(key: str, noisy_mark: bool = False) -> Callable[[Any], str]:
    def cell(m) -> str:
        text = f"{getattr(m, key):.4f}"
        return text + NOISY_MARK if noisy_mark and m.noisy else text

    return cell


def _ips(m) -> str:
    return f"{m.throughput_ips:,.0f}" + (OUTLIER_MARK if m.outliers else "")


BENCH_COLUMNS: list[Column] = [
    Column("runtime", lambda m: m.runtime),
    Column("batch", lambda m: str(m.batch_size)),
    Column("threads", lambda m: str(m.threads)),
    Column("p50 ms", _ms("p50_ms", noisy_mark=True), "median of every timed call"),
    Column("p90 ms", _ms("p90_ms")),
    Column("p95 ms", _ms("p95_ms")),
    Column("p99 ms", _ms("p99_ms")),
    Column("mean ms", _ms("mean_ms"), "mean of every timed call"),
    Column("IQR ms", _ms("iqr_ms"), "p75 - p25"),
    Column("images/s", _ips, "batch size / mean ms"),
    Column("GFLOP/s", lambda m: f"{m.gflops:.2f}", "images/s x FLOPs per image"),
    Column(
        "compute img/s",
        lambda m: "-" if m.compute_ips is None else f"{m.compute_ips:,.0f}",
        "device runtimes: batch size / median compute phase (no copies)",
    ),
    Column("first ms", lambda m: f"{m.first_inference_ms:.2f}", "first call at this batch"),
    Column("load ms", lambda m: f"{m.load_ms:.1f}", "creating the runtime"),
]


def _rec(key: str, fmt: str = "{:.2f}", noisy_mark: bool = False) -> Callable[[Any], str]:
    def cell(r: dict) -> str:
        value = r.get(key)
        if value is None:
            return "-"
        text = fmt.format(value)
        return text + NOISY_MARK if noisy_mark and r.get("noisy") else text

    return cell


LOAD_COLUMNS: list[Column] = [
    Column("concurrency", _rec("concurrency", "{}")),
    Column("batch", _rec("batch_size", "{}")),
    Column("tensors", _rec("encoding", "{}")),
    Column("requests", _rec("requests", "{}")),
    Column("errors", _rec("errors", "{}")),
    Column("req/s", _rec("requests_per_s", "{:,.0f}"), "requests / wall time"),
    Column("images/s", _rec("images_per_s", "{:,.0f}"), "req/s x batch size"),
    Column("p50 ms", _rec("p50_ms", noisy_mark=True), "median round trip"),
    Column("p90 ms", _rec("p90_ms")),
    Column("p95 ms", _rec("p95_ms")),
    Column("p99 ms", _rec("p99_ms")),
    Column("IQR ms", _rec("iqr_ms"), "p75 - p25"),
    Column("avg batch", lambda r: str((r.get("server") or {}).get("avg_batch", "-"))),
    Column("queue ms", lambda r: str((r.get("server") or {}).get("queue_ms_per_request", "-"))),
    Column(
        "compute ms/batch",
        lambda r: str((r.get("server") or {}).get("compute_ms_per_batch", "-")),
        "the server's statistics",
    ),
]


def _columns_and_items(report) -> tuple[list[Column], list[Any]]:
    if report.kind == "batch":
        return BENCH_COLUMNS, list(report.measurements)
    return LOAD_COLUMNS, report.records()


def report_rows(report) -> tuple[list[str], list[list[str]]]:
    columns, items = _columns_and_items(report)
    return [c.header for c in columns], [[c.cell(i) for c in columns] for i in items]


def legend(report) -> list[str]:
    """How each figure was computed, and what the marks mean (only marks that appear)."""
    from ..bench.measurement import NOISY_IQR_RATIO

    columns, items = _columns_and_items(report)
    lines = ["; ".join(f"{c.header}: {c.how}" for c in columns if c.how)]
    noisy = any(i.noisy if report.kind == "batch" else i.get("noisy") for i in items)
    if noisy:
        lines.append(f"{NOISY_MARK} noisy: IQR / median > {NOISY_IQR_RATIO} (see the warnings)")
    if report.kind == "batch":
        for m in items:
            if m.outliers:
                median_ips = m.batch_size / (m.p50_ms / 1e3)
                lines.append(
                    f"{OUTLIER_MARK} {m.runtime} batch {m.batch_size}: mean {m.mean_ms:.4f} ms "
                    f"is far above p50 (slow outliers, max {m.max_ms:.2f} ms); at the median "
                    f"call it is {median_ips:,.0f} images/s"
                )
    return lines


def phase_lines(report) -> list[str]:
    if report.kind != "batch":
        return []
    lines = []
    for m in report.measurements:
        if m.phases_ms:
            phases = ", ".join(
                f"{k} {float(sorted(v)[len(v) // 2]):.4f} ms" for k, v in m.phases_ms.items()
            )
            lines.append(f"{m.runtime} batch {m.batch_size} p50 phases: {phases}")
    return lines


def bench_table(report) -> str:
    """The terminal table, its legend, then the p50 of each phase for device runtimes."""
    headers, rows = report_rows(report)
    return "\n".join([table(headers, rows), *legend(report), *phase_lines(report)])


loadtest_table = bench_table  # the same rendering serves both kinds of run


def provenance_line(report) -> str:
    p = report.provenance or {}
    machine = p.get("machine") or getattr(report, "environment", {}) or {}
    models = ", ".join(
        f"{m.get('path') or m.get('url')}"
        + (f" (sha256 {m['sha256'][:12]}…)" if m.get("sha256") else "")
        for m in p.get("models", [])
    )
    return (
        f"lenet-deploy {p.get('lenet_deploy', '?')} at {p.get('time', '?')} on "
        f"{p.get('host', '?')}: {machine.get('cpu')} ({machine.get('usable_cpus')} CPUs), "
        f"Python {machine.get('python')}, onnxruntime {machine.get('onnxruntime')}, "
        f"openvino {machine.get('openvino')}, torch {machine.get('torch')}; model {models or '?'}"
    )


def bench_markdown(report) -> str:
    headers, rows = report_rows(report)
    title = "bench" if report.kind == "batch" else f"bench --concurrency ({report.url})"
    lines = [
        f"# lenet-deploy {title}",
        "",
        provenance_line(report),
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += [""] + [f"- {line}" for line in legend(report) + phase_lines(report)]
    skipped = getattr(report, "skipped", {})
    if skipped:
        lines += ["", "Skipped:"]
        lines += [f"- {n}: {r.removeprefix(n + ': ')}" for n, r in skipped.items()]
    if report.warnings:
        lines += ["", "Warnings:"] + [f"- {w}" for w in report.warnings]
    return "\n".join(lines) + "\n"
