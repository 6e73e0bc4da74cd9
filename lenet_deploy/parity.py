"""Do all runtimes compute the same function as the reference? Returns results; prints nothing.

Every runtime is run on the same inputs as the reference (``torch-cpu`` by default): the whole
real test split plus edge inputs (all zeros, all ones, uniform noise, a single image, odd
batches of 1, 3 and 7, and one batch of 1000). Every runtime and input set is compared before
anything is judged, so a report lists all failures together.

Tolerances: an element passes when ``|a - b| <= atol + rtol * |b|`` (b = reference), the
``numpy.isclose`` rule. Defaults ``atol = 1e-5``, ``rtol = 1e-4``: the same order as
Polygraphy's defaults (1e-5 / 1e-5) and torch.testing's for float32 (atol 1e-5, rtol 1.3e-6),
with rtol loosened to 1e-4 because logits reach tens in magnitude and different engines sum
the 400-wide fc1 dot products in different orders (fp32 rounding ~ 1e-6 relative per step).
GPU runtimes run with TF32 off (their default), so these fp32 tolerances hold for them too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import LenetDeployError, RuntimeUnavailableError
from .pairing import pair

DEFAULT_REFERENCE = "torch-cpu"
DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4
LARGE_BATCH = 1000
_TINY = np.float32(1e-12)


@dataclass(frozen=True)
class InputSet:
    name: str
    x: np.ndarray
    labels: np.ndarray | None = None


@dataclass(frozen=True)
class Comparison:
    """One runtime against the reference on one input set."""

    input_set: str
    images: int
    max_abs_diff: float
    max_rel_diff: float
    outside_tolerance: int
    top1_agreement: float
    passed: bool

    def __bool__(self) -> bool:
        return self.passed


@dataclass
class RuntimeParity:
    """All comparisons for one runtime. ``status``: passed, failed or skipped (with reason)."""

    runtime: str
    reference: str
    status: str
    reason: str = ""
    device: str = ""
    accuracy: float | None = None
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def max_abs_diff(self) -> float | None:
        return max((c.max_abs_diff for c in self.comparisons), default=None)

    @property
    def max_rel_diff(self) -> float | None:
        return max((c.max_rel_diff for c in self.comparisons), default=None)

    @property
    def outside_tolerance(self) -> int:
        return sum(c.outside_tolerance for c in self.comparisons)

    @property
    def top1_agreement(self) -> float | None:
        total = sum(c.images for c in self.comparisons)
        if not total:
            return None
        return sum(c.top1_agreement * c.images for c in self.comparisons) / total

    @property
    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.passed]

    def __bool__(self) -> bool:
        return self.passed

    def record(self) -> dict:
        """The JSON record: summary fields first, then the per-input-set comparisons."""
        return {
            "runtime": self.runtime,
            "reference": self.reference,
            "status": self.status,
            "passed": self.passed,
            "reason": self.reason,
            "device": self.device,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "outside_tolerance": self.outside_tolerance,
            "top1_agreement": self.top1_agreement,
            "accuracy": self.accuracy,
            "comparisons": [asdict(c) for c in self.comparisons],
        }


@dataclass
class ParityReport:
    """Truthy when every compared runtime passed (skipped runtimes do not fail it)."""

    reference: str
    reference_accuracy: float | None
    atol: float
    rtol: float
    input_sets: list[tuple[str, int]]
    results: list[RuntimeParity]

    @property
    def compared(self) -> list[RuntimeParity]:
        return [r for r in self.results if r.status != "skipped"]

    @property
    def skipped(self) -> list[RuntimeParity]:
        return [r for r in self.results if r.status == "skipped"]

    @property
    def failed(self) -> list[RuntimeParity]:
        return [r for r in self.results if r.status == "failed"]

    def __bool__(self) -> bool:
        return not self.failed

    def records(self) -> list[dict]:
        return [r.record() for r in self.results]


def parity_inputs(x_test: np.ndarray, y_test: np.ndarray, seed: int = 0) -> list[InputSet]:
    """The real test split and the edge inputs every runtime must agree on."""
    rng = np.random.default_rng(seed)
    shape = x_test.shape[1:]
    tiled = np.resize(x_test, (LARGE_BATCH, *shape))
    return [
        InputSet("test-split", np.ascontiguousarray(x_test), y_test),
        InputSet("zeros", np.zeros((3, *shape), np.float32)),
        InputSet("ones", np.ones((3, *shape), np.float32)),
        InputSet("uniform-noise", rng.random((16, *shape), dtype=np.float32)),
        InputSet("single-image", x_test[:1].copy()),
        InputSet("batch-3", x_test[1:4].copy()),
        InputSet("batch-7", x_test[4:11].copy()),
        InputSet(f"batch-{LARGE_BATCH}", tiled.astype(np.float32)),
    ]


def compare(
    got: np.ndarray, want: np.ndarray, atol: float, rtol: float, name: str = ""
) -> Comparison:
    """Compare outputs ``got`` against reference ``want`` elementwise and by top-1."""
    if got.shape != want.shape:
        return Comparison(name, len(want), float("inf"), float("inf"), want.size, 0.0, False)
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    scale = np.abs(want.astype(np.float64))
    outside = int(np.count_nonzero(~(diff <= atol + rtol * scale)))  # NaN counts as outside
    rel = diff / np.maximum(scale, _TINY)
    agreement = float(np.mean(got.argmax(1) == want.argmax(1)))
    max_abs = float(np.nanmax(diff)) if np.isfinite(diff).all() else float("inf")
    max_rel = float(np.nanmax(rel)) if np.isfinite(rel).all() else float("inf")
    passed = outside == 0 and agreement == 1.0
    return Comparison(name, len(want), max_abs, max_rel, outside, agreement, passed)


def verify(
    model: str | os.PathLike,
    runtimes: Sequence[str] | None = None,
    *,
    reference: str = DEFAULT_REFERENCE,
    checkpoint: str | os.PathLike | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    inputs: list[InputSet] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ParityReport:
    """Compare ``runtimes`` (None = every registered one) against ``reference`` on ``model``.

    Runtimes named explicitly that cannot run raise RuntimeUnavailableError; with ``None``
    they are reported as skipped with the reason. A missing or unreadable model raises.
    ``model`` and ``checkpoint`` are paired by ``pairing.pair``: an ONNX file is only ever
    compared with the checkpoint it was exported from.
    """
    from .runtimes import available_runtimes, get_entry, load_runtime

    say = progress or (lambda _msg: None)
    if atol < 0 or rtol < 0:
        raise LenetDeployError(f"tolerances must be >= 0; got atol={atol}, rtol={rtol}")
    files = pair(model, checkpoint)
    explicit = runtimes is not None
    get_entry(reference)  # unknown reference: error listing the known names
    if explicit:
        names = list(dict.fromkeys(runtimes))
        for name in names:
            get_entry(name)
    else:
        names = [a.name for a in available_runtimes()]
    names = [n for n in names if n != reference]
    if inputs is None:
        from .data import load_dataset

        ds = load_dataset()
        inputs = parity_inputs(ds.x_test, ds.y_test)

    with load_runtime(reference, files.artifact_for(reference)) as ref:
        say(f"reference {reference} on {ref.device}")
        want = {s.name: ref.predict(s.x) for s in inputs}
    labelled = [s for s in inputs if s.labels is not None]
    ref_accuracy = _accuracy(want, labelled)

    results = []
    for name in names:
        try:
            runtime = load_runtime(name, files.artifact_for(name))
        except RuntimeUnavailableError as exc:
            if explicit:
                raise
            say(f"{name}: skipped, cannot run here (reason in the report)")
            results.append(RuntimeParity(name, reference, "skipped", reason=str(exc)))
            continue
        with runtime:
            say(f"{name} on {runtime.device}: {len(inputs)} input sets")
            got = {s.name: runtime.predict(s.x) for s in inputs}
            comparisons = [compare(got[s.name], want[s.name], atol, rtol, s.name) for s in inputs]
            status = "passed" if all(comparisons) else "failed"
            results.append(
                RuntimeParity(
                    name,
                    reference,
                    status,
                    device=runtime.device,
                    accuracy=_accuracy(got, labelled),
                    comparisons=comparisons,
                )
            )
    return ParityReport(
        reference, ref_accuracy, atol, rtol, [(s.name, len(s.x)) for s in inputs], results
    )


def _accuracy(outputs: dict[str, np.ndarray], labelled: list[InputSet]) -> float | None:
    if not labelled:
        return None
    correct = sum(int((outputs[s.name].argmax(1) == s.labels).sum()) for s in labelled)
    return correct / sum(len(s.labels) for s in labelled)
