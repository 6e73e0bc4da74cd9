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
_F32 = np.dtype(np.float32)
#: Pixels may stray this far outside [0, 1] (resampling overshoot) before a batch is refused.
RANGE_TOLERANCE = 1e-3


def validate_batch(x: Any, check_finite: bool = True) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 (N, 1, 32, 32) array, or raise InputError.

    Float dtypes (16/64) are converted. Integer pixels are refused rather than guessed at (uint8
    0..255 taken as [0, 1] would be silently wrong), as are floats outside [0, 1] beyond
    ``RANGE_TOLERANCE``, strings, objects, booleans, complex numbers, empty batches and (with
    ``check_finite``) non-finite values. The message names what was expected, what was given,
    and how to fix the common mistakes.
    """
    if (
        type(x) is np.ndarray
        and x.dtype is _F32
        and x.shape[1:] == _SHAPE  # implies ndim == 4
        and x.shape[0]
        and x.flags.c_contiguous
    ):
        arr = x  # the hot path: nothing to convert, no copy
    else:
        arr = _coerce(x)
    if check_finite and not math.isfinite(np.vdot(arr, arr)):
        ensure_finite(arr)
    ensure_pixel_range(arr)
    return arr


def ensure_pixel_range(arr: np.ndarray) -> None:
    """Raise InputError if pixels lie outside [0, 1] beyond ``RANGE_TOLERANCE``."""
    low, high = float(arr.min()), float(arr.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        ensure_finite(arr)  # NaN/inf get their own message
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        fix = "divide by 255" if high > 1 + RANGE_TOLERANCE and high <= 255 else "rescale them"
        raise InputError(
            f"expected pixels in [0, 1]; got values from {low:g} to {high:g}: {fix}, or load "
            "pictures with lenet_deploy.images.prepare_image / load_images"
        )


def ensure_finite(arr: np.ndarray) -> None:
    """Raise InputError if ``arr`` holds NaN or inf (the exact, slow check).

    Callers use a cheap signal first -- a sum of squares is finite for pixels in [0, 1] and
    non-finite with any NaN or inf -- and come here only when it is not finite, which also
    happens for huge finite values; those pass.
    """
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise InputError(
            f"expected finite pixel values in [0, 1]; got {bad} NaN/inf value(s) in a batch "
            f"of shape {arr.shape}"
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
                "pictures with lenet_deploy.images.prepare_image / load_images"
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
            "(lenet_deploy.data.pad_mnist does, or np.pad 2 pixels per side)"
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

    #: An adapter that computes the finiteness signal inside its engine, in the same pass as
    #: the model (ort-cpu does), sets this and calls ``ensure_finite`` when the signal is not
    #: finite; the batch is then not scanned twice.
    engine_checks_finite: bool = False
    _closed: bool = False

    def predict(self, x: Any) -> np.ndarray:
        """Logits, float32 (N, 10), for a batch ``x`` of (N, 1, 32, 32) pixels in [0, 1]."""
        if self._closed:
            raise LenetDeployError(f"{self.name}: predict() called after close()")
        # validate_batch's hot path inlined: at batch 1 an inference is ~40 us and every
        # Python call made around it shows in the adapter's overhead.
        if not (
            type(x) is np.ndarray
            and x.dtype is _F32
            and x.shape[1:] == _SHAPE
            and x.shape[0]
            and x.flags.c_contiguous
        ):
            x = validate_batch(x, check_finite=False)
        if not self.engine_checks_finite and not math.isfinite(np.vdot(x, x)):
            ensure_finite(x)
        ensure_pixel_range(x)
        return self._predict(x)

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
