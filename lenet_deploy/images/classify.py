"""Classify image files with a runtime: the records ``lenet-deploy predict`` prints and a
server can return. Every file is checked (headers, sizes, the ``max_images`` total) before
anything is predicted; images are then read and classified in bounded chunks.

A picture without a digit (blank, uniform or noise only; see ``images.prepare_image``) gives a
record with ``has_digit`` False and no label or probabilities: never a confident answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..limits import LIMITS, check_size
from .recipe import ImageBatch, count_images, iter_images

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


def check_files(paths: Sequence[str | os.PathLike]) -> list[tuple[str, int]]:
    """(file, images in it) for every path, each checked from its header; raises ImageError
    naming the first bad file, or LimitError when the total exceeds ``max_images``."""
    counts = [(str(path), count_images(path)) for path in paths]
    total = sum(n for _, n in counts)
    check_size("images", total, LIMITS.max_images, "max_images", "predict fewer files at once")
    return counts


def iter_predictions(runtime: Any, counts: Sequence[tuple[str, int]]) -> Iterator[Prediction]:
    """Predictions for the files of ``check_files``, read chunk by chunk (bounded memory)."""
    for path, n in counts:
        start = 0
        for batch in iter_images(path):
            yield from predict_batch(runtime, batch, path, start=start, images_in_file=n)
            start += len(batch.has_digit)


def predict_files(runtime: Any, paths: Sequence[str | os.PathLike]) -> list[Prediction]:
    """One ``Prediction`` per image in ``paths`` (PNG/JPEG/.npy, read by ``images.iter_images``).

    Raises ImageError naming the first unreadable file, before any prediction is made.
    """
    return list(iter_predictions(runtime, check_files(paths)))


def stream_predictions(
    runtime: str, model: str | os.PathLike, paths: Sequence[str | os.PathLike]
) -> Iterator[Prediction]:
    """Check every file in ``paths``, then load ``model`` on the runtime named ``runtime`` and
    yield predictions as they come (a bad file fails before the model is loaded)."""
    from ..artifacts.layout import artifact_for
    from ..runtimes import get_entry

    entry = get_entry(runtime)
    counts = check_files(paths)
    with entry.create(artifact_for(entry.artifact, model)) as loaded:
        yield from iter_predictions(loaded, counts)


def load_and_predict(
    runtime: str, model: str | os.PathLike, paths: Sequence[str | os.PathLike]
) -> list[Prediction]:
    """``stream_predictions`` as a list."""
    return list(stream_predictions(runtime, model, paths))


def predict_batch(
    runtime: Any,
    batch: ImageBatch,
    source: str = "array",
    *,
    start: int = 0,
    images_in_file: int | None = None,
) -> list[Prediction]:
    """Predictions for an ``ImageBatch`` (pixels (N, 1, 32, 32) and ``has_digit`` (N,)), named
    after ``source``; indices count from ``start`` in a file of ``images_in_file`` images
    (default: the batch). Only the images with a digit are classified."""
    found = np.asarray(batch.has_digit, dtype=bool)
    total = len(found) if images_in_file is None else images_in_file
    probs = runtime.predict_proba(batch.pixels[found]) if found.any() else None
    rows = iter(() if probs is None else probs)
    out = []
    for i, has_digit in enumerate(found, start):
        if not has_digit:
            out.append(Prediction(source, i, total, False))
            continue
        row = next(rows)
        label = int(row.argmax())
        out.append(
            Prediction(source, i, total, True, label, float(row[label]), tuple(map(float, row)))
        )
    return out
