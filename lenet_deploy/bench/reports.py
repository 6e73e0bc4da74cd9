"""Bench results to files: JSON, CSV, Markdown and a plot (PNG, SVG or PDF by the extension),
for batch sweeps (``BenchResult``) and load tests (``LoadTestReport``) alike, all written
atomically. Every file carries the provenance (models and their sha256, lenet-deploy version,
time, machine): JSON and Markdown in full, CSV in columns of every row, the plot in its title.

The Markdown text itself is rendered by ``cli.bench_format``."""

from __future__ import annotations

import csv
import io
import json
import os
import textwrap
from pathlib import Path

import numpy as np

from ..artifacts.atomic import atomic_path, atomic_write_text
from ..cli.bench_format import bench_markdown, provenance_line
from ..errors import LenetDeployError
from .measurement import NOISY_IQR_RATIO

PLOT_FORMATS = ("png", "svg", "pdf")

COLUMNS = [
    "runtime", "batch_size", "device", "threads", "iterations", "load_ms",
    "first_inference_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "min_ms",
    "max_ms", "iqr_ms", "iqr_over_median", "throughput_ips", "gflops", "peak_rss_mb", "noisy",
    "h2d_p50_ms", "compute_p50_ms", "d2h_p50_ms", "compute_ips",
]  # fmt: skip
PROVENANCE_COLUMNS = [
    "models", "models_sha256", "lenet_deploy", "time", "host", "cpu", "usable_cpus",
]  # fmt: skip
LOAD_COLUMNS = [
    "concurrency", "batch_size", "encoding", "requests", "errors", "mismatches", "duration_s",
    "requests_per_s", "images_per_s", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms",
    "iqr_ms", "iqr_over_median", "noisy",
]  # fmt: skip


def write_json(report, path: str | os.PathLike) -> Path:
    return atomic_write_text(path, json.dumps(report.to_dict(), indent=2) + "\n")


def write_csv(report, path: str | os.PathLike) -> Path:
    """One row per measurement (or load-test level); every row ends with the provenance
    columns (``PROVENANCE_COLUMNS``), so a row copied elsewhere still says what it measured."""
    columns = COLUMNS if report.kind == "batch" else LOAD_COLUMNS
    origin = provenance_fields(report)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns + PROVENANCE_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for rec in report.records():
        writer.writerow({k: rec.get(k) for k in columns} | origin)
    return atomic_write_text(path, buf.getvalue())


def provenance_fields(report) -> dict[str, str]:
    p = report.provenance or {}
    machine = p.get("machine") or getattr(report, "environment", {}) or {}
    models = [m for m in p.get("models", [])]
    return {
        "models": ";".join(str(m.get("path") or m.get("url")) for m in models),
        "models_sha256": ";".join(str(m.get("sha256") or "-") for m in models),
        "lenet_deploy": p.get("lenet_deploy"),
        "time": p.get("time"),
        "host": p.get("host"),
        "cpu": machine.get("cpu"),
        "usable_cpus": machine.get("usable_cpus"),
    }


def write_markdown(report, path: str | os.PathLike) -> Path:
    return atomic_write_text(path, bench_markdown(report))


def plot_format(path: str | os.PathLike) -> str:
    """The plot format named by ``path``'s extension; LenetDeployError for any other."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        raise LenetDeployError(
            f"--plot {str(path)!r}: the format follows the extension; name a "
            f"{', '.join('.' + f for f in PLOT_FORMATS)} file"
        )
    return suffix


def _series(report):
    """(label, x values, throughput, p25, p50, p75, noisy flags) per line of the plot."""
    out = []
    if report.kind == "batch":
        for name in dict.fromkeys(m.runtime for m in report.measurements):
            ms = sorted(
                (m for m in report.measurements if m.runtime == name), key=lambda m: m.batch_size
            )
            q = np.array([np.percentile(m.samples_ms, [25, 50, 75]) for m in ms])
            out.append(
                (name, [m.batch_size for m in ms], [m.throughput_ips for m in ms], *q.T,
                 [m.noisy for m in ms])
            )  # fmt: skip
        return "batch size", out
    records = report.records()
    by_line: dict[tuple, list] = {}
    for r, rec in zip(report.results, records, strict=True):
        by_line.setdefault((rec["batch_size"], rec["encoding"]), []).append((r, rec))
    for (batch, encoding), items in by_line.items():
        items.sort(key=lambda item: item[1]["concurrency"])
        q = np.array([[r.percentile(p) for p in (25, 50, 75)] for r, _ in items])
        out.append(
            (f"batch {batch}, {encoding}", [rec["concurrency"] for _, rec in items],
             [rec["images_per_s"] for _, rec in items], *q.T, [rec["noisy"] for _, rec in items])
        )  # fmt: skip
    return "concurrency (requests in flight)", out


def write_plot(report, path: str | os.PathLike) -> Path:
    """Throughput and latency against batch size (or concurrency), one line per runtime (or
    batch size): p50 with its p25-p75 band as error bars, noisy points ringed in red."""
    from .._optional import require

    fmt = plot_format(path)
    matplotlib = require("matplotlib", "plot", "bench --plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xlabel, series = _series(report)
    fig, (ax_tp, ax_lat) = plt.subplots(1, 2, figsize=(11, 4.4))
    xs_all: set[int] = set()
    marked = False
    for label, xs, tp, q25, q50, q75, noisy in series:
        xs_all.update(xs)
        ax_tp.plot(xs, tp, marker="o", label=label)
        ax_lat.errorbar(xs, q50, yerr=[q50 - q25, q75 - q50], marker="o", capsize=3, label=label)
        bad = [i for i, n in enumerate(noisy) if n]
        if bad:
            marked = True
            for ax, ys in ((ax_tp, tp), (ax_lat, q50)):
                ax.scatter([xs[i] for i in bad], [ys[i] for i in bad], s=140,
                           facecolors="none", edgecolors="red", zorder=3)  # fmt: skip
    ticks = sorted(xs_all)
    titles = ((ax_tp, "Throughput", "images / s"), (ax_lat, "Latency p50 (bars: p25-p75)", "ms"))
    for ax, title, unit in titles:
        if len(ticks) > 1:
            ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(b) for b in ticks])
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    note = f"red rings: noisy (IQR/median > {NOISY_IQR_RATIO}); " if marked else ""
    how = report.to_dict()["how"]
    fig.suptitle(textwrap.fill(provenance_line(report), 170, max_lines=3), fontsize=7)
    throughput = how.get("throughput_ips") or how.get("images_per_s", "")
    fig.text(0.01, 0.01, f"{note}images/s: {throughput}", fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 0.92))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=110)
    plt.close(fig)
    return Path(path)
