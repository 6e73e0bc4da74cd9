"""What one picture's answer means: the record ``predict --json``, ``POST /v1/predict``, the
page and the Python ``Prediction`` all carry, with the same fields and the same meaning.

Fields (every JSON, in this order):

* ``no_digit`` (bool): the image recipe found no digit (a blank, uniform or noise-only picture;
  ``images.recipe``). Then the model is not run: ``label``, ``probability``, ``candidates`` and
  ``probabilities`` are null and ``unsure`` is false. Never a label without a digit.
* ``label`` (int 0-9): the most likely digit.
* ``probability`` (float): its softmax probability.
* ``unsure`` (bool): ``probability`` is below the threshold (``UNSURE_BELOW`` unless the caller
  chose another: ``--unsure-below`` on ``predict`` and ``serve``). The answer then reads
  "unsure: 8 or 3", naming the two candidates.
* ``candidates`` ([int, int]): the two most likely digits, most likely first.
* ``probabilities`` ([10 floats]): softmax over the ten digits, rounded to 6 decimals.
* ``answer`` (str): the answer as a person reads it: ``"7"``, ``"unsure: 8 or 3"`` or
  ``"no digit"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import LenetDeployError
from ..limits import check_number

#: Below this top-1 probability the answer is "unsure: A or B" (the default of every command).
UNSURE_BELOW = 0.6
NO_DIGIT = "no digit"
FIELDS = ("no_digit", "label", "probability", "unsure", "candidates", "probabilities", "answer")
DECIMALS = 6


def check_unsure_below(value: Any) -> float:
    """The threshold as a float in [0, 1] (0: never unsure); raises LimitError otherwise."""
    check_number("unsure_below", value, 0.0, 1.0)
    return float(value)


@dataclass(frozen=True, kw_only=True)
class Answer:
    """One picture's answer (see the module docstring); build it with ``answer_for``."""

    no_digit: bool
    label: int | None = None
    probability: float | None = None
    unsure: bool = False
    candidates: tuple[int, int] | None = None
    probabilities: tuple[float, ...] | None = None

    @property
    def answer(self) -> str:
        if self.no_digit:
            return NO_DIGIT
        if self.unsure:
            return f"unsure: {self.candidates[0]} or {self.candidates[1]}"
        return str(self.label)

    def describe(self) -> str:
        """The answer with its probabilities, for a line of text: ``7 (98.1%)``,
        ``unsure: 8 or 3 (47.8% / 30.1%)``, ``no digit (blank, uniform or noise only)``."""
        if self.no_digit:
            return f"{NO_DIGIT} (blank, uniform or noise only)"
        if self.unsure:
            a, b = (self.probabilities[c] for c in self.candidates)
            return f"{self.answer} ({a:.1%} / {b:.1%})"
        return f"{self.label} ({self.probability:.1%})"

    def answer_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (numbers are numbers, absent values None)."""
        probs = self.probabilities
        return {
            "no_digit": self.no_digit,
            "label": self.label,
            "probability": None if self.probability is None else round(self.probability, 6),
            "unsure": self.unsure,
            "candidates": None if self.candidates is None else list(self.candidates),
            "probabilities": None if probs is None else [round(p, DECIMALS) for p in probs],
            "answer": self.answer,
        }


def answer_fields(probabilities: Any, has_digit: bool, unsure_below: float) -> dict[str, Any]:
    """``Answer``'s constructor arguments for ten softmax ``probabilities`` (ignored, and may be
    None, when ``has_digit`` is False)."""
    import numpy as np  # lazily: the CLI reads UNSURE_BELOW for --help without numpy

    if not has_digit:
        return {"no_digit": True}
    row = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if row.shape != (10,) or not np.isfinite(row).all():
        raise LenetDeployError(f"expected 10 finite probabilities; got shape {row.shape}")
    first, second = (int(i) for i in np.argsort(-row, kind="stable")[:2])
    return {
        "no_digit": False,
        "label": first,
        "probability": float(row[first]),
        "unsure": bool(row[first] < unsure_below),
        "candidates": (first, second),
        "probabilities": tuple(float(p) for p in row),
    }


def answer_for(probabilities: Any, has_digit: bool, unsure_below: float = UNSURE_BELOW) -> Answer:
    """The ``Answer`` for one picture from its ten softmax probabilities and the recipe's
    ``has_digit``."""
    return Answer(**answer_fields(probabilities, has_digit, unsure_below))
