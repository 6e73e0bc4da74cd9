"""Readers that check sizes against ``limits.LIMITS`` before they allocate or inflate.

Every function here looks at what a file *claims* (zip directory, gzip stream, ``.npy`` header,
image header) and refuses it with a one-line :class:`~lenet_deploy.limits.LimitError` before
the claim costs memory; where the claim can lie (a gzip stream), the reading itself stops at
the limit. Non-regular files (FIFOs, devices) are refused before they are opened, so a
reader never blocks on one. Imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import warnings
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import LenetDeployError, first_line
from ..limits import LIMITS, Limits, check_size

#: Exceptions a corrupt or truncated compressed stream raises from the standard library.
CORRUPT_STREAM = (zlib.error, EOFError, gzip.BadGzipFile, zipfile.BadZipFile)


def require_regular_file(
    path: str | os.PathLike, what: str, error: type[LenetDeployError] = LenetDeployError
) -> os.stat_result:
    """``os.stat`` of ``path``; raise ``error`` unless it is a regular file (not a FIFO...)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise error(f"{what} {str(path)!r}: {exc.strerror or 'cannot be read'}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise error(f"{what} {str(path)!r} is {kind} (FIFO, device or socket?); pass a file")
    return info


# --------------------------------------------------------------------------- checkpoints
def check_checkpoint_archive(
    path: str | os.PathLike,
    error: type[LenetDeployError] = LenetDeployError,
    limits: Limits = LIMITS,
) -> None:
    """Refuse a ``.pt`` whose zip members would inflate past the limits, before torch reads it.

    torch.load allocates each member at the size the zip directory declares, so declared sizes
    are checked first; compressed members are then inflated in chunks (at most the member
    limit each) so a member whose data inflates to more than it declares fails its CRC here.
    """
    info = require_regular_file(path, "checkpoint", error)
    name = f"checkpoint {str(path)!r}"
    fix = "pass a LeNet checkpoint written by 'lenet-deploy train'"
    check_size(name, info.st_size, limits.max_checkpoint_bytes, "max_checkpoint_bytes", fix, error)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            check_size(
                f"{name} members", len(members), limits.max_checkpoint_members,
                "max_checkpoint_members", fix, error,
            )  # fmt: skip
            for member in members:
                check_size(
                    f"{name} member {member.filename!r} (declared bytes)", member.file_size,
                    limits.max_checkpoint_member_bytes, "max_checkpoint_member_bytes", fix, error,
                )  # fmt: skip
                if member.compress_type != zipfile.ZIP_STORED:
                    _inflate_all(archive, member)
    except zipfile.BadZipFile as exc:
        raise error(
            f"{str(path)!r} is not a loadable checkpoint (not a zip archive as torch.save "
            f"writes: {exc}); {fix}"
        ) from None
    except (zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise error(
            f"{str(path)!r} is not a loadable checkpoint (corrupt zip: {exc}); {fix}"
        ) from None


def _inflate_all(archive: zipfile.ZipFile, member: zipfile.ZipInfo, chunk: int = 1 << 20) -> None:
    # zipfile stops at the declared size and checks the CRC at the end: a bomb fails here.
    with archive.open(member) as fh:
        while fh.read(chunk):
            pass


# --------------------------------------------------------------------------- gzip
class BoundedGzip:
    """A gzip file opened for reading that refuses to inflate more than ``limit`` bytes.

    ``read`` raises LimitError once the stream has produced more than ``limit`` bytes, and
    ``error`` (one line) for a corrupt or truncated stream.
    """

    def __init__(self, path: str | os.PathLike, limit: int, error: type[LenetDeployError]):
        require_regular_file(path, "file", error)
        self._path, self._limit, self._error = str(path), limit, error
        self._fh = gzip.open(path, "rb")
        self.inflated = 0

    def read(self, size: int) -> bytes:
        room = self._limit - self.inflated + 1  # one byte over the limit proves it is exceeded
        try:
            data = self._fh.read(room if size < 0 else min(size, room))
        except CORRUPT_STREAM as exc:
            raise self._error(f"{self._path!r}: corrupt or truncated gzip data ({exc})") from None
        self.inflated += len(data)
        check_size(
            f"{self._path!r} inflated bytes", self.inflated, self._limit,
            "max_gzip_inflated_bytes", "the file is corrupt or not the dataset it claims to be",
            self._error,
        )  # fmt: skip
        return data

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> BoundedGzip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- .npy
@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


def read_npy_header(
    path: str | os.PathLike,
    error: type[LenetDeployError] = LenetDeployError,
    limits: Limits = LIMITS,
) -> NpyHeader:
    """Parse and check an ``.npy`` header: numeric dtype, size within ``max_npy_bytes`` and
    present in the file. Nothing but the header is read."""
    info = require_regular_file(path, "array", error)
    name = repr(str(path))
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            offset = fh.tell()
    except Exception as exc:  # numpy's header parser raises many types on hostile bytes
        # (ValueError, SyntaxError, tokenize.TokenError, RecursionError...): all mean the same.
        raise error(f"{name}: not a readable .npy array ({first_line(exc)})") from None
    if dtype.hasobject or dtype.kind not in "fiu" or dtype.subdtype is not None:
        raise error(f"{name}: .npy has dtype {dtype}; expected numbers (uint8 or float)")
    header = NpyHeader(tuple(int(d) for d in shape), dtype, bool(fortran), offset)
    fix = "split the array into smaller files"
    check_size(
        f"{name} data bytes", header.nbytes, limits.max_npy_bytes, "max_npy_bytes", fix, error
    )
    if info.st_size - offset < header.nbytes:
        raise error(
            f"{name}: header says shape {header.shape} ({header.nbytes} bytes) but the file "
            f"holds {info.st_size - offset} data bytes (truncated)"
        )
    return header


def read_npy_rows(path: str | os.PathLike, header: NpyHeader, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` along the first axis, reading only those bytes (C order)."""
    if header.fortran_order and len(header.shape) > 1:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        return np.array(mapped[start:stop])
    row_items = int(np.prod(header.shape[1:], dtype=np.int64))
    with open(path, "rb") as fh:
        fh.seek(header.offset + start * row_items * header.dtype.itemsize)
        flat = np.fromfile(fh, dtype=header.dtype, count=(stop - start) * row_items)
    return flat.reshape((stop - start, *header.shape[1:]))


# --------------------------------------------------------------------------- images
def open_picture(
    source: str | os.PathLike | bytes,
    error: type[LenetDeployError] = LenetDeployError,
    limits: Limits = LIMITS,
    name: str | None = None,
):
    """A picture (a file, or its bytes) as a decoded ``PIL.Image``, modes and alpha kept; its
    pixel count is checked from the header before the pixels are decoded."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, bytes | bytearray):
        name, stream = name or "image", io.BytesIO(source)
    else:
        require_regular_file(source, "image", error)
        name, stream = name or repr(str(source)), source
    fix = "downscale the image (a digit needs no more than a few hundred pixels a side)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(stream)
            width, height = img.size
            check_size(
                f"{name} pixels ({width}x{height})", width * height,
                limits.max_image_pixels, "max_image_pixels", fix, error,
            )  # fmt: skip
            img.load()
    except Image.DecompressionBombError:
        raise error(
            f"{name}: image larger than the limit max_image_pixels = "
            f"{limits.max_image_pixels:,}; {fix}"
        ) from None
    except UnidentifiedImageError:
        raise error(f"{name}: not an image Pillow can read (expected PNG, JPEG or .npy)") from None
    except LenetDeployError:
        raise
    except Exception as exc:  # Pillow's decoders raise many types on hostile bytes
        raise error(f"{name}: unreadable image ({first_line(exc)})") from None
    return img
