"""The input/output contract every stage shares, as plain data (no torch, no onnxruntime).

Pixels are float32 in [0, 1], shape (N, 1, 32, 32), N >= 1: dark background, bright strokes, as
in MNIST. The normalisation used in training is part of the model, not of the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLASS_LABELS: tuple[str, ...] = tuple(str(d) for d in range(10))
NUM_CLASSES = len(CLASS_LABELS)
IMAGE_SIZE = 32
CHANNELS = 1
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
#: Pixels may stray this far outside [0, 1] (resampling overshoot) before a batch is refused:
#: by ``Runtime.predict`` and by the server alike, through ``pixels_in_range``.
PIXEL_TOLERANCE = 1e-3
PIXEL_LOW, PIXEL_HIGH = 0.0 - PIXEL_TOLERANCE, 1.0 + PIXEL_TOLERANCE
#: Multiply-adds x 2 for one image through LeNet (conv1 + conv2 + fc1..fc3), as used for GFLOP/s.
FLOPS_PER_IMAGE = 2 * (6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10)


@dataclass(frozen=True)
class InputSpec:
    """What ``Runtime.predict`` accepts."""

    name: str = INPUT_NAME
    shape: tuple = ("N", CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    dtype: str = "float32"
    value_range: tuple[float, float] = (0.0, 1.0)

    def describe(self) -> str:
        dims = ", ".join(str(d) for d in self.shape)
        return f"{self.dtype} array of shape ({dims}) with values in [0, 1]"


INPUT_SPEC = InputSpec()


def pixels_in_range(flat: Any) -> bool:
    """Whether every value of a 1-D numpy array is finite and in [0, 1] within
    ``PIXEL_TOLERANCE``: the one pixel rule, for the library and the server.

    argmin/argmax point at a NaN when there is one, and every comparison with NaN is False, so
    the batch's min and max check finiteness and range together; argmin/argmax are plain C
    loops, cheaper than the ufunc reductions behind min()/max(), and ``item`` gives Python
    floats, which compare faster than numpy scalars.
    """
    return PIXEL_LOW <= flat.item(flat.argmin()) and flat.item(flat.argmax()) <= PIXEL_HIGH
