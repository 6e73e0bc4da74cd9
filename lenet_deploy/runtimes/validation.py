"""What ``Runtime.predict`` accepts: ``validate_batch`` turns a caller's batch into the one input
the engines take, C-contiguous float32 (N, 1, 32, 32) pixels in [0, 1], or refuses it with a
message naming what was expected, what was given and how to fix the common mistakes.

The pixel rule itself (range and tolerance) is ``spec.pixels_in_range``, shared with the server.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..spec import CHANNELS, IMAGE_SIZE, INPUT_SPEC, PIXEL_HIGH, PIXEL_LOW, pixels_in_range

_SHAPE = (CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
_F32 = np.dtype(np.float32)


def validate_batch(x: Any, check_pixels: bool = True) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 (N, 1, 32, 32) array, or raise InputError.

    Float dtypes (16/64) are converted. Integer pixels are refused rather than guessed at (uint8
    0..255 taken as [0, 1] would be silently wrong), as are strings, objects, booleans, complex
    numbers and empty batches; with ``check_pixels``, so are NaN/inf and values outside [0, 1]
    beyond ``spec.PIXEL_TOLERANCE``.
    """
    if (
        type(x) is np.ndarray
        and x.dtype is _F32
        and (shape := x.shape)[1:] == _SHAPE  # implies ndim == 4; each .shape builds a tuple
        and shape[0]
        and x.flags["C_CONTIGUOUS"]  # item lookup: cheaper than the attribute
    ):
        arr = x  # the hot path: nothing to convert, no copy
    else:
        arr = _coerce(x)
    # C-contiguous here, so ravel is a view, never a copy
    if check_pixels and not pixels_in_range(arr.ravel()):
        ensure_pixels(arr)
    return arr


def ensure_pixels(arr: np.ndarray) -> None:
    """Raise InputError if ``arr`` holds NaN/inf or values outside [0, 1] beyond the tolerance.

    Callers first test the batch with ``spec.pixels_in_range`` and come here for the message.
    """
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise InputError(
            f"expected finite pixel values in [0, 1]; got {bad} NaN/inf value(s) in a batch "
            f"of shape {arr.shape}"
        )
    low, high = float(arr.min()), float(arr.max())
    if low < PIXEL_LOW or high > PIXEL_HIGH:
        fix = "divide by 255" if 1 < high <= 255 and low >= PIXEL_LOW else "rescale them"
        raise InputError(
            f"expected pixels in [0, 1]; got values from {low:g} to {high:g}: {fix}, or load "
            "pictures with lenet_deploy.images.recipe.prepare_image / load_images"
        )


def _coerce(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray) and x.dtype == np.float32:
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"expected {INPUT_SPEC.describe()}; got an unconvertible {type(x).__name__} ({exc})"
            ) from None
        if arr.dtype.kind in "iu":
            raise InputError(
                f"expected {INPUT_SPEC.describe()}; got integer pixels ({arr.dtype}), which are "
                "not taken as [0, 1]: pass x.astype(np.float32) / 255 for 0..255 data, or load "
                "pictures with lenet_deploy.images.recipe.prepare_image / load_images"
            )
        if arr.dtype.kind != "f":
            raise InputError(
                f"expected {INPUT_SPEC.describe()}; got dtype {arr.dtype} "
                f"({type(x).__name__}); pass real-valued pixels"
            )
    if arr.shape[1:] != _SHAPE or arr.ndim != 4:
        raise InputError(_shape_message(arr.shape))
    if arr.shape[0] == 0:
        raise InputError(f"expected {INPUT_SPEC.describe()}; got an empty batch (N = 0)")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _shape_message(shape: tuple) -> str:
    got = f"got shape {shape}"
    expected = f"expected {INPUT_SPEC.describe()}"
    if shape == _SHAPE:
        return f"{expected}; {got}: a single image without the batch axis, pass x[None]"
    if shape == (IMAGE_SIZE, IMAGE_SIZE):
        return f"{expected}; {got}: a single 32x32 image, pass x[None, None]"
    if len(shape) == 3 and shape[1:] == (IMAGE_SIZE, IMAGE_SIZE):
        return f"{expected}; {got}: images without the channel axis, pass x[:, None]"
    if len(shape) == 4 and shape[2:] == (IMAGE_SIZE, IMAGE_SIZE) and shape[1] != CHANNELS:
        return (
            f"{expected}; {got}: {shape[1]} channels, LeNet takes grayscale; convert, e.g. "
            "x.mean(axis=1, keepdims=True)"
        )
    if len(shape) == 4 and shape[1] == IMAGE_SIZE and shape[3] == CHANNELS:
        return f"{expected}; {got}: channels-last (NHWC), pass x.transpose(0, 3, 1, 2)"
    if len(shape) >= 2 and shape[-2:] == (28, 28):
        return (
            f"{expected}; {got}: 28x28 images, pad them to 32x32 "
            "(lenet_deploy.data.datasets.pad_mnist does, or np.pad 2 pixels per side)"
        )
    return f"{expected}; {got}"
