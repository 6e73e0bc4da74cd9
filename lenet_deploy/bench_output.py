"""Bench results to files: JSON, CSV, Markdown and a PNG plot (all written atomically)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ._io import atomic_path, atomic_write_text
from .formatting import table

COLUMNS = [
    "runtime",
    "batch_size",
    "device",
    "threads",
    "iterations",
    "load_ms",
    "first_inference_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "min_ms",
    "max_ms",
    "iqr_ms",
    "throughput_ips",
    "gflops",
    "peak_rss_mb",
    "noisy",
    "h2d_p50_ms",
    "compute_p50_ms",
    "d2h_p50_ms",
]


def payload(result) -> dict:
    from dataclasses import asdict

    settings = asdict(result.settings)
    return {
        "environment": result.environment,
        "settings": settings,
        "skipped": result.skipped,
        "warnings": result.warnings,
        "measurements": result.records(),
    }


def write_json(result, path: str | os.PathLike) -> Path:
    return atomic_write_text(path, json.dumps(payload(result), indent=2) + "\n")


def write_csv(result, path: str | os.PathLike) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for rec in result.records():
        writer.writerow({k: rec[k] for k in COLUMNS})
    return atomic_write_text(path, buf.getvalue())


def summary_rows(result) -> tuple[list[str], list[list]]:
    headers = [
        "runtime",
        "batch",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "IQR ms",
        "images/s",
        "GFLOP/s",
        "first ms",
        "load ms",
    ]
    rows = [
        [
            m.runtime,
            m.batch_size,
            f"{m.p50_ms:.4f}",
            f"{m.p90_ms:.4f}",
            f"{m.p99_ms:.4f}",
            f"{m.iqr_ms:.4f}",
            f"{m.throughput_ips:,.0f}",
            f"{m.gflops:.2f}",
            f"{m.first_inference_ms:.2f}",
            f"{m.load_ms:.1f}",
        ]
        for m in result.measurements
    ]
    return headers, rows


def text_table(result) -> str:
    headers, rows = summary_rows(result)
    lines = [table(headers, rows)]
    for m in result.measurements:
        if m.phases_ms:
            phases = ", ".join(
                f"{k} {float(sorted(v)[len(v) // 2]):.4f} ms" for k, v in m.phases_ms.items()
            )
            lines.append(f"{m.runtime} batch {m.batch_size} p50 phases: {phases}")
    return "\n".join(lines)


def write_markdown(result, path: str | os.PathLike) -> Path:
    headers, rows = summary_rows(result)
    env = result.environment
    lines = [
        "# lenet-deploy bench",
        "",
        f"{env.get('cpu')} ({env.get('usable_cpus')} CPUs), Python {env.get('python')}, "
        f"torch {env.get('torch')}, onnxruntime {env.get('onnxruntime')}",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    if result.skipped:
        lines += ["", "Skipped:"] + [f"- {n}: {r}" for n, r in result.skipped.items()]
    if result.warnings:
        lines += ["", "Warnings:"] + [f"- {w}" for w in result.warnings]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def write_plot(result, path: str | os.PathLike) -> Path:
    """Throughput and p50 latency against batch size, one line per runtime."""
    from ._optional import require

    matplotlib = require("matplotlib", "plot", "bench --plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_tp, ax_lat) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = list(dict.fromkeys(m.runtime for m in result.measurements))
    for name in names:
        ms = sorted(
            (m for m in result.measurements if m.runtime == name), key=lambda m: m.batch_size
        )
        sizes = [m.batch_size for m in ms]
        ax_tp.plot(sizes, [m.throughput_ips for m in ms], marker="o", label=name)
        ax_lat.plot(sizes, [m.p50_ms for m in ms], marker="o", label=name)
    sizes = sorted({m.batch_size for m in result.measurements})
    for ax, title, unit in ((ax_tp, "Throughput", "images / s"), (ax_lat, "p50 latency", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    env = result.environment
    fig.suptitle(f"LeNet on {env.get('cpu')} ({env.get('usable_cpus')} CPUs)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
