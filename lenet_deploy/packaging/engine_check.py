"""Parity of a packaged model against the export: in this onnxruntime, and in the target's.

:func:`check_parity` runs the packaged model in the project's onnxruntime (``ort-cpu``) on the
parity inputs every runtime must agree on (verify/parity.py) and judges it against the export's
logits with the one policy (verify/compare.py, fp32). :func:`check_with_engine` runs the
packaged model in another interpreter's onnxruntime -- the wheel a Triton release bundles,
installed in a side environment (``ort_child.py`` needs only numpy and onnxruntime there) --
and judges its outputs against the export's the same way. The side engine must be the
target's minor release.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PackageError
from ..verify.compare import Comparison, compare
from .targets import TritonRelease

CHILD = Path(__file__).with_name("ort_child.py")
CHILD_TIMEOUT_S = 300


@dataclass(frozen=True)
class EngineCheck:
    """The packaged model run by ``python``'s onnxruntime, against the export."""

    python: str
    onnxruntime: str
    comparison: Comparison

    def __bool__(self) -> bool:
        return bool(self.comparison)

    def to_dict(self) -> dict:
        return {
            "python": self.python,
            "onnxruntime": self.onnxruntime,
            "passed": bool(self.comparison),
            "max_abs_diff": max(s.max_abs_diff for s in self.comparison.sets),
            "images": sum(s.images for s in self.comparison.sets),
            "failures": list(self.comparison.failures),
        }


def parity_sets() -> dict[str, np.ndarray]:
    """The named input sets: the bundled digits test split plus the edge inputs."""
    from ..data.datasets import load_dataset
    from ..verify.parity import parity_inputs

    digits = load_dataset("digits")
    return {s.name: s.x for s in parity_inputs(digits.x_test, digits.y_test)}


def run_local(model: Path, sets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Logits of ``model`` in this environment's onnxruntime on the CPU, per set."""
    from ..runtimes import load_runtime

    with load_runtime("ort-cpu", model, threads=1) as runtime:
        return {name: runtime.predict(x) for name, x in sets.items()}


def check_parity(
    packaged: Path, reference: dict[str, np.ndarray], sets: dict[str, np.ndarray], what: str
) -> Comparison:
    """``packaged`` in this onnxruntime against ``reference`` (the export's logits on
    ``sets``); raises PackageError naming ``what`` and every failure."""
    comparison = compare(run_local(packaged, sets), reference)
    if not comparison:
        raise PackageError(f"{what} disagrees with the export: " + "; ".join(comparison.failures))
    return comparison


def check_with_engine(
    packaged: Path,
    reference: dict[str, np.ndarray],
    sets: dict[str, np.ndarray],
    python: str,
    release: TritonRelease,
) -> EngineCheck:
    """Run ``packaged`` in ``python``'s onnxruntime and judge it against ``reference`` (the
    export's logits on ``sets``). Raises PackageError when the engine is not the target's
    minor release, refuses the model, or disagrees."""
    with tempfile.TemporaryDirectory(prefix="lenet-engine-check-") as tmp:
        inputs, outputs = Path(tmp) / "inputs.npz", Path(tmp) / "outputs.npz"
        np.savez(inputs, **sets)
        try:
            proc = subprocess.run(
                [python, str(CHILD), str(packaged), str(inputs), str(outputs)],
                capture_output=True,
                text=True,
                timeout=CHILD_TIMEOUT_S,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PackageError(f"--check {python}: cannot run it ({exc})") from None
        version = _reported_version(proc.stdout)
        if version is None:
            why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise PackageError(
                f"--check {python}: not a Python with onnxruntime and numpy ({why}); "
                f"make one: python -m venv V && V/bin/pip install 'onnxruntime=="
                f"{release.onnxruntime}' 'numpy<2'"
            )
        if ".".join(version.split(".")[:2]) != release.ort_minor:
            raise PackageError(
                f"--check {python} has onnxruntime {version}, but Triton {release.release} "
                f"bundles {release.onnxruntime}: check with an onnxruntime {release.ort_minor}.x"
            )
        if proc.returncode != 0:
            why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            raise PackageError(f"Triton {release.release}'s engine refuses the model: {why}")
        with np.load(outputs) as got:
            comparison = compare({k: got[k] for k in got.files}, reference)
    check = EngineCheck(python, version, comparison)
    if not check:
        raise PackageError(
            f"onnxruntime {version} disagrees with the export: " + "; ".join(comparison.failures)
        )
    return check


def _reported_version(stdout: str) -> str | None:
    try:
        return json.loads(stdout.splitlines()[0])["onnxruntime"]
    except (IndexError, ValueError, KeyError, TypeError):
        return None
