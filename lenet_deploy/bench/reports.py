"""Bench results to files: JSON, CSV, Markdown and a PNG plot (all written atomically).

The Markdown text itself is rendered by ``formatting``."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ..artifacts.atomic import atomic_path, atomic_write_text
from ..cli.formatting import bench_markdown

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
    "compute_ips",
]


def write_json(result, path: str | os.PathLike) -> Path:
    return atomic_write_text(path, json.dumps(result.to_dict(), indent=2) + "\n")


def write_csv(result, path: str | os.PathLike) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for rec in result.records():
        writer.writerow({k: rec[k] for k in COLUMNS})
    return atomic_write_text(path, buf.getvalue())


def write_markdown(result, path: str | os.PathLike) -> Path:
    return atomic_write_text(path, bench_markdown(result))


def write_plot(result, path: str | os.PathLike) -> Path:
    """Throughput and p50 latency against batch size, one line per runtime."""
    from .._optional import require

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
