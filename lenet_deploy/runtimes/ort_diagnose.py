"""Why an onnxruntime CUDA session did not come up, in one line: onnxruntime's own reason, the
CUDA major its build needs, and what this machine's torch and NVIDIA driver provide.

onnxruntime explains a provider that failed to load only in its log (file descriptor 2), so the
loader captures fd 2 around session creation and this module picks the reason out of it.
Never imports torch: torch's CUDA build is read from its installed metadata.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

#: The CUDA major of onnxruntime-gpu's PyPI builds, newest first: 1.27 moved to CUDA 13 (its
#: ``[cuda]`` extra asks for the CUDA 13 nvidia-* packages; 1.19-1.26 ask for the ``-cu12`` ones).
ORT_CUDA_MAJOR = (((1, 27), 13), ((1, 19), 12))
#: The oldest NVIDIA driver branch that runs each CUDA major (NVIDIA's compatibility table).
DRIVER_FOR_CUDA = {13: 580, 12: 525, 11: 450}
DRIVER_VERSION_FILE = Path("/proc/driver/nvidia/version")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# "[ONNXRuntimeError] : 1 : FAIL : " and "/onnxruntime_src/...cc:729 void f(args) " prefixes
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
_SOURCE_PREFIX = re.compile(r"^\S+\.(?:cc|cpp|h):\d+ .*?\) ")


@contextlib.contextmanager
def capture_stderr() -> Iterator[Callable[[], str]]:
    """Capture what native code writes to file descriptor 2 (onnxruntime's logger)."""
    captured: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield lambda: "".join(captured)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))


def error_line(exc: BaseException) -> str:
    """onnxruntime's exception as one readable line, without its code and source prefixes."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = _ORT_PREFIX.sub("", lines[0] if lines else type(exc).__name__)
    return _SOURCE_PREFIX.sub("", text)


def cuda_failure(log: str, ort_version: str) -> str:
    """The one reason worth showing from onnxruntime's log, e.g. a missing libcublasLt.so.13,
    then the CUDA major this onnxruntime needs against what torch and the driver provide."""
    log = _ANSI.sub("", log)
    match = re.search(r"Failed to load library (\S+) with error: ([^\n]+)", log)
    if match:
        reason = f"failed to load {os.path.basename(match.group(1))} ({match.group(2).strip()})"
    else:
        errors = [
            line.split("] ", 1)[-1].strip()
            for line in log.splitlines()
            if ":E:" in line or "[E:" in line or "Failed to create CUDAExecutionProvider" in line
        ]
        reason = errors[0] if errors else "onnxruntime fell back to the CPU without logging why"
    need = re.search(r"Require (cuDNN [\d.*]+ and CUDA (\d+)[\d.*]*)", log)
    if need:
        reason += f"; onnxruntime-gpu {ort_version} requires {need.group(1).rstrip('.')}"
        return reason + cuda_context(ort_version, int(need.group(2)))
    return reason + cuda_context(ort_version)


def cuda_context(ort_version: str, logged_need: int | None = None) -> str:
    """Text such as "; torch 2.13.0+cpu has no CUDA libraries, no NVIDIA driver
    loaded": the CUDA major onnxruntime needs (``logged_need``, from its log, else from its version)
    against what torch and the driver provide; "" when nothing can be told."""
    need = logged_need or ort_cuda_major(ort_version)
    torch_version, torch_cuda = torch_cuda_major()
    driver = driver_version()
    facts = []
    if need is not None and logged_need is None:
        facts.append(f"onnxruntime-gpu {ort_version} is a CUDA {need} build")
    if torch_version is not None:
        have = f"brings CUDA {torch_cuda} libraries" if torch_cuda else "has no CUDA libraries"
        facts.append(f"torch {torch_version} {have}")
    if driver is None:
        facts.append("no NVIDIA driver loaded")
    else:
        facts.append(f"NVIDIA driver {driver}")
        major = int(driver.split(".")[0])
        if need is not None and major < DRIVER_FOR_CUDA.get(need, 0):
            facts.append(f"CUDA {need} needs a driver >= {DRIVER_FOR_CUDA[need]}")
    if need is not None and torch_cuda not in (None, need):
        facts.append(
            "onnxruntime-gpu >= 1.27 (Python >= 3.11) matches torch's CUDA 13"
            if torch_cuda == 13
            else f"use an onnxruntime-gpu built for CUDA {torch_cuda}"
        )
    return "; " + ", ".join(facts) if facts else ""


def ort_cuda_major(version: str) -> int | None:
    """The CUDA major onnxruntime-gpu ``version`` (PyPI build) links against, if known."""
    parts = re.match(r"(\d+)\.(\d+)", version)
    if not parts:
        return None
    release = (int(parts.group(1)), int(parts.group(2)))
    return next((major for since, major in ORT_CUDA_MAJOR if release >= since), None)


def torch_cuda_major() -> tuple[str | None, int | None]:
    """(torch's version, the CUDA major of its build or None for a CPU build) from its installed
    metadata; (None, None) without torch."""
    try:
        version = metadata.version("torch")
        requires = metadata.requires("torch") or []
    except metadata.PackageNotFoundError:
        return None, None
    return version, cuda_major_of(version, requires)


def cuda_major_of(version: str, requires: list[str]) -> int | None:
    """``+cu130`` -> 13; else the CUDA requirements of PyPI's builds (``nvidia-*-cu12`` /
    ``-cu13`` names, ``cuda-toolkit[...]==13.0.3``, ``nvidia-cuda-runtime==13.0.96``); None for
    a CPU build."""
    local = re.search(r"\+cu(\d+?)(\d)$", version)
    if local:
        return int(local.group(1))
    for requirement in requires:
        suffixed = re.match(r"nvidia-[\w-]+-cu(\d+)\b", requirement)
        if suffixed:
            return int(suffixed.group(1))
        runtime = re.match(
            r"(?:nvidia-cuda-runtime|cuda-toolkit)\b[^=~<>;]*[=~<>]=\s*(\d+)\.", requirement
        )
        if runtime:
            return int(runtime.group(1))
    return None


def driver_version(path: Path = DRIVER_VERSION_FILE) -> str | None:
    """The loaded NVIDIA kernel driver's version ("580.65.06"), or None when none is loaded."""
    try:
        text = path.read_text()
    except OSError:
        return None
    match = re.search(r"Kernel Module(?: for \w+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return match.group(1) if match else None
