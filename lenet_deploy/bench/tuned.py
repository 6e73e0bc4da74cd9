"""``tuned.json``: the fastest accurate configuration per batch regime, and where it was measured.

``tune`` writes it into the artifacts directory; the ``auto`` runtime reads it. It records the
machine (CPU model, feature flags, usable CPUs), the versions of everything that computes
(Python, numpy, onnxruntime, openvino, torch, lenet-deploy) and the sha256 of every model file
a winner loads. A file measured on another CPU, with other versions or for other model files is
refused with the command that re-measures it: a choice made elsewhere is never used silently.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts.layout import file_sha256
from ..errors import ArtifactError, RuntimeUnavailableError

TUNED_NAME = "tuned.json"
FORMAT = 1
_VERSIONED = ("python", "numpy", "onnxruntime", "openvino", "torch", "lenet_deploy")


def fingerprint() -> dict[str, Any]:
    """What a tuning result depends on: this machine and the versions that compute."""
    from .. import __version__
    from .machine import cpu_flags, default_threads, environment

    env = environment()
    versions = {k: env.get(k) for k in _VERSIONED if k != "lenet_deploy"}
    return {
        "cpu": env["cpu"],
        "cpu_flags": cpu_flags(),
        "usable_cpus": default_threads(),
        "platform": env["platform"],
        "versions": {**versions, "lenet_deploy": __version__},
    }


@dataclass(frozen=True)
class Winner:
    """The configuration that serves one batch regime: ``runtime`` with ``options`` on the
    ``precision`` variant (``file``, relative to the artifacts directory)."""

    batch_size: int
    runtime: str
    precision: str
    file: str
    options: dict[str, Any]
    label: str
    throughput_ips: float
    p50_ms: float
    accuracy: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Winner:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    @property
    def key(self) -> tuple:
        return (self.runtime, self.file, tuple(sorted(self.options.items())))


def tuned_path(directory: str | os.PathLike) -> Path:
    return Path(directory) / TUNED_NAME


def read_tuned(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The parsed ``tuned.json`` of an artifacts directory, None when there is none."""
    path = tuned_path(directory)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        [Winner.from_dict(w) for w in data["winners"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(
            f"{str(path)!r} is not a tuning result ({type(exc).__name__}: {exc}); re-create "
            f"it with 'lenet-deploy tune --model {path.parent}'"
        ) from None
    return data


def check_tuned(data: dict[str, Any], directory: str | os.PathLike) -> list[Winner]:
    """The winners of ``data``; RuntimeUnavailableError with the command to run when it was
    measured on another machine, with other versions, or for other model files."""
    path = tuned_path(directory)
    fix = f"run 'lenet-deploy tune --model {Path(directory)}' on this machine"
    if data.get("format") != FORMAT:
        raise RuntimeUnavailableError(f"auto: {path} has format {data.get('format')!r}; {fix}")
    here, there = fingerprint(), data.get("machine", {})
    for key, what in (("cpu", "CPU"), ("usable_cpus", "usable CPU count")):
        if here[key] != there.get(key):
            raise RuntimeUnavailableError(
                f"auto: {path} was measured with {what} {there.get(key)!r}, this machine has "
                f"{here[key]!r}; {fix}"
            )
    if here["cpu_flags"] != there.get("cpu_flags"):
        differ = sorted(set(here["cpu_flags"]) ^ set(there.get("cpu_flags") or []))
        raise RuntimeUnavailableError(
            f"auto: {path} was measured on a CPU with other features ({', '.join(differ[:6])}"
            f"{'...' if len(differ) > 6 else ''} differ); {fix}"
        )
    for name, version in here["versions"].items():
        recorded = there.get("versions", {}).get(name)
        if version != recorded:
            raise RuntimeUnavailableError(
                f"auto: {path} was measured with {name} {recorded}, this machine has {version}; "
                f"{fix}"
            )
    for name, sha in data.get("files", {}).items():
        file = Path(directory) / name
        if not file.is_file() or file_sha256(file) != sha:
            raise RuntimeUnavailableError(
                f"auto: {file} {'changed' if file.is_file() else 'is missing'} since {path} "
                f"was measured; {fix}"
            )
    return [Winner.from_dict(w) for w in data["winners"]]


def regime_table(winners: list[Winner], largest: int) -> list[int]:
    """For each batch size 0..``largest``, the index of the winner that serves it: the one
    measured at the nearest batch size on a log scale (ties go to the smaller)."""
    sizes = [w.batch_size for w in winners]

    def nearest(n: int) -> int:
        return min(range(len(sizes)), key=lambda i: (abs(math.log2(sizes[i]) - math.log2(n)), i))

    return [nearest(max(n, 1)) for n in range(largest + 1)]


def file_hashes(directory: str | os.PathLike, names: list[str]) -> dict[str, str]:
    return {name: file_sha256(Path(directory) / name) for name in sorted(set(names))}
