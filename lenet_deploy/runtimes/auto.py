"""``auto``: the fastest accurate configuration ``tune`` measured on this machine.

``load_runtime("auto", "artifacts")`` reads ``artifacts/tuned.json`` (``bench.tuned``), checks
that it was measured here (CPU model and flags, usable CPUs, versions, model files) and loads
each batch regime's winner once; a batch runs on the winner measured at the nearest batch size
(log scale). A tuning result from another machine is refused with the command to run; without
one, ``auto`` serves ``ort-cpu`` fp32 and says so (a warning on the ``lenet_deploy`` logger,
which Python prints to stderr when the app configures no logging, and ``info()["note"]``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts.layout import ONNX_NAME, ArtifactKind
from ..errors import ArtifactError
from .base import Runtime
from .registry import register_runtime

NAME = "auto"
FALLBACK = "ort-cpu"
_log = logging.getLogger("lenet_deploy.auto")


def _directory(artifact: str | os.PathLike) -> Path:
    path = Path(artifact)
    if path.is_dir():
        return path
    if path.name == ONNX_NAME:
        return path.parent
    raise ArtifactError(
        f"{NAME}: {str(path)!r} is not an artifacts directory or its {ONNX_NAME}; auto chooses "
        "among the variants of a directory: pass it (e.g. --model artifacts)"
    )


@register_runtime(
    NAME,
    artifact=ArtifactKind.ONNX,
    device="cpu",
    description="the fastest accurate configuration 'lenet-deploy tune' measured here "
    "(ort-cpu fp32 until then)",
)
class AutoRuntime(Runtime):
    """Each batch regime's winner from ``tuned.json``, or ``ort-cpu`` fp32 without one."""

    def __init__(self, artifact: str | os.PathLike = "artifacts") -> None:
        from ..bench.tuned import check_tuned, read_tuned, regime_table, tuned_path
        from .registry import get_entry

        self.name = NAME
        self.directory = _directory(artifact)
        self.path = self.directory / ONNX_NAME  # the fp32 source every variant was made from
        data = read_tuned(self.directory)
        self._inner: list[Runtime] = []
        self._served: list[dict[str, Any]] = []
        try:
            if data is None:
                self.tuned = None
                self.note = (
                    f"auto: no {tuned_path(self.directory)}; serving {FALLBACK} fp32 (run "
                    f"'lenet-deploy tune --model {self.directory}' to choose the fastest "
                    "accurate configuration on this machine)"
                )
                _log.warning(self.note)
                self._inner.append(get_entry(FALLBACK).create(self.directory / ONNX_NAME))
                served = {"runtime": FALLBACK, "precision": "fp32", "file": ONNX_NAME}
                self._served.append({"batch_sizes": "all", **served, "options": {}})
                table = [0]
            else:
                self.tuned = str(tuned_path(self.directory))
                self.note = f"auto: serving the winners {self.tuned} measured on this machine"
                winners = check_tuned(data, self.directory)
                inner_of = self._load(winners, get_entry)  # winner -> loaded runtime
                largest = min(rt.chunk_size for rt in self._inner)
                table = [inner_of[i] for i in regime_table(winners, largest)]
        except BaseException:
            self._close()
            raise
        self.chunk_size = min(rt.chunk_size for rt in self._inner)
        self._table = [self._inner[i] for i in table] if len(self._inner) > 1 else []
        self._only = self._inner[0] if len(self._inner) == 1 else None
        self.device = self._inner[0].device
        reduced = [rt.precision for rt in self._inner if rt.precision != "fp32"]
        # verify judges auto by the loosest policy among what it serves
        self.precision = reduced[0] if reduced else "fp32"

    def _load(self, winners, get_entry) -> list[int]:
        from ..exporters.variants import load_variant

        seen: dict[tuple, int] = {}
        for winner in winners:
            if winner.key not in seen:
                seen[winner.key] = len(self._inner)
                path = self.directory / winner.file
                self._inner.append(get_entry(winner.runtime).create(path, winner.options))
                variant = load_variant(self.directory, winner.precision)
                self._served.append(
                    {"batch_sizes": [], "runtime": winner.runtime, "label": winner.label,
                     "options": winner.options, **variant.summary()}
                )  # fmt: skip
            served = self._served[seen[winner.key]]
            served["batch_sizes"].append(winner.batch_size)
            served.setdefault("measured_ips", {})[str(winner.batch_size)] = winner.throughput_ips
        return [seen[w.key] for w in winners]

    def _predict(self, x: np.ndarray) -> np.ndarray:
        only = self._only
        if only is not None:
            return only._predict(x)  # validated once, by this runtime's predict
        return self._table[len(x)]._predict(x)

    def runtime_for(self, batch_size: int) -> Runtime:
        """The loaded configuration that serves a batch of ``batch_size`` images."""
        if self._only is not None:
            return self._only
        return self._table[min(batch_size, len(self._table) - 1)]

    def threads_for(self, batch_size: int) -> Any:
        inner = self.runtime_for(batch_size)
        threads_for = getattr(inner, "threads_for", None)
        return threads_for(batch_size) if threads_for else inner.info().get("threads")

    @property
    def served_variants(self) -> list[dict[str, Any]]:
        """Per loaded configuration: batch sizes, runtime, options, precision, variant file and
        its recorded accuracy (serve's /v1/info shows it)."""
        return self._served

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "engine": "auto",
            "tuned": self.tuned,
            "note": self.note,
            "served": self._served,
            "runtimes": [rt.info() for rt in self._inner],
        }

    def _close(self) -> None:
        for runtime in self._inner:
            runtime.close()
        self._inner = []
