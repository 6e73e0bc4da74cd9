"""Classify image files with a runtime: the records ``lenet-deploy predict`` prints and a
server can return. Every file is read (and checked) before anything is predicted.

A picture without a digit (blank, uniform or noise only; see ``images.prepare_image``) gives a
record with ``has_digit`` False and no label or probabilities: never a confident answer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .images import ImageBatch, load_images

DEFAULT_RUNTIME = "ort-cpu"


@dataclass(frozen=True)
class Prediction:
    """One image: the file, its index inside the file (a ``.npy`` may hold several), whether a
    digit was found, and then the predicted ``label``, its ``probability`` and all ten
    probabilities (all three None when ``has_digit`` is False)."""

    file: str
    index: int
    images_in_file: int
    has_digit: bool
    label: int | None = None
    probability: float | None = None
    probabilities: tuple[float, ...] | None = None

    @property
    def no_digit(self) -> bool:
        return not self.has_digit

    def to_dict(self) -> dict[str, Any]:
        probs = self.probabilities
        return {
            "file": self.file,
            "index": self.index,
            "digit_found": self.has_digit,
            "label": self.label,
            "probability": self.probability,
            "probabilities": None if probs is None else [round(p, 6) for p in probs],
        }


def predict_files(runtime: Any, paths: Sequence[str | os.PathLike]) -> list[Prediction]:
    """One ``Prediction`` per image in ``paths`` (PNG/JPEG/.npy, read by ``images.load_images``).

    Raises ImageError naming the first unreadable file, before any prediction is made.
    """
    return _predict_all(runtime, _read_all(paths))


def load_and_predict(
    runtime: str, model: str | os.PathLike, paths: Sequence[str | os.PathLike]
) -> list[Prediction]:
    """Read every file in ``paths``, then load ``model`` on the runtime named ``runtime`` and
    classify them (a file that cannot be read fails before the model is loaded)."""
    from .artifacts import artifact_for
    from .runtimes import get_entry

    entry = get_entry(runtime)
    batches = _read_all(paths)
    with entry.create(artifact_for(entry.artifact, model)) as loaded:
        return _predict_all(loaded, batches)


def predict_batch(runtime: Any, batch: ImageBatch, source: str = "array") -> list[Prediction]:
    """Predictions for an ``ImageBatch`` (pixels (N, 1, 32, 32) and ``has_digit`` (N,)), named
    after ``source``. Only the images with a digit are classified."""
    found = np.asarray(batch.has_digit, dtype=bool)
    total = len(found)
    probs = runtime.predict_proba(batch.pixels[found]) if found.any() else None
    rows = iter(() if probs is None else probs)
    out = []
    for i, has_digit in enumerate(found):
        if not has_digit:
            out.append(Prediction(source, i, total, False))
            continue
        row = next(rows)
        label = int(row.argmax())
        out.append(
            Prediction(source, i, total, True, label, float(row[label]), tuple(map(float, row)))
        )
    return out


def _read_all(paths: Sequence[str | os.PathLike]) -> list[tuple[str, ImageBatch]]:
    return [(str(path), load_images(path)) for path in paths]


def _predict_all(runtime: Any, batches: list[tuple[str, ImageBatch]]) -> list[Prediction]:
    return [p for path, batch in batches for p in predict_batch(runtime, batch, path)]
