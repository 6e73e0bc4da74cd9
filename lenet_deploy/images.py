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

import io
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .errors import ImageError
from .spec import IMAGE_SIZE

RECIPE = (
    "MNIST recipe: background surface subtracted, polarity from the background, ink contrast "
    "normalised, crop to the digit, fit 20x20 keeping aspect (Lanczos), centre of mass at the "
    "centre of 28x28, zero-pad to 32x32; bright digit on black, float32 [0,1]"
)
NPY_SUFFIX = ".npy"
BOX, FRAME = 20, 28
WORK_SIDE = 256  # analysis resolution: digits smaller than ~1/10 of a photo stay >= 25 px
MAX_PIXELS = 64_000_000  # per image, before anything is allocated from it
MIN_SNR = 6.0  # ink level over noise; Gaussian or uniform noise alone stays below ~3
MIN_CONTRAST = 0.04  # of the full range: fainter marks are not a digit
SPECK_FRACTION = 0.08  # components lighter than this share of the largest are specks


class ImageBatch(NamedTuple):
    """Model input for a file: ``pixels`` float32 (N, 1, 32, 32) in [0, 1], ``has_digit`` (N,)."""

    pixels: np.ndarray
    has_digit: np.ndarray


def load_images(path: str | os.PathLike) -> ImageBatch:
    """Every image in a PNG/JPEG/... file or a ``.npy`` array, through the recipe."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{str(path)!r}: no such file")
    if path.suffix.lower() == NPY_SUFFIX:
        images = list(_read_npy(path))
    else:
        images = [_open_picture(path.read_bytes(), str(path))]
    prepared = [prepare_image(img, str(path)) for img in images]
    return ImageBatch(
        np.stack([p for p, _ in prepared]).astype(np.float32),
        np.array([d for _, d in prepared], dtype=bool),
    )


def decode_image_bytes(data: bytes, name: str = "image") -> tuple[np.ndarray, bool]:
    """PNG/JPEG/... bytes (e.g. an uploaded canvas PNG) -> ``prepare_image``'s result."""
    return prepare_image(_open_picture(data, name), name)


def prepare_image(image: Any, name: str = "image") -> tuple[np.ndarray, bool]:
    """One picture (PIL.Image, or array (H, W[, 1|2|3|4]) of uint8/uint16/float) to model input.

    Returns ``(pixels float32 (1, 32, 32) in [0, 1], has_digit)``; with no digit the pixels are
    zero. Raises ImageError for something that is not a picture.
    """
    channels, alpha = _channels(image, name)
    channels = _apply_alpha(channels, alpha)
    ink = _ink_map(_downscale(channels))
    if ink is None:
        return np.zeros((1, IMAGE_SIZE, IMAGE_SIZE), np.float32), False
    return _mnist_frame(ink)[None], True


def _open_picture(data: bytes, name: str):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            raise ImageError(f"{name}: {img.width}x{img.height} is too large for a digit picture")
        img.load()
    except UnidentifiedImageError:
        raise ImageError(
            f"{name}: not an image Pillow can read (expected PNG, JPEG or .npy)"
        ) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{name}: unreadable image ({exc})") from None
    return img


def _read_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        raise ImageError(f"{str(path)!r}: not a readable .npy array ({exc})") from None
    if arr.size > MAX_PIXELS:
        raise ImageError(f"{str(path)!r}: {arr.shape} is too large for digit images")
    if arr.dtype.kind not in "biuf":
        raise ImageError(f"{str(path)!r}: .npy has dtype {arr.dtype}; expected numbers")
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or 0 in arr.shape:
        raise ImageError(
            f"{str(path)!r}: .npy has shape {arr.shape}; expected (H, W), (N, H, W) or (N, 1, H, W)"
        )
    return np.asarray(arr)


def _channels(image: Any, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(float32 (H, W, 1|3) scaled to [0, 1], alpha (H, W) in [0, 1] or None)."""
    if not isinstance(image, np.ndarray):
        image = _pil_array(image, name)
    arr = image[..., None] if image.ndim == 2 else image
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or min(arr.shape[:2]) < 2:
        raise ImageError(
            f"{name}: expected an image (H, W[, 1-4 channels]); got shape {image.shape}"
        )
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise ImageError(f"{name}: {arr.shape[1]}x{arr.shape[0]} is too large for a digit picture")
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


def _downscale(colour: np.ndarray) -> np.ndarray:
    from PIL import Image

    h, w = colour.shape[:2]
    scale = WORK_SIDE / max(h, w)
    if scale >= 1:
        return colour
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    planes = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(colour[..., c]), mode="F").resize(
                size, Image.Resampling.BOX
            )
        )
        for c in range(colour.shape[2])
    ]
    return np.stack(planes, axis=2)


def _ink_map(colour: np.ndarray) -> np.ndarray | None:
    """Ink strength in [0, 1] per pixel (H, W), or None when the picture holds no digit."""
    if colour.shape[2] == 3 and np.ptp(colour, axis=2).max() < 1 / 255:
        colour = colour[..., :1]  # grey pixels stored as RGB
    luma = (
        colour.mean(axis=2) if colour.shape[2] == 1 else colour @ np.float32([0.299, 0.587, 0.114])
    )
    background, paper = _background(luma)
    residual = luma - background
    if colour.shape[2] == 3:
        tint = colour - np.stack([_background(colour[..., c])[0] for c in range(3)], axis=2)
        chroma = np.linalg.norm(tint - residual[..., None], axis=2)
    else:
        chroma = np.zeros_like(luma)
    sigma = max(1.4826 * float(np.median(np.abs(residual[paper]))), 1e-3) if paper.any() else 1e-3
    low, high = np.quantile(residual, [0.002, 0.998])
    sign = 1.0 if high > -low else -1.0
    ink = np.maximum(np.maximum(sign * residual, 0.0), chroma)
    level = _ink_level(ink)
    if level < MIN_CONTRAST or level < MIN_SNR * sigma:
        return None
    floor = min(3.0 * sigma, 0.5 * level)
    ink = np.clip((ink - floor) / (level - floor), 0.0, 1.0)
    return _drop_specks(ink)


def _background(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A smooth paper surface under ``plane`` and the mask of pixels that are paper."""
    h, w = plane.shape
    border = np.concatenate([plane[0], plane[-1], plane[:, 0], plane[:, -1]])
    if min(h, w) < 24:  # too small to model shading: flat paper at the border's level
        level = np.full_like(plane, np.median(border))
        return level, np.abs(plane - level) < 0.5 * np.abs(plane - level).max() + 1e-6
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = 2 * yy / (h - 1) - 1, 2 * xx / (w - 1) - 1
    basis = np.stack([np.ones_like(xx), xx, yy, xx * xx, xx * yy, yy * yy], axis=-1)
    step = max(1, int(np.sqrt(h * w / 4096)))
    b, v = basis[::step, ::step].reshape(-1, 6), plane[::step, ::step].ravel()
    # Least trimmed squares: refit on the 60% of pixels closest to the previous surface. Ink
    # (a minority, all on one side of the paper) drops out after the first rounds.
    keep = np.ones(len(v), bool)
    for _ in range(5):
        bk = b[keep]
        coef = np.linalg.solve(bk.T @ bk + 1e-6 * np.eye(6), bk.T @ v[keep])
        r = np.abs(v - b @ coef)
        keep = r <= np.quantile(r, 0.6)
    surface = basis @ coef
    spread = 1.4826 * np.median(np.abs(plane - surface)) + 1e-3
    return surface.astype(np.float32), np.abs(plane - surface) < 3 * spread


def _ink_level(ink: np.ndarray) -> float:
    """The ink's own strength: the top of a lightly blurred map, so lone noisy pixels don't set
    it (a 3x3 mean keeps a stroke's core and divides a single hot pixel by nine)."""
    p = np.pad(ink, 1, mode="edge")
    h, w = ink.shape
    blurred = sum(p[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0
    return float(np.quantile(blurred, 0.999))


def _drop_specks(ink: np.ndarray) -> np.ndarray | None:
    from scipy import ndimage

    labels, count = ndimage.label(ink > 0.25, structure=np.ones((3, 3)))
    if count == 0:
        return None
    mass = ndimage.sum(ink, labels, index=np.arange(1, count + 1))
    keep = np.flatnonzero(mass >= SPECK_FRACTION * mass.max()) + 1
    # The faint fringe of kept strokes stays; everything not touching them goes.
    grown = ndimage.binary_dilation(np.isin(labels, keep), iterations=2)
    out = np.where(grown, ink, 0.0).astype(np.float32)
    rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
    extent = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    if extent < max(3, 0.06 * min(ink.shape)):
        return None  # a dot, not a digit
    return out


def _mnist_frame(ink: np.ndarray) -> np.ndarray:
    """Crop, fit 20x20 (aspect kept), centre of mass at the centre of 28x28, pad to 32x32."""
    from PIL import Image

    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    fitted = np.asarray(
        Image.fromarray(np.ascontiguousarray(crop, np.float32), mode="F").resize(
            size, Image.Resampling.LANCZOS
        )
    )
    fitted = np.clip(fitted, 0.0, None)
    fitted = np.clip(fitted / max(float(fitted.max()), 1e-6), 0.0, 1.0)
    total = float(fitted.sum())
    yy, xx = np.indices(fitted.shape)
    cy, cx = float((yy * fitted).sum()) / total, float((xx * fitted).sum()) / total
    top = int(np.clip(round(FRAME / 2 - cy), 0, FRAME - fitted.shape[0]))
    left = int(np.clip(round(FRAME / 2 - cx), 0, FRAME - fitted.shape[1]))
    pad = (IMAGE_SIZE - FRAME) // 2
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    out[pad + top : pad + top + fitted.shape[0], pad + left : pad + left + fitted.shape[1]] = fitted
    return out
