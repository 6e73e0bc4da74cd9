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


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
