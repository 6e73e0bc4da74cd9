"""What a measurement ran on: CPU, usable cores, library versions and providers, peak memory.

Nothing here imports torch or an engine; what is already imported is asked for its details.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

import numpy as np


def default_threads() -> int:
    """The CPUs this process may run on (what every engine gets unless told otherwise)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """``"0"``, ``"0-3"``, ``"0,2,4-5"`` -> sorted CPU numbers; ValueError if malformed."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"expected CPU numbers like 0 or 0-3 or 0,2; got {text!r}")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"CPU range {part.strip()!r} runs backwards")
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def pin_process(cpus: tuple[int, ...]) -> None:
    """Run this process -- its threads now and those it starts later -- on ``cpus`` only."""
    from ..errors import LenetDeployError

    if not hasattr(os, "sched_setaffinity"):
        raise LenetDeployError("choosing CPUs needs Linux (os.sched_setaffinity)")
    allowed = sorted(os.sched_getaffinity(0))
    outside = [cpu for cpu in cpus if cpu not in allowed]
    if outside:
        raise LenetDeployError(
            f"CPU {', '.join(map(str, outside))} is not available to this process; "
            f"it may use CPUs {format_cpus(allowed)}"
        )
    # Affinity is per thread, and threads started at import (BLAS pools) already exist.
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:
        try:
            os.sched_setaffinity(tid, cpus)
        except ProcessLookupError:  # the thread has ended meanwhile
            pass


def format_cpus(cpus) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def environment() -> dict[str, Any]:
    """CPU, cores, library versions and providers, without importing torch."""
    from importlib.metadata import PackageNotFoundError, version

    def pkg(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    env: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cpus": default_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": pkg("torch"),
        "onnxruntime": pkg("onnxruntime-gpu") or pkg("onnxruntime"),
        "openvino": pkg("openvino"),
    }
    if "onnxruntime" in sys.modules:
        env["ort_providers"] = sys.modules["onnxruntime"].get_available_providers()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        env["torch_cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
    return env


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The CPU's feature flags (``/proc/cpuinfo``), sorted; empty where the OS does not say."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return sorted(set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return []


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
