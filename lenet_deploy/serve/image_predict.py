"""Image bytes to a JSON-ready answer: the one function behind ``POST /v1/predict``.

The page and ``curl --data-binary @digit.png`` both end here, so a drawing is classified by the
same recipe (``decode``) and the same runtime as every other input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ImageError
from ..images import recipe as images
from ..images.answer import UNSURE_BELOW, answer_for, check_unsure_below
from ..runtimes.base import softmax
from ..spec import IMAGE_SIZE

#: ``decode(data) -> (pixels float32 (1, 32, 32) in [0, 1], has_digit)``; raises ImageError.
Decode = Callable[[bytes], tuple[np.ndarray, bool]]


def make_predict_image(
    runtime: Any, decode: Decode, unsure_below: float = UNSURE_BELOW
) -> Callable[..., dict]:
    """``predict_image(data, include_input=False) -> dict`` over ``runtime``: the fields of
    ``images.answer`` (the same as ``predict --json``), plus ``"input"`` (the 32x32 model input
    the recipe made, rows of floats in [0, 1] rounded to 4 decimals) when ``include_input``.

    When ``decode`` finds no digit (an empty or meaningless drawing) the model is not run:
    ``no_digit`` is true and there is no label and no probabilities. Blocking; servers call it
    from a worker thread.
    """
    unsure_below = check_unsure_below(unsure_below)

    def predict_image(data: bytes, include_input: bool = False) -> dict:
        pixels, has_digit = decode(data)
        batch = np.ascontiguousarray(pixels, dtype=np.float32).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)
        probabilities = softmax(runtime.predict(batch))[0] if has_digit else None
        out = answer_for(probabilities, has_digit, unsure_below).answer_dict()
        if include_input:
            out["input"] = np.round(batch[0, 0].astype(np.float64), 4).tolist()
        return out

    return predict_image


def decode_upload(data: bytes) -> tuple[np.ndarray, bool]:
    """PNG/JPEG bytes -> (pixels (1, 32, 32) in [0, 1], has_digit): the server's decode, the
    library's one recipe (``images.decode_image_bytes``; transparent pixels are paper).

    A JPEG must be whole: libjpeg (inside Pillow) fills a scan cut short and closed with an
    end marker with grey and says nothing, so where simplejpeg is installed ([serve]) the
    scan is first decoded strictly, every libjpeg warning an ImageError.
    """
    if data[:2] == b"\xff\xd8" and _strict_jpeg is not None:
        try:
            # 1/8 scale: the whole scan is Huffman-decoded (where the warnings come from),
            # with almost none of the IDCT work
            _strict_jpeg(
                data, colorspace="GRAY", strict=True, min_factor=8, min_width=1, min_height=1
            )
        except ValueError as exc:
            raise ImageError(f"upload: incomplete or corrupt JPEG ({exc})") from None
    return images.decode_image_bytes(data, "upload")


try:  # optional: without it a truncated JPEG closed with an end marker decodes grey-filled
    from simplejpeg import decode_jpeg as _strict_jpeg
except ImportError:  # pragma: no cover - [serve] installs it
    _strict_jpeg = None
