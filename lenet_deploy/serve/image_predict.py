"""Image bytes to a JSON-ready answer: the one function behind ``POST /v1/predict``.

The page and ``curl --data-binary @digit.png`` both end here, so a drawing is classified by the
same recipe (``decode``) and the same runtime as every other input.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import images
from ..errors import ImageError
from ..spec import IMAGE_SIZE

INK_THRESHOLD = 0.3  # a model-input pixel at least this bright counts as ink
MIN_INK_PIXELS = 4  # fewer ink pixels in the 32x32 input: "no digit found"

#: ``decode(data) -> (pixels float32 (1, 32, 32) in [0, 1], has_digit)``; raises ImageError.
Decode = Callable[[bytes], tuple[np.ndarray, bool]]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, so that ten probabilities sum to 1 within 1e-12."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


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
    """PNG/JPEG bytes -> (pixels (1, 32, 32) in [0, 1], has_digit): the server's decode.

    The one place to switch: ``images.decode_image_bytes`` (issue 10's MNIST recipe) when the
    library has it, else the interim recipe below.
    """
    decode = getattr(images, "decode_image_bytes", None)
    if decode is not None:
        return decode(data)
    return _interim_decode(data)


def _interim_decode(data: bytes) -> tuple[np.ndarray, bool]:
    """Until ``images.decode_image_bytes`` lands: composite on white paper, then
    ``images.to_model_input``; "a digit" = at least MIN_INK_PIXELS ink pixels."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                # Transparent pixels are paper: a naive "L" conversion would make them black,
                # the same as the ink, and the drawing would vanish.
                paper = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(paper, img.convert("RGBA"))
            gray = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"unreadable image ({exc})") from None
    pixels = images.to_model_input(gray[None], "upload")[0]
    return pixels, int((pixels > INK_THRESHOLD).sum()) >= MIN_INK_PIXELS
