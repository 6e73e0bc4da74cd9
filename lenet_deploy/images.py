"""Image files for ``lenet-deploy predict``: PNG/JPEG (Pillow) or ``.npy``, to model input.

The documented rule, applied to every file:

1. Grayscale: colour images are converted with Pillow's "L" (ITU-R 601 luma).
2. Scale to [0, 1]: integer data / 255 (``.npy`` floats are taken as already in [0, 1]).
3. Polarity: the model expects a bright digit on a dark background (as MNIST and the digits
   set). If the image's border (outermost pixel ring) is on average brighter than 0.5, it is a
   dark-on-light image (ink on paper) and is inverted.
4. Size: an image that is already 32x32 is taken as model input; any other size goes through
   ``data.preprocess`` (resize to 28x28 bilinear, zero-pad to 32x32), like the training data.

Imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .bounded import open_picture, read_npy_header, read_npy_rows
from .chunks import iter_chunks
from .data import preprocess
from .errors import ImageError
from .limits import LIMITS, check_size
from .spec import IMAGE_SIZE

NPY_SUFFIX = ".npy"


def load_images(path: str | os.PathLike) -> np.ndarray:
    """Model input (N, 1, 32, 32) float32 from one file; raises ImageError naming the file."""
    return np.concatenate(list(iter_images(path)))


def count_images(path: str | os.PathLike) -> int:
    """How many images ``path`` holds, from its header only; refuses what breaks a limit.

    Pictures are decoded (after their pixel count was checked); ``.npy`` headers are
    checked: dtype, size (``max_npy_bytes``), image size (``max_image_pixels``) and
    count (``max_images``).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{str(path)!r}: no such file")
    if path.suffix.lower() != NPY_SUFFIX:
        open_picture(path, ImageError)  # decoded once here so every file is checked up front
        return 1
    header = read_npy_header(path, ImageError)
    shape = header.shape
    if len(shape) == 4 and shape[1] == 1:
        shape = (shape[0], *shape[2:])
    if len(shape) not in (2, 3):
        raise ImageError(
            f"{str(path)!r}: .npy has shape {header.shape}; "
            "expected (H, W), (N, H, W) or (N, 1, H, W)"
        )
    n, (h, w) = (1 if len(shape) == 2 else shape[0]), shape[-2:]
    if n == 0:
        raise ImageError(f"{str(path)!r}: .npy holds no images (shape {header.shape})")
    fix = "split the file"
    name = repr(str(path))
    check_size(
        f"{name} pixels", h * w, LIMITS.max_image_pixels, "max_image_pixels", fix, ImageError
    )
    check_size(f"{name} images", n, LIMITS.max_images, "max_images", fix, ImageError)
    return n


def iter_images(path: str | os.PathLike, chunk: int = LIMITS.engine_chunk) -> Iterator[np.ndarray]:
    """Model input from one file in chunks of at most ``chunk`` images (bounded memory)."""
    path = Path(path)
    n = count_images(path)
    if path.suffix.lower() != NPY_SUFFIX:
        yield to_model_input(open_picture(path, ImageError)[None], str(path))
        return
    header = read_npy_header(path, ImageError)
    if len(header.shape) == 2:
        yield to_model_input(
            _npy_to_unit(read_npy_rows(path, header, 0, header.shape[0])[None], path), str(path)
        )
        return
    for start, stop in iter_chunks(n, chunk):
        rows = read_npy_rows(path, header, start, stop)
        yield to_model_input(
            _npy_to_unit(rows.reshape(len(rows), *header.shape[-2:]), path), str(path)
        )


def to_model_input(images: np.ndarray, name: str = "array") -> np.ndarray:
    """Apply steps 3-4 of the rule to grayscale images (N, H, W) in [0, 1]."""
    if images.ndim != 3 or min(images.shape[1:]) < 2:
        raise ImageError(
            f"{name}: expected grayscale image(s) (H, W) or (N, H, W); got shape {images.shape}"
        )
    if not np.isfinite(images).all():
        raise ImageError(f"{name}: contains NaN or infinite values")
    images = np.clip(images.astype(np.float32), 0.0, 1.0)
    images = np.stack([invert_if_light(img) for img in images])
    if images.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE):
        return images[:, None]
    return preprocess(images, max_value=1.0)


def invert_if_light(image: np.ndarray) -> np.ndarray:
    """Invert a dark-on-light image so the digit is bright on dark (rule step 3)."""
    border = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    return 1.0 - image if border.mean() > 0.5 else image


def _npy_to_unit(arr: np.ndarray, path: Path) -> np.ndarray:
    """Integer pixels / 255; floats must already be in [0, 1]."""
    if arr.dtype.kind in "iu":
        return arr.astype(np.float32) / np.float32(255.0)
    peak = float(np.nanmax(arr)) if arr.size else 0.0
    if peak > 1.0:
        raise ImageError(
            f"{str(path)!r}: float pixels up to {peak:g}; "
            "expected [0, 1] (divide by 255, or save as uint8)"
        )
    return arr.astype(np.float32)
