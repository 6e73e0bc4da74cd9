"""Classify image files with a runtime: the records ``lenet-deploy predict`` prints and a
server can return. Every file is checked (headers, sizes, the ``max_images`` total) before
anything is predicted; images are then read and classified in bounded chunks.

Each record is an ``images.answer.Answer`` (its fields and meaning are the same in the CLI's
JSON, over HTTP and here) plus the file and the image's index in it. A picture without a digit
(blank, uniform or noise only; see ``images.prepare_image``) is never given to the model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..limits import LIMITS, check_size
from .answer import UNSURE_BELOW, Answer, answer_fields, check_unsure_below
from .recipe import ImageBatch, count_images, iter_images

#: Image files (PNG/JPEG/.npy) to predict, and a model argument (artifacts folder, file, URL).
Paths = Sequence[str | os.PathLike]
ModelArg = str | os.PathLike

DEFAULT_RUNTIME = "ort-cpu"


@dataclass(frozen=True, kw_only=True)
class Prediction(Answer):
    """One image's ``Answer`` with the file it came from and its ``index`` inside the file (a
    ``.npy`` may hold ``images_in_file`` images)."""

    file: str
    index: int
    images_in_file: int

    def to_dict(self) -> dict[str, Any]:
        """``{"file", "index", **answer_dict()}``: what ``predict --json`` prints per image."""
        return {"file": self.file, "index": self.index, **self.answer_dict()}


def check_files(paths: Paths) -> list[tuple[str, int]]:
    """(file, images in it) for every path, each checked from its header; raises ImageError
    naming the first bad file, or LimitError when the total exceeds ``max_images``."""
    counts = [(str(path), count_images(path)) for path in paths]
    total = sum(n for _, n in counts)
    check_size("images", total, LIMITS.max_images, "max_images", "predict fewer files at once")
    return counts


def iter_predictions(
    runtime: Any, counts: Sequence[tuple[str, int]], unsure_below: float = UNSURE_BELOW
) -> Iterator[Prediction]:
    """Predictions for the files of ``check_files``, read chunk by chunk (bounded memory)."""
    for path, n in counts:
        start = 0
        for batch in iter_images(path):
            yield from predict_batch(
                runtime, batch, path, start=start, images_in_file=n, unsure_below=unsure_below
            )
            start += len(batch.has_digit)


def predict_files(
    runtime: Any, paths: Paths, unsure_below: float = UNSURE_BELOW
) -> list[Prediction]:
    """One ``Prediction`` per image in ``paths`` (PNG/JPEG/.npy, read by ``images.iter_images``);
    below ``unsure_below`` the answer is "unsure" (``images.answer``).

    Raises ImageError naming the first unreadable file, before any prediction is made.
    """
    return list(iter_predictions(runtime, check_files(paths), check_unsure_below(unsure_below)))


def stream_predictions(
    runtime: str, model: ModelArg, paths: Paths, unsure_below: float = UNSURE_BELOW
) -> Iterator[Prediction]:
    """Check every file in ``paths`` and ``unsure_below``, then load ``model`` on the runtime named
    ``runtime`` and yield predictions as they come (a bad file fails before the model is loaded)."""
    from ..artifacts.layout import artifact_for
    from ..runtimes import get_entry

    unsure_below = check_unsure_below(unsure_below)
    entry = get_entry(runtime)
    counts = check_files(paths)
    with entry.create(artifact_for(entry.artifact, model)) as loaded:
        yield from iter_predictions(loaded, counts, unsure_below)


def load_and_predict(
    runtime: str, model: ModelArg, paths: Paths, unsure_below: float = UNSURE_BELOW
) -> list[Prediction]:
    """``stream_predictions`` as a list."""
    return list(stream_predictions(runtime, model, paths, unsure_below))


def predict_batch(
    runtime: Any,
    batch: ImageBatch,
    source: str = "array",
    *,
    start: int = 0,
    images_in_file: int | None = None,
    unsure_below: float = UNSURE_BELOW,
) -> list[Prediction]:
    """Predictions for an ``ImageBatch`` (pixels (N, 1, 32, 32) and ``has_digit`` (N,)), named
    after ``source``; indices count from ``start`` in a file of ``images_in_file`` images
    (default: the batch). Only the images with a digit are classified."""
    found = np.asarray(batch.has_digit, dtype=bool)
    total = len(found) if images_in_file is None else images_in_file
    probs = runtime.predict_proba(batch.pixels[found]) if found.any() else ()
    rows = iter(probs)
    return [
        Prediction(
            file=source,
            index=i,
            images_in_file=total,
            **answer_fields(next(rows) if has_digit else None, bool(has_digit), unsure_below),
        )
        for i, has_digit in enumerate(found, start)
    ]
