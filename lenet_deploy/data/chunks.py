"""Work over many images in bounded chunks, so memory follows the chunk, not the request."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..limits import LIMITS
from ..spec import NUM_CLASSES


def iter_chunks(n: int, chunk: int = LIMITS.engine_chunk) -> Iterator[tuple[int, int]]:
    """(start, stop) pairs covering ``range(n)`` in steps of at most ``chunk`` (>= 1)."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    for start in range(0, n, chunk):
        yield start, min(start + chunk, n)


def predict_in_chunks(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    chunk: int = LIMITS.engine_chunk,
) -> np.ndarray:
    """``predict`` applied to ``x`` (N, ...) chunk by chunk; float32 (N, 10) logits.

    The output is allocated once; each engine call sees at most ``chunk`` images, so the
    engine's working memory (activations) is bounded whatever N is.
    """
    out = np.empty((len(x), NUM_CLASSES), dtype=np.float32)
    for start, stop in iter_chunks(len(x), chunk):
        out[start:stop] = predict(x[start:stop])
    return out
