"""The runtime contract: one small class every adapter implements.

``Runtime.predict`` validates the batch once, here, then calls the adapter's ``_predict``;
adapters never re-check. This module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import numpy as np

from ..errors import InputError, LenetDeployError
from ..spec import CHANNELS, IMAGE_SIZE, INPUT_SPEC, InputSpec

_SHAPE = (CHANNELS, IMAGE_SIZE, IMAGE_SIZE)


def validate_batch(x: Any) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 (N, 1, 32, 32) array, or raise InputError.

    Real dtypes (float16/64, ints) are converted; strings, objects, booleans and complex numbers
    are refused, as are empty batches and non-finite values. The message names what was
    expected, what was given, and how to fix the common mistakes.
    """
    if isinstance(x, np.ndarray) and x.dtype == np.float32:
        arr = x  # fast path: no copy unless non-contiguous
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"expected {INPUT_SPEC.describe()}; got an unconvertible {type(x).__name__} ({exc})"
            ) from None
        if arr.dtype.kind not in "fiu":
            raise InputError(
                f"expected {INPUT_SPEC.describe()}; got dtype {arr.dtype} "
                f"({type(x).__name__}); pass real-valued pixels"
            )
    if arr.shape[1:] != _SHAPE or arr.ndim != 4:
        raise InputError(_shape_message(arr.shape))
    if arr.shape[0] == 0:
        raise InputError(f"expected {INPUT_SPEC.describe()}; got an empty batch (N = 0)")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    # One cheap BLAS reduction finds NaN and +-inf: the sum of squares of pixels in [0, 1]
    # is finite, any NaN or inf makes it non-finite (the exact count below rules out overflow
    # from huge finite values). Cheaper on the hot path than np.isfinite(arr).all().
    flat = arr.reshape(-1)
    if not math.isfinite(np.vdot(flat, flat)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise InputError(
                f"expected finite pixel values in [0, 1]; got {bad} NaN/inf value(s) in a batch "
                f"of shape {arr.shape}"
            )
    return arr


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
            "(lenet_deploy.data.preprocess does, or np.pad 2 pixels per side)"
        )
    return f"{expected}; {got}"


class Runtime(abc.ABC):
    """A loaded LeNet on one engine and device. Use as a context manager, or call ``close()``.

    Subclasses set ``name`` and ``device`` and implement ``_predict`` (and ``_close`` if they
    hold resources). ``predict`` returns float32 logits of shape (N, 10).
    """

    name: str = "runtime"
    device: str = "cpu"
    input_spec: InputSpec = INPUT_SPEC

    _closed: bool = False

    def predict(self, x: Any) -> np.ndarray:
        """Logits, float32 (N, 10), for a batch ``x`` of (N, 1, 32, 32) pixels in [0, 1]."""
        if self._closed:
            raise LenetDeployError(f"{self.name}: predict() called after close()")
        return self._predict(validate_batch(x))

    def predict_proba(self, x: Any) -> np.ndarray:
        """Softmax probabilities, float32 (N, 10)."""
        logits = self.predict(x)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict_labels(self, x: Any) -> np.ndarray:
        """Predicted digit per image, int64 (N,)."""
        return self.predict(x).argmax(axis=1)

    def info(self) -> dict[str, Any]:
        """What this runtime runs on (engine, providers, threads...) for reports."""
        return {"name": self.name, "device": self.device}

    def synchronize(self) -> None:  # noqa: B027 - optional hook, a no-op on CPU
        """Wait for queued device work (a no-op on CPU); benchmarks call it before the clock."""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self.name} on {self.device} ({state})>"

    @abc.abstractmethod
    def _predict(self, x: np.ndarray) -> np.ndarray:
        """Logits for a validated, contiguous float32 (N, 1, 32, 32) batch."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources; called once."""
