"""Checks that keep a wrong answer from leaving with exit 0: model weights, normalisation,
training loss and runtime outputs must be finite and of the documented shape and dtype.

Each raises a one-line :class:`ModelError` naming what was wrong and the fix. Imports neither
torch nor onnxruntime (tensors are checked through their ``isfinite`` method).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ModelError
from ..spec import NUM_CLASSES

_F32 = np.dtype(np.float32)
_FEW = 4  # up to this many rows, logits are summed in Python (see check_logits)


def check_state_finite(state_dict: Mapping[str, Any], what: str) -> None:
    """Refuse a state_dict holding NaN or inf in any tensor."""
    bad = [
        k for k, v in state_dict.items() if hasattr(v, "isfinite") and not bool(v.isfinite().all())
    ]
    if bad:
        raise ModelError(
            f"{what} has non-finite weights (NaN/inf in {', '.join(bad[:4])}); it comes from a "
            "diverged or corrupted training run: retrain with 'lenet-deploy train'"
        )


def check_normalization(norm: Any, what: str) -> tuple[float, float]:
    """(mean, std) from a checkpoint's normalisation entry: finite numbers, std > 0."""
    if not isinstance(norm, Mapping):
        raise ModelError(
            f"{what}: normalization must be a mapping with mean and std; got {norm!r:.80}"
        )
    values = []
    for key, default in (("mean", 0.0), ("std", 1.0)):
        value = norm.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ModelError(
                f"{what}: normalization {key} must be a finite number; got {value!r:.80}"
            )
        values.append(float(value))
    if not values[1] > 1e-12:
        raise ModelError(f"{what}: normalization std must be > 0; got {values[1]!r}")
    return values[0], values[1]


def check_loss(loss: float, epoch: int, step: int, lr: float) -> None:
    """A non-finite training loss means the run diverged: an error, never a saved model."""
    if not math.isfinite(loss):
        raise ModelError(
            f"training diverged at epoch {epoch}, step {step} (loss {loss}); nothing was "
            f"saved; lower the learning rate (--lr, now {lr:g})"
        )


def check_logits(out: Any, n: int, runtime: str) -> np.ndarray:
    """Return ``out`` if it is float32 (n, 10) and finite; else raise naming the runtime.

    Every ``Runtime.predict`` ends here, so the usual case is tested first, cheaply: a sum is
    finite only when every term is; for a few rows a Python sum over the list skips BLAS's
    dispatch, which dominates there. Anything else takes the exact check (the sum of squares
    overflows for huge finite logits, which then pass there).
    """
    if (
        type(out) is np.ndarray
        and out.dtype is _F32
        and out.shape == (n, NUM_CLASSES)
        and math.isfinite(sum(out.ravel().tolist()) if n <= _FEW else np.vdot(out, out))
    ):
        return out
    if type(out) is not np.ndarray or out.dtype != _F32 or out.shape != (n, NUM_CLASSES):
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ModelError(
            f"{runtime} returned {got}; the contract is float32 ({n}, {NUM_CLASSES}) logits: "
            "the model is not a LeNet export or the adapter is broken"
        )
    if not math.isfinite(float(out.sum(dtype=np.float64))):
        raise ModelError(
            f"{runtime} returned non-finite logits (NaN/inf) for finite input; the model has "
            "non-finite weights or the input is far outside [0, 1]"
        )
    return out
