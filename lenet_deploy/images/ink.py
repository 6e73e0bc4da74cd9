"""Steps 2-5 of the image recipe (see ``images``): find the digit's ink on its paper and
frame it as MNIST did. Works on float32 (H, W, 1|3) pictures already scaled to [0, 1].
Imports neither torch nor onnxruntime."""

from __future__ import annotations

import numpy as np

from ..spec import IMAGE_SIZE

BOX, FRAME = 20, 28
WORK_SIDE = 256  # analysis resolution: digits smaller than ~1/10 of a photo stay >= 25 px
MIN_SNR = 6.0  # ink level over noise; Gaussian or uniform noise alone stays below ~3
MIN_CONTRAST = 0.04  # of the full range: fainter marks are not a digit
SPECK_FRACTION = 0.08  # components lighter than this share of the largest are specks
SIGMA_FLOOR = 1e-3  # noise level assumed for perfectly clean paper (a canvas)
LEVEL_QUANTILE = 0.999  # the ink's level: this quantile of the 3x3-blurred ink map
STROKE = 0.25  # ink above this (after normalising) makes the connected strokes
FRINGE = 2  # steps of dilation around kept strokes whose faint ink stays
MIN_EXTENT, MIN_EXTENT_FRACTION = 3, 0.06  # a digit spans at least this (px, of the short side)
#: The constants a port of steps 3-5 needs (the page's JavaScript reads them from /v1/info).
RECIPE_GEOMETRY = {
    "work_side": WORK_SIDE, "box": BOX, "frame": FRAME, "size": IMAGE_SIZE,
    "min_contrast": MIN_CONTRAST, "min_snr": MIN_SNR, "sigma_floor": SIGMA_FLOOR,
    "level_quantile": LEVEL_QUANTILE, "stroke": STROKE, "speck_fraction": SPECK_FRACTION,
    "fringe": FRINGE, "min_extent": MIN_EXTENT, "min_extent_fraction": MIN_EXTENT_FRACTION,
}  # fmt: skip


def find_digit(colour: np.ndarray) -> np.ndarray | None:
    """The digit framed as float32 (32, 32) in [0, 1], or None when there is no digit."""
    ink = _ink_map(_downscale(colour))
    return None if ink is None else _mnist_frame(ink)


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
    sigma = float(np.median(np.abs(residual[paper]))) * 1.4826 if paper.any() else 0.0
    sigma = max(sigma, SIGMA_FLOOR)
    # Polarity: the side whose strokes are stronger. Tail quantiles would miss a small thin
    # digit (a "1" can be under 0.2% of the picture); the blurred top ignores lone pixels.
    bright, dark = _ink_level(np.maximum(residual, 0)), _ink_level(np.maximum(-residual, 0))
    sign = 1.0 if bright > dark else -1.0
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
    return float(np.quantile(blurred, LEVEL_QUANTILE))


def _drop_specks(ink: np.ndarray) -> np.ndarray | None:
    from scipy import ndimage

    labels, count = ndimage.label(ink > STROKE, structure=np.ones((3, 3)))
    if count == 0:
        return None
    mass = ndimage.sum(ink, labels, index=np.arange(1, count + 1))
    keep = np.flatnonzero(mass >= SPECK_FRACTION * mass.max()) + 1
    # The faint fringe of kept strokes stays; everything not touching them goes.
    grown = ndimage.binary_dilation(np.isin(labels, keep), iterations=FRINGE)
    out = np.where(grown, ink, 0.0).astype(np.float32)
    rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
    extent = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    if extent < max(MIN_EXTENT, MIN_EXTENT_FRACTION * min(ink.shape)):
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
