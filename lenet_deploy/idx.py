"""MNIST's IDX file format: read one file (raw or gzip), validating before allocating."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from .errors import DataError

# IDX: magic = 0x00 0x00 <type> <ndim>; type 0x08 = unsigned byte.
_IDX_UBYTE = 0x08
_MAX_IDX_ITEMS = 10_000_000  # far above MNIST's 60,000; refuses absurd headers before allocating


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
            count = int(np.prod(shape, dtype=np.int64))
            if shape[0] > _MAX_IDX_ITEMS or count > _MAX_IDX_ITEMS * 28 * 28:
                raise DataError(
                    f"{name}: header claims shape {shape}, larger than any digit dataset; "
                    "the file is corrupt"
                )
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
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{name}: cannot read IDX file ({exc})") from None
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _open_idx(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _read_exactly(fh, count: int, chunk: int = 1 << 22) -> bytes:
    # Read in chunks so a lying header on a compressed stream costs only the bytes really there.
    buf = bytearray()
    while len(buf) < count:
        piece = fh.read(min(chunk, count - len(buf)))
        if not piece:
            break
        buf += piece
    return bytes(buf)
