"""``tune``'s picture: p50 latency against throughput per batch size, every configuration
labelled with its held-out accuracy, the winner marked (matplotlib, the ``[plot]`` extra)."""

from __future__ import annotations

import os
from pathlib import Path

from ..artifacts.atomic import atomic_path


def write_tune_plot(result, path: str | os.PathLike) -> Path:
    from .._optional import require

    matplotlib = require("matplotlib", "plot", "tune --plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(result.bench.settings.batch_sizes)
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.2 * len(sizes), 4.6), squeeze=False)
    winners = {w.batch_size: w.label for w in result.winners}
    for ax, size in zip(axes[0], sizes, strict=True):
        for m in (m for m in result.bench.measurements if m.batch_size == size):
            won = winners.get(size) == m.runtime
            ax.scatter(m.p50_ms, m.throughput_ips, s=60 if won else 25,
                       marker="*" if won else "o", zorder=3)  # fmt: skip
            accuracy = result.accuracy.get(m.runtime)
            text = f"{m.runtime} ({accuracy:.2%})" if accuracy is not None else m.runtime
            ax.annotate(text, (m.p50_ms, m.throughput_ips), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("p50 latency (ms)")
        ax.set_ylabel("images / s")
        ax.set_title(f"batch {size} (winner: {winners.get(size)})", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    env = result.bench.environment
    fig.suptitle(f"lenet-deploy tune on {env.get('cpu')} ({env.get('usable_cpus')} CPUs); "
                 "labels: held-out accuracy")  # fmt: skip
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
