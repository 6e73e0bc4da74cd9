"""FP32 tensor data to one float32 (N, 1, 32, 32) batch: JSON numbers or the binary tensor
extension's little-endian bytes, read strictly (numbers only, in every position and at any
nesting depth; sizes that match the shape). Every refusal is an ``InferError`` (400).
"""

from __future__ import annotations

import functools
import struct

import numpy as np

from ..spec import IMAGE_SIZE, INPUT_NAME
from .http_error import InferError

IMAGE_ELEMENTS = IMAGE_SIZE * IMAGE_SIZE
IMAGE_BYTES = IMAGE_ELEMENTS * 4
_LITTLE_F32 = np.dtype("<f4")


def binary_pixels(size: object, binary: memoryview | None, n: int) -> np.ndarray:
    if binary is None:
        raise InferError(
            "binary_data_size is set but the Inference-Header-Content-Length header is missing"
        )
    if type(size) is not int or size != len(binary):
        raise InferError(f"binary_data_size is {size!r} but {len(binary)} bytes follow the header")
    if size != n * IMAGE_BYTES:
        raise InferError(
            f"binary data for shape [{n}, 1, {IMAGE_SIZE}, {IMAGE_SIZE}] is {n * IMAGE_BYTES} "
            f"bytes; got {size}"
        )
    x = np.frombuffer(binary, _LITTLE_F32).reshape(n, 1, IMAGE_SIZE, IMAGE_SIZE)
    # The tensor starts right after a header of any length; engines want aligned memory.
    return x if x.flags.aligned else x.copy()


def json_pixels(data: object, n: int, booleans: bool) -> np.ndarray:
    if type(data) is np.ndarray:  # numbers read straight from the JSON by simdjson
        return _float32_pixels(data, n)
    if type(data) is not list:
        raise InferError(f"input {INPUT_NAME!r} needs 'data' (a list of numbers)")
    count = n * IMAGE_ELEMENTS
    # A flat list of numbers packs straight into float32 with no look at each element's type
    # first, unless the document holds a boolean somewhere; anything else (nesting, strings,
    # a wrong count) takes the general path below, which says what is wrong.
    if len(data) == count and not booleans:
        x = np.empty((n, 1, IMAGE_SIZE, IMAGE_SIZE), np.float32)
        try:
            _float32_packer(count).pack_into(x, 0, *data)
            return x
        except (struct.error, OverflowError, TypeError):
            pass
    flat = _flatten(data)  # nested data: its numbers in document order, as Triton reads them
    if any(type(v) is not float and type(v) is not int for v in flat):
        raise InferError(f"input {INPUT_NAME!r}: 'data' must hold numbers only (FP32)")
    try:
        arr = np.array(flat, np.float64)
    except OverflowError:  # an integer beyond float64
        raise InferError(
            f"input {INPUT_NAME!r} takes pixels in [0, 1]; got a huge integer"
        ) from None
    return _float32_pixels(arr, n)


def _float32_pixels(arr: np.ndarray, n: int) -> np.ndarray:
    if arr.size != n * IMAGE_ELEMENTS:
        raise InferError(
            f"input {INPUT_NAME!r}: shape [{n}, 1, {IMAGE_SIZE}, {IMAGE_SIZE}] needs "
            f"{n * IMAGE_ELEMENTS} elements; got {arr.size}"
        )
    with np.errstate(over="ignore"):  # beyond float32 becomes inf, which the range check refuses
        return arr.astype(np.float32).reshape(n, 1, IMAGE_SIZE, IMAGE_SIZE)


def _flatten(data: list) -> list:
    """The leaves of nested lists, in document order (no recursion: JSON may nest deep)."""
    flat: list = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


@functools.lru_cache(maxsize=8)
def _float32_packer(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}f")  # IEEE single precision, rounded to nearest like astype
