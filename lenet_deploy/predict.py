"""Classify image files with a runtime: the records ``lenet-deploy predict`` prints and a
server can return. Every file is read (and checked) before anything is predicted."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .images import load_images

DEFAULT_RUNTIME = "ort-cpu"


@dataclass(frozen=True)
class Prediction:
    """One image: the file, its index inside the file (a ``.npy`` may hold several), the
    predicted ``label``, its ``probability`` and all ten probabilities."""

    file: str
    index: int
    images_in_file: int
    label: int
    probability: float
    probabilities: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "index": self.index,
            "label": self.label,
            "probability": self.probability,
            "probabilities": [round(p, 6) for p in self.probabilities],
        }


def predict_files(runtime: Any, paths: Sequence[str | os.PathLike]) -> list[Prediction]:
    """One ``Prediction`` per image in ``paths`` (PNG/JPEG/.npy, read by ``images.load_images``).

    Raises ImageError naming the first unreadable file, before any prediction is made.
    """
    batches = [(str(path), load_images(path)) for path in paths]
    return [p for path, batch in batches for p in predict_batch(runtime, batch, path)]


def load_and_predict(
    runtime: str, model: str | os.PathLike, paths: Sequence[str | os.PathLike]
) -> list[Prediction]:
    """Read every file in ``paths``, then load ``model`` on the runtime named ``runtime`` and
    classify them (a file that cannot be read fails before the model is loaded)."""
    from .artifacts import artifact_for
    from .runtimes import get_entry

    entry = get_entry(runtime)
    batches = [(str(path), load_images(path)) for path in paths]
    with entry.create(artifact_for(entry.artifact, model)) as loaded:
        return [p for path, batch in batches for p in predict_batch(loaded, batch, path)]


def predict_batch(runtime: Any, batch: np.ndarray, source: str = "array") -> list[Prediction]:
    """Predictions for model input ``batch`` (N, 1, 32, 32), named after ``source``."""
    probs = runtime.predict_proba(batch)
    labels = probs.argmax(axis=1)
    return [
        Prediction(
            source,
            i,
            len(probs),
            int(labels[i]),
            float(row[labels[i]]),
            tuple(float(p) for p in row),
        )
        for i, row in enumerate(probs)
    ]
