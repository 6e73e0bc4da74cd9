"""MNIST's IDX file format: read one file (raw or gzip), validating before allocating.

Sizes are checked against ``limits.LIMITS`` before anything is allocated, a ``.gz`` stream is
inflated through :class:`~lenet_deploy.data.bounded.BoundedGzip` (a lying header cannot make it
inflate without end) and FIFOs or devices are refused before they are opened.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..limits import LIMITS, check_size
from .bounded import CORRUPT_STREAM, BoundedGzip, require_regular_file

# IDX: magic = 0x00 0x00 <type> <ndim>; type 0x08 = unsigned byte.
_IDX_UBYTE = 0x08


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Parse one IDX file (raw or gzip) of unsigned bytes; validate before allocating.

    Checks the magic number, the number of dimensions, and that the item count in the header
    matches the data actually present. Raises DataError naming the file and the problem.
    """
    path = Path(path)
    name = str(path)
    try:
        with _open_idx(path) as fh:
            header = fh.read(4)
            if len(header) < 4:
                raise DataError(f"{name}: truncated IDX header ({len(header)} bytes)")
            zero1, zero2, dtype, dims = header
            if zero1 or zero2 or dtype != _IDX_UBYTE or dims == 0:
                raise DataError(
                    f"{name}: bad IDX magic number 0x{header.hex()}; expected 0x000008NN "
                    "(unsigned bytes, NN dimensions)"
                )
            if ndim is not None and dims != ndim:
                raise DataError(f"{name}: IDX file has {dims} dimensions; expected {ndim}")
            raw_dims = fh.read(4 * dims)
            if len(raw_dims) < 4 * dims:
                raise DataError(f"{name}: truncated IDX header (dimension sizes missing)")
            shape = struct.unpack(f">{dims}I", raw_dims)
            count = int(np.prod(shape, dtype=object))
            fix = "the file is corrupt or not a digit dataset"
            limits = LIMITS
            check_size(
                f"{name} items", shape[0], limits.max_dataset_images, "max_dataset_images",
                fix, DataError,
            )  # fmt: skip
            check_size(
                f"{name} bytes", count, limits.max_gzip_inflated_bytes, "max_gzip_inflated_bytes",
                fix, DataError,
            )  # fmt: skip
            if not path.name.endswith(".gz"):
                available = path.stat().st_size - 4 - 4 * dims
                if available != count:
                    problem = "truncated" if available < count else "has trailing bytes"
                    raise DataError(
                        f"{name}: header says {shape[0]} items of shape {shape[1:]} "
                        f"({count} bytes) but the file holds {available} data bytes ({problem})"
                    )
            data = _read_exactly(fh, count)
            if len(data) != count:
                raise DataError(
                    f"{name}: header says {shape[0]} items ({count} bytes) but the data ends "
                    f"after {len(data)} bytes (truncated)"
                )
            if fh.read(1):
                raise DataError(
                    f"{name}: header says {shape[0]} items but the file has trailing bytes"
                )
    except (OSError, *CORRUPT_STREAM) as exc:
        raise DataError(f"{name}: cannot read IDX file ({exc})") from None
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _open_idx(path: Path):
    if path.name.endswith(".gz"):  # a lying header must not make us inflate without end
        return BoundedGzip(path, LIMITS.max_gzip_inflated_bytes, DataError)
    require_regular_file(path, "IDX file", DataError)
    return open(path, "rb")


def _read_exactly(fh, count: int, chunk: int = 1 << 22) -> bytes:
    # Read in chunks so a lying header on a compressed stream costs only the bytes really there.
    buf = bytearray()
    while len(buf) < count:
        piece = fh.read(min(chunk, count - len(buf)))
        if not piece:
            break
        buf += piece
    return bytes(buf)
