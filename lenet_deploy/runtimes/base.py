"""The runtime contract: one small class every adapter implements.

``Runtime.predict`` validates the batch once, here, then calls the adapter's ``_predict``;
adapters never re-check. This module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from ..data.chunks import predict_in_chunks
from ..errors import LenetDeployError
from ..limits import LIMITS
from ..model.sanity import check_logits
from ..spec import INPUT_SPEC, InputSpec
from .validation import validate_batch

__all__ = ["CPU_CHUNK", "KEEP_INPUT", "Runtime", "softmax", "validate_batch"]

#: Images per engine call on the CPU, for every CPU engine (``chunk_size``): larger batches run
#: in pieces this size, which keeps the activations in cache (benchmarks/large_batch.py).
CPU_CHUNK = 256

#: Engines that read a batch in place may hold on to it after a call only up to this many
#: images, and never when it is a view, which can pin a caller's whole array.
KEEP_INPUT = 64


def softmax(logits: Any) -> np.ndarray:
    """Row-wise softmax in float64, so that ten probabilities sum to 1 within 1e-12: the one
    softmax, for ``Runtime.predict_proba`` and the server's ``/v1/predict``."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


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
        outside [0, 1] by more than ``spec.PIXEL_TOLERANCE``. Batches run in pieces of at most
        ``chunk_size`` images. What ``_predict`` returns is checked (float32 (n, 10), finite):
        a broken plug-in, engine or model raises ``errors.ModelError`` instead of passing a
        wrong answer on.
        """
        if self._closed:
            raise LenetDeployError(f"{self.name}: predict() called after close()")
        x = validate_batch(x)
        n = x.shape[0]
        if n > self.chunk_size or n > LIMITS.engine_chunk:  # bounded engine memory for any N
            chunk = min(self.chunk_size, LIMITS.engine_chunk)
            return predict_in_chunks(self._checked_predict, x, chunk)
        return check_logits(self._predict(x), n, self.name)

    def _checked_predict(self, x: np.ndarray) -> np.ndarray:
        return check_logits(self._predict(x), x.shape[0], self.name)

    def predict_proba(self, x: Any) -> np.ndarray:
        """Softmax probabilities, float32 (N, 10)."""
        return softmax(self.predict(x)).astype(np.float32)

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
