"""The runtime contract: one small class every adapter implements.

``Runtime.predict`` validates the batch once, here, then calls the adapter's ``_predict``;
adapters never re-check. This module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import numpy as np

from ..data.chunks import predict_in_chunks
from ..errors import InputError, LenetDeployError
from ..limits import LIMITS
from ..model.sanity import check_logits
from ..spec import CHANNELS, IMAGE_SIZE, INPUT_SPEC, NUM_CLASSES, InputSpec

_SHAPE = (CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
_F32 = np.dtype(np.float32)
_LOGITS = NUM_CLASSES
_ENGINE_CHUNK = LIMITS.engine_chunk
# Module-level names for the per-call checks: a global lookup instead of two attribute ones.
_ndarray, _vdot, _isfinite, _sum = np.ndarray, np.vdot, math.isfinite, sum
_FEW = 4  # up to this many rows, logits are checked with a Python sum
#: Engines that read a batch in place may hold on to it after a call only up to this many
#: images, and never when it is a view, which can pin a caller's whole array.
KEEP_INPUT = 64
#: Pixels may stray this far outside [0, 1] (resampling overshoot) before a batch is refused.
RANGE_TOLERANCE = 1e-3
_LOW, _HIGH = -RANGE_TOLERANCE, 1.0 + RANGE_TOLERANCE


def validate_batch(x: Any, check_pixels: bool = True) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 (N, 1, 32, 32) array, or raise InputError.

    Float dtypes (16/64) are converted. Integer pixels are refused rather than guessed at (uint8
    0..255 taken as [0, 1] would be silently wrong), as are strings, objects, booleans, complex
    numbers and empty batches; with ``check_pixels``, so are NaN/inf and values outside [0, 1]
    beyond ``RANGE_TOLERANCE``. The message names what was expected, what was given, and how to
    fix the common mistakes.
    """
    if (
        type(x) is np.ndarray
        and x.dtype is _F32
        and x.shape[1:] == _SHAPE  # implies ndim == 4
        and x.shape[0]
        and x.flags["C_CONTIGUOUS"]
    ):
        arr = x  # the hot path: nothing to convert, no copy
    else:
        arr = _coerce(x)
    if check_pixels and not _pixels_ok(arr.ravel()):
        ensure_pixels(arr)
    return arr


def _pixels_ok(flat: np.ndarray) -> bool:
    """Whether every value of a 1-D array is finite and in [0, 1] within the tolerance.

    argmin/argmax point at a NaN when there is one, and every comparison with NaN is False, so
    the batch's min and max check finiteness and range together; argmin/argmax are plain C
    loops, cheaper than the ufunc reductions behind min()/max(), and ``item`` gives Python
    floats, which compare faster than numpy scalars.
    """
    return _LOW <= flat.item(flat.argmin()) and flat.item(flat.argmax()) <= _HIGH


def ensure_pixels(arr: np.ndarray) -> None:
    """Raise InputError if ``arr`` holds NaN/inf or values outside [0, 1] beyond the tolerance.

    Callers first test the batch's min and max (``_pixels_ok``: NaN or infinite when any value
    is) and come here only for the message.
    """
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise InputError(
            f"expected finite pixel values in [0, 1]; got {bad} NaN/inf value(s) in a batch "
            f"of shape {arr.shape}"
        )
    low, high = float(arr.min()), float(arr.max())
    if low < _LOW or high > _HIGH:
        fix = "divide by 255" if 1 < high <= 255 and low >= _LOW else "rescale them"
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


class Runtime(abc.ABC):
    """A loaded LeNet on one engine and device. Use as a context manager, or call ``close()``.

    Subclasses implement ``_predict`` (and ``_close`` if they hold resources); the registry
    gives them their ``name``. ``predict`` returns float32 logits of shape (N, 10).

    Class attributes an adapter may set:

    * ``chunk_size``: batches larger than this run in pieces of this many images (the output is
      the same; large batches stay in cache instead of falling off a throughput cliff). It is
      capped at ``LIMITS.engine_chunk``, so an engine call's memory is bounded whatever N is.
    * ``timed_phases``: True for device runtimes whose ``upload`` / ``compute`` / ``download``
      are separate (host-to-device, compute, device-to-host); benchmarks then time each phase
      with the host clock. Each phase must have finished on the device when it returns (one
      clock for every engine: onnxruntime's Python API offers no device events, and the host
      clock after a synchronisation also counts the launch overhead a caller waits for).
    * ``precision``: what the engine computes in ("fp32", or "bf16" when asked for); ``verify``
      judges a runtime by the tolerance policy of its precision (``lenet_deploy.verify.compare``).
    """

    name: str = "runtime"
    device: str = "cpu"
    precision: str = "fp32"
    input_spec: InputSpec = INPUT_SPEC
    chunk_size: int = LIMITS.engine_chunk
    timed_phases: bool = False
    _closed: bool = False

    def predict(self, x: Any) -> np.ndarray:
        """Logits, float32 (N, 10), for a batch ``x`` of (N, 1, 32, 32) pixels in [0, 1].

        Raises InputError for anything else, including integer pixels, NaN/inf and values
        outside [0, 1] by more than ``RANGE_TOLERANCE``. Batches run in pieces of at most
        ``chunk_size`` images. What ``_predict`` returns is checked (float32 (n, 10), finite):
        a broken plug-in, engine or model raises ``errors.ModelError`` instead of passing a
        wrong answer on.
        """
        if self._closed:
            raise LenetDeployError(f"{self.name}: predict() called after close()")
        # validate_batch's hot path inlined: at batch 1 every Python call made around the
        # engine shows in the adapter's overhead.
        if (
            type(x) is _ndarray
            and x.dtype is _F32
            and (shape := x.shape)[1:] == _SHAPE  # each .shape builds a new tuple
            and shape[0]
            and x.flags["C_CONTIGUOUS"]  # item lookup: cheaper than the attribute
        ):
            n = shape[0]
        else:
            x = validate_batch(x, check_pixels=False)
            n = len(x)
        # _pixels_ok inlined (x is C-contiguous here, so ravel is a view, never a copy)
        flat = x.ravel()
        if not (_LOW <= flat.item(flat.argmin()) and flat.item(flat.argmax()) <= _HIGH):
            ensure_pixels(x)
        if n > self.chunk_size or n > _ENGINE_CHUNK:  # bounded engine memory for any N
            chunk = min(self.chunk_size, _ENGINE_CHUNK)
            return predict_in_chunks(self._checked_predict, x, chunk)
        out = self._predict(x)
        # check_logits' test inlined for the hot path; anything unusual goes to the exact check
        # (the sum of squares overflows for huge finite logits, which then pass there). A sum
        # is finite only when every term is; for a few rows a Python sum over the list skips
        # BLAS's dispatch, which dominates there.
        if (
            type(out) is _ndarray
            and out.dtype is _F32
            and out.shape == (n, _LOGITS)
            and _isfinite(_sum(out.ravel().tolist()) if n <= _FEW else _vdot(out, out))
        ):
            return out
        return check_logits(out, n, self.name)

    def _checked_predict(self, x: np.ndarray) -> np.ndarray:
        return check_logits(self._predict(x), x.shape[0], self.name)

    def predict_proba(self, x: Any) -> np.ndarray:
        """Softmax probabilities, float32 (N, 10)."""
        logits = self.predict(x)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict_labels(self, x: Any) -> np.ndarray:
        """Predicted digit per image, int64 (N,)."""
        return self.predict(x).argmax(axis=1)

    # The staged timing API. On the CPU the phases collapse into ``predict``; device runtimes
    # (``timed_phases``) override ``_upload``, ``compute`` and ``download`` so the copies can be
    # timed apart from the kernels.
    def upload(self, x: Any, *, validated: bool = False) -> Any:
        """Put ``x`` where ``compute`` needs it (device memory on a GPU).

        ``x`` is validated first unless ``validated`` says it already came from
        ``validate_batch`` (benchmarks validate once, so the check is not timed as a copy).
        """
        self._check_open("upload")
        return self._upload(x if validated else validate_batch(x))

    def _upload(self, x: np.ndarray) -> Any:
        return x

    def compute(self, staged: Any) -> Any:
        """Run the model on what ``upload`` returned; the result may stay on the device."""
        self._check_open("compute")
        return self._predict(staged)

    def _check_open(self, call: str) -> None:
        if self._closed:
            raise LenetDeployError(f"{self.name}: {call}() called after close()")

    def download(self, result: Any) -> np.ndarray:
        """Bring ``compute``'s result to the host as float32 (N, 10) logits."""
        return result

    def synchronize(self) -> None:  # noqa: B027 - optional hook, a no-op on CPU
        """Wait for queued device work (a no-op on CPU); benchmarks call it before the clock."""

    def info(self) -> dict[str, Any]:
        """What this runtime runs on (engine, providers, threads...) for reports."""
        return {"name": self.name, "device": self.device, "precision": self.precision}

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
        """Logits for a validated, finite, contiguous float32 (N, 1, 32, 32) batch."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources; called once."""
