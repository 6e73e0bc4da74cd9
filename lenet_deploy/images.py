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
from pathlib import Path

import numpy as np

from .data import preprocess
from .errors import ImageError
from .spec import IMAGE_SIZE

NPY_SUFFIX = ".npy"


def load_images(path: str | os.PathLike) -> np.ndarray:
    """Model input (N, 1, 32, 32) float32 from one file; raises ImageError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{str(path)!r}: no such file")
    if path.suffix.lower() == NPY_SUFFIX:
        images = _read_npy(path)
    else:
        images = _read_picture(path)[None]
    return to_model_input(images, str(path))


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


def _read_picture(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            gray = img.convert("L")
    except UnidentifiedImageError:
        raise ImageError(
            f"{str(path)!r}: not an image Pillow can read (expected PNG, JPEG or .npy)"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{str(path)!r}: unreadable image ({exc})") from None
    return np.asarray(gray, dtype=np.float32) / 255.0


def _read_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ImageError(f"{str(path)!r}: not a readable .npy array ({exc})") from None
    if arr.dtype.kind not in "fiu":
        raise ImageError(f"{str(path)!r}: .npy has dtype {arr.dtype}; expected numbers")
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.float32) / 255.0
    elif arr.size and np.nanmax(arr) > 1.0:
        raise ImageError(
            f"{str(path)!r}: float pixels up to {float(np.nanmax(arr)):g}; "
            "expected [0, 1] (divide by 255, or save as uint8)"
        )
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ImageError(
            f"{str(path)!r}: .npy has shape {arr.shape}; expected (H, W), (N, H, W) or (N, 1, H, W)"
        )
    return arr.astype(np.float32)
