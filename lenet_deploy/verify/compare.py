"""The one output comparison and tolerance policy: the export gate, ``verify`` and the tests.

A precision selects how outputs are judged against a reference:

* ``fp32``: elementwise, ``|got - want| <= atol + rtol * |want|`` (the ``numpy.isclose`` rule),
  and identical top-1 on every image. Defaults ``atol = 1e-5``, ``rtol = 1e-4``: the order of
  Polygraphy's (1e-5 / 1e-5) and torch.testing's float32 ones (1e-5 / 1.3e-6), with rtol
  loosened because logits reach tens and engines sum the 400-wide fc1 products in different
  orders. GPU runtimes run with TF32 off, so these hold for them too.
* ``bf16``: a bf16 engine moves logits by ~1e-2, so it is judged by what matters downstream:
  top-1 agreement with the reference over all images >= 99.5%, and accuracy on labelled
  images at most 0.2 percentage points below the reference's.

Any NaN or inf in either output is a failure under every precision.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

_TINY = 1e-12


class Precision(str, enum.Enum):
    FP32 = "fp32"
    BF16 = "bf16"


@dataclass(frozen=True)
class Tolerance:
    """How outputs of one precision are judged. ``elementwise``: by atol/rtol and exact top-1;
    otherwise by top-1 agreement and the accuracy drop (a fraction: 0.002 = 0.2 pp)."""

    precision: Precision
    atol: float
    rtol: float
    elementwise: bool
    min_top1_agreement: float = 1.0
    max_accuracy_drop: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision.value,
            "atol": self.atol,
            "rtol": self.rtol,
            "elementwise": self.elementwise,
            "min_top1_agreement": self.min_top1_agreement,
            "max_accuracy_drop": self.max_accuracy_drop,
        }


POLICY: dict[Precision, Tolerance] = {
    Precision.FP32: Tolerance(Precision.FP32, atol=1e-5, rtol=1e-4, elementwise=True),
    Precision.BF16: Tolerance(
        Precision.BF16,
        atol=5e-2,
        rtol=5e-2,
        elementwise=False,
        min_top1_agreement=0.995,
        max_accuracy_drop=0.002,
    ),
}
DEFAULT_ATOL = POLICY[Precision.FP32].atol
DEFAULT_RTOL = POLICY[Precision.FP32].rtol


def tolerance_for(
    precision: str | Precision = Precision.FP32,
    *,
    atol: float | None = None,
    rtol: float | None = None,
) -> Tolerance:
    """The policy for ``precision``, with atol/rtol overridden where given (finite, >= 0)."""
    from ..errors import LenetDeployError
    from ..limits import check_tolerances

    try:
        tolerance = POLICY[Precision(precision)]
    except ValueError:
        known = ", ".join(p.value for p in Precision)
        raise LenetDeployError(f"unknown precision {precision!r}; known: {known}") from None
    check_tolerances(atol, rtol)
    return replace(
        tolerance,
        atol=tolerance.atol if atol is None else float(atol),
        rtol=tolerance.rtol if rtol is None else float(rtol),
    )


@dataclass(frozen=True)
class SetComparison:
    """One named output (an input set, or a batch) against its reference."""

    name: str
    images: int
    shape_ok: bool
    nonfinite: int
    max_abs_diff: float
    max_rel_diff: float
    outside_tolerance: int
    top1_agreement: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Comparison:
    """All named outputs against the reference, judged by ``tolerance``; truthy on pass.

    ``failures`` says, one line each, why it failed (empty when it passed).
    """

    tolerance: Tolerance
    sets: tuple[SetComparison, ...]
    accuracy: float | None
    reference_accuracy: float | None
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.passed

    @property
    def images(self) -> int:
        return sum(s.images for s in self.sets)

    @property
    def max_abs_diff(self) -> float:
        return max((s.max_abs_diff for s in self.sets), default=0.0)

    @property
    def max_rel_diff(self) -> float:
        return max((s.max_rel_diff for s in self.sets), default=0.0)

    @property
    def outside_tolerance(self) -> int:
        return sum(s.outside_tolerance for s in self.sets)

    @property
    def top1_agreement(self) -> float:
        total = self.images
        return sum(s.top1_agreement * s.images for s in self.sets) / total if total else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "tolerance": self.tolerance.to_dict(),
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "outside_tolerance": self.outside_tolerance,
            "top1_agreement": self.top1_agreement,
            "accuracy": self.accuracy,
            "reference_accuracy": self.reference_accuracy,
            "failures": list(self.failures),
            "sets": [s.to_dict() for s in self.sets],
        }


def compare(
    got: np.ndarray | Mapping[str, np.ndarray],
    want: np.ndarray | Mapping[str, np.ndarray],
    tolerance: Tolerance | str | Precision = Precision.FP32,
    *,
    labels: np.ndarray | Mapping[str, np.ndarray] | None = None,
) -> Comparison:
    """Compare logits ``got`` with reference logits ``want`` (arrays, or dicts of named
    arrays with the same names); ``labels`` (same naming) give the accuracies.

    Every set is measured before anything is judged, so ``failures`` lists all problems.
    """
    if not isinstance(tolerance, Tolerance):
        tolerance = tolerance_for(tolerance)
    got_sets, want_sets = _named(got), _named(want)
    label_sets = _named(labels) if labels is not None else {}
    if set(got_sets) != set(want_sets):
        missing = sorted(set(want_sets) ^ set(got_sets))
        raise ValueError(f"compare: outputs and reference name different sets: {missing}")
    sets = tuple(_measure(n, got_sets[n], want_sets[n], tolerance) for n in want_sets)
    accuracy, reference_accuracy = _accuracies(got_sets, want_sets, label_sets)
    failures = _judge(sets, tolerance, accuracy, reference_accuracy)
    if not sum(s.images for s in sets):  # nothing compared proves nothing
        failures = ["nothing compared: the outputs hold no images", *failures]
    return Comparison(tolerance, sets, accuracy, reference_accuracy, tuple(failures))


def _named(value: Any) -> dict[str, np.ndarray]:
    return dict(value) if isinstance(value, Mapping) else {"output": value}


def _measure(name: str, got: np.ndarray, want: np.ndarray, tol: Tolerance) -> SetComparison:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        inf = float("inf")
        return SetComparison(name, len(want), False, 0, inf, inf, int(want.size), 0.0)
    nonfinite = int(got.size - np.count_nonzero(np.isfinite(got)))
    nonfinite += int(want.size - np.count_nonzero(np.isfinite(want)))
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    scale = np.abs(want.astype(np.float64))
    # written so that NaN counts as outside: a NaN comparison is False
    outside = int(np.count_nonzero(~(diff <= tol.atol + tol.rtol * scale)))
    if nonfinite:
        max_abs = max_rel = float("inf")
    else:
        max_abs = float(diff.max(initial=0.0))
        max_rel = float((diff / np.maximum(scale, _TINY)).max(initial=0.0))
    agreement = float(np.mean(got.argmax(1) == want.argmax(1))) if len(want) else 1.0
    return SetComparison(name, len(want), True, nonfinite, max_abs, max_rel, outside, agreement)


def _accuracies(got, want, labels) -> tuple[float | None, float | None]:
    names = [n for n in labels if n in want]
    if not names:
        return None, None
    total = sum(len(labels[n]) for n in names)
    right = sum(int((got[n].argmax(1) == labels[n]).sum()) for n in names)
    right_ref = sum(int((want[n].argmax(1) == labels[n]).sum()) for n in names)
    return right / total, right_ref / total


def _judge(sets, tol: Tolerance, accuracy, reference_accuracy) -> list[str]:
    failures = []
    for s in sets:
        if not s.shape_ok:
            failures.append(f"{s.name}: output shape differs from the reference")
        elif s.nonfinite:
            failures.append(f"{s.name}: {s.nonfinite} NaN/inf value(s) in the outputs")
        elif tol.elementwise and (s.outside_tolerance or s.top1_agreement < 1.0):
            failures.append(
                f"{s.name} ({s.images} images): {s.outside_tolerance} elements outside "
                f"|a-b| <= {tol.atol:g} + {tol.rtol:g}*|ref|, max |diff| {s.max_abs_diff:.3g}, "
                f"top-1 agreement {s.top1_agreement:.2%}"
            )
    if tol.elementwise or failures:
        return failures
    images = sum(s.images for s in sets)
    agreement = sum(s.top1_agreement * s.images for s in sets) / images if images else 1.0
    if agreement < tol.min_top1_agreement:
        failures.append(
            f"top-1 agreement {agreement:.2%} over {images} images is below "
            f"{tol.min_top1_agreement:.1%} ({tol.precision.value} policy)"
        )
    if accuracy is not None and accuracy < reference_accuracy - tol.max_accuracy_drop - 1e-12:
        failures.append(
            f"accuracy {accuracy:.2%} is more than {tol.max_accuracy_drop * 100:.1f} pp below "
            f"the reference's {reference_accuracy:.2%} ({tol.precision.value} policy)"
        )
    return failures
