"""Image bytes to a JSON-ready answer: the one function behind ``POST /v1/predict``.

The page and ``curl --data-binary @digit.png`` both end here, so a drawing is classified by the
same recipe (``decode``) and the same runtime as every other input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..images import recipe as images
from ..runtimes.base import softmax
from ..spec import IMAGE_SIZE

#: ``decode(data) -> (pixels float32 (1, 32, 32) in [0, 1], has_digit)``; raises ImageError.
Decode = Callable[[bytes], tuple[np.ndarray, bool]]


def make_predict_image(runtime: Any, decode: Decode) -> Callable[[bytes], dict]:
    """``predict_image(data) -> {"label", "probabilities", "no_digit"}`` over ``runtime``.

    ``probabilities`` always holds the model's ten softmax values. When ``decode`` finds no
    digit (an empty or meaningless drawing) ``label`` is None and ``no_digit`` True: a blank
    canvas gets "no digit found", never a confident guess. Blocking; servers call it from a
    worker thread.
    """

    def predict_image(data: bytes) -> dict:
        pixels, has_digit = decode(data)
        batch = np.ascontiguousarray(pixels, dtype=np.float32).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)
        probabilities = softmax(runtime.predict(batch))[0]
        return {
            "label": int(probabilities.argmax()) if has_digit else None,
            "probabilities": [float(p) for p in probabilities],
            "no_digit": not has_digit,
        }

    return predict_image


def decode_upload(data: bytes) -> tuple[np.ndarray, bool]:
    """PNG/JPEG bytes -> (pixels (1, 32, 32) in [0, 1], has_digit): the server's decode, the
    library's one recipe (``images.decode_image_bytes``; transparent pixels are paper)."""
    return images.decode_image_bytes(data, "upload")
