"""The one image-to-model-input recipe: MNIST's (LeCun et al.), for every picture of a digit.

1. Depth: uint8 / 255; 16-bit and float scaled by the range actually used. Transparent pixels
   are background (a canvas export: dark strokes on a transparent page).
2. Paper: a robust quadratic surface (grey paper, vignetting, uneven light) is subtracted;
   polarity comes from that background, never a fixed threshold; coloured ink counts by its
   colour distance from the paper too.
3. Ink: contrast normalised to the ink's own level above a noise floor; specks dropped.
4. No digit: a blank or uniform page, or marks no stronger than the noise, gives
   ``has_digit`` False and zero pixels. Callers report "no digit", never a label.
5. Geometry: crop, fit 20x20 keeping aspect (Lanczos), centre of mass at the centre of 28x28,
   zero-pad to 32x32. Imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..data.bounded import open_picture, read_npy_header, read_npy_rows
from ..data.chunks import iter_chunks
from ..errors import ImageError
from ..limits import LIMITS, check_size
from ..spec import IMAGE_SIZE
from .ink import BOX, FRAME, find_digit

__all__ = ["BOX", "FRAME", "RECIPE", "ImageBatch", "count_images", "decode_image_bytes"]
__all__ += ["iter_images", "load_images", "prepare_image"]

RECIPE = (
    "MNIST recipe: background surface subtracted, polarity from the background, ink contrast "
    "normalised, crop to the digit, fit 20x20 keeping aspect (Lanczos), centre of mass at the "
    "centre of 28x28, zero-pad to 32x32; bright digit on black, float32 [0,1]"
)
NPY_SUFFIX = ".npy"


class ImageBatch(NamedTuple):
    """Model input for a file: ``pixels`` float32 (N, 1, 32, 32) in [0, 1], ``has_digit`` (N,)."""

    pixels: np.ndarray
    has_digit: np.ndarray


def load_images(path: str | os.PathLike) -> ImageBatch:
    """Every image in a PNG/JPEG/... file or a ``.npy`` array, through the recipe."""
    batches = list(iter_images(path))
    return ImageBatch(
        np.concatenate([b.pixels for b in batches]),
        np.concatenate([b.has_digit for b in batches]),
    )


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
    n, picture = _npy_layout(header.shape, path)
    h, w = picture[:2]
    fix, name = "split the file", repr(str(path))
    check_size(
        f"{name} pixels", h * w, LIMITS.max_image_pixels, "max_image_pixels", fix, ImageError
    )
    check_size(f"{name} images", n, LIMITS.max_images, "max_images", fix, ImageError)
    return n


def _npy_layout(shape: tuple[int, ...], path) -> tuple[int, tuple[int, ...]]:
    """(images, the shape of one picture) for an array of ``shape``.

    A last axis of 3 or 4 is colour (RGB, RGBA: what ``np.asarray(img)`` gives), so (H, W, 3)
    is one picture and (N, H, W, 3) N of them; (N, 1, H, W) and (N, H, W, 1) are N grey ones.
    """
    colour = len(shape) in (3, 4) and shape[-1] in (3, 4)
    if len(shape) == 4 and shape[1] == 1 and not colour:
        shape = (shape[0], *shape[2:])
    elif len(shape) == 4 and shape[-1] == 1:
        shape = shape[:-1]
    if 0 not in shape and (len(shape) == 2 or (colour and len(shape) == 3)):
        return 1, shape
    if 0 not in shape and len(shape) == 3 + colour:
        return shape[0], shape[1:]
    raise ImageError(
        f"{str(path)!r}: .npy has shape {shape}; expected (H, W), (N, H, W), (N, 1, H, W), "
        "or colour (H, W, 3|4) / (N, H, W, 3|4)"
    )


def iter_images(path: str | os.PathLike, chunk: int = LIMITS.engine_chunk) -> Iterator[ImageBatch]:
    """``load_images`` in chunks of at most ``chunk`` images, so memory does not grow with N."""
    path = Path(path)
    n = count_images(path)
    if path.suffix.lower() != NPY_SUFFIX:
        yield _batch([open_picture(path, ImageError)], str(path))
        return
    header = read_npy_header(path, ImageError)
    picture = _npy_layout(header.shape, path)[1]
    if len(picture) == len(header.shape):  # one picture: (H, W) or (H, W, C)
        yield _batch([read_npy_rows(path, header, 0, header.shape[0])], str(path))
        return
    for start, stop in iter_chunks(n, chunk):
        rows = read_npy_rows(path, header, start, stop)
        yield _batch(rows.reshape(len(rows), *picture), str(path))


def _batch(images, name: str) -> ImageBatch:
    prepared = [prepare_image(img, name) for img in images]
    return ImageBatch(
        np.stack([p for p, _ in prepared]).astype(np.float32),
        np.array([d for _, d in prepared], dtype=bool),
    )


def decode_image_bytes(data: bytes, name: str = "image") -> tuple[np.ndarray, bool]:
    """PNG/JPEG/... bytes (e.g. an uploaded canvas PNG) -> ``prepare_image``'s result; the
    pixel count is checked from the header before anything is decoded."""
    return prepare_image(open_picture(bytes(data), ImageError, name=name), name)


def prepare_image(image: Any, name: str = "image") -> tuple[np.ndarray, bool]:
    """One picture (PIL.Image, or array (H, W[, 1|2|3|4]) of uint8/uint16/float) to model input.

    Returns ``(pixels float32 (1, 32, 32) in [0, 1], has_digit)``; with no digit the pixels are
    zero. Raises ImageError for something that is not a picture.
    """
    channels, alpha = _channels(image, name)
    digit = find_digit(_apply_alpha(channels, alpha))
    if digit is None:
        return np.zeros((1, IMAGE_SIZE, IMAGE_SIZE), np.float32), False
    return digit[None], True


def _channels(image: Any, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(float32 (H, W, 1|3) scaled to [0, 1], alpha (H, W) in [0, 1] or None)."""
    if not isinstance(image, np.ndarray):
        image = _pil_array(image, name)
    arr = image[..., None] if image.ndim == 2 else image
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or min(arr.shape[:2]) < 2:
        raise ImageError(
            f"{name}: expected an image (H, W[, 1-4 channels]); got shape {image.shape}"
        )
    check_size(
        f"{name} pixels ({arr.shape[1]}x{arr.shape[0]})", arr.shape[0] * arr.shape[1],
        LIMITS.max_image_pixels, "max_image_pixels", "downscale the image", ImageError,
    )  # fmt: skip
    if arr.dtype.kind not in "biuf":
        raise ImageError(f"{name}: pixels of dtype {arr.dtype}; expected numbers")
    has_alpha = arr.shape[2] in (2, 4)
    colour, alpha = (arr[..., :-1], arr[..., -1]) if has_alpha else (arr, None)
    colour = _scaled(colour, name)
    if alpha is not None:
        alpha = _scaled(alpha, name, full_range_int=True)
    return colour, alpha


def _pil_array(img: Any, name: str) -> np.ndarray:
    from PIL import Image

    if not isinstance(img, Image.Image):
        raise ImageError(f"{name}: expected a PIL.Image or a numpy array; got {type(img).__name__}")
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return np.asarray(img.convert("I") if img.mode.startswith("I;16") else img)
    has_alpha = "A" in img.getbands() or "transparency" in img.info
    if img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if has_alpha else "RGB")
    return np.asarray(img)


def _scaled(arr: np.ndarray, name: str, full_range_int: bool = False) -> np.ndarray:
    if arr.dtype == np.uint8 or arr.dtype.kind == "b":
        return arr.astype(np.float32) / (255.0 if arr.dtype == np.uint8 else 1.0)
    out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise ImageError(f"{name}: contains NaN or infinite values")
    if full_range_int and arr.dtype.kind in "iu":
        return out / float(np.iinfo(arr.dtype).max)
    low, high = float(out.min()), float(out.max())
    if arr.dtype.kind == "f" and low >= 0.0 and high <= 1.0:
        return out
    # 16-bit, int and out-of-range float data: the range actually used is the full scale.
    return (out - low) / (high - low) if high > low else np.zeros_like(out)


def _apply_alpha(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Composite onto the paper opposite to the ink, so transparent pixels are background."""
    if alpha is None or alpha.min() > 0.99:
        return colour
    opaque = alpha > 0.5
    ink_luma = float(colour.mean(axis=2)[opaque].mean()) if opaque.any() else 0.0
    paper = 1.0 if ink_luma < 0.5 else 0.0
    return colour * alpha[..., None] + paper * (1.0 - alpha[..., None])
