"""Datasets and the one preprocessing function every stage uses.

Datasets are named by a spec string:

* ``digits`` (default): scikit-learn's bundled handwritten digits (1,797 images, 8x8, values
  0..16). A copy ships in ``lenet_deploy/_data``; nothing is downloaded. Split into train/test
  with a fixed, stratified split (``DIGITS_TEST_FRACTION`` held out, seed ``DIGITS_SPLIT_SEED``).
* ``mnist:DIR``: the four standard MNIST IDX files in DIR (raw or ``.gz``), as torchvision
  stores them.

Preprocessing (:func:`preprocess`) is the documented method that brings any grayscale image to
the model's input: scale to [0, 1], resize to 28x28 (bilinear, Pillow), then zero-pad 2 pixels on
every side to 32x32 -- what LeNet-5 did with MNIST's 28x28 digits. MNIST images are already
28x28, so for them only the padding applies. This module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bounded import CORRUPT_STREAM, BoundedGzip, require_regular_file
from .errors import DataError
from .limits import LIMITS, check_size
from .spec import IMAGE_SIZE

DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.25
INNER_SIZE = 28
PAD = (IMAGE_SIZE - INNER_SIZE) // 2

# IDX: magic = 0x00 0x00 <type> <ndim>; type 0x08 = unsigned byte.
_IDX_UBYTE = 0x08
_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class Dataset:
    """Preprocessed images (float32, (N, 1, 32, 32), [0, 1]) and int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    split_seed: int | None
    description: str


def preprocess(images: np.ndarray, max_value: float = 255.0) -> np.ndarray:
    """Bring grayscale images (N, H, W) with values in [0, max_value] to the model's input.

    Returns float32 (N, 1, 32, 32) in [0, 1]: scaled, resized to 28x28 with Pillow's bilinear
    filter (antialiased when shrinking) unless already 28x28, then zero-padded to 32x32.
    Bright strokes on a dark background are expected; see ``images.load_image`` for files.
    """
    arr = np.asarray(images)
    if arr.ndim != 3 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise DataError(f"preprocess expects grayscale images (N, H, W); got shape {arr.shape}")
    scaled = np.clip(arr.astype(np.float32) / np.float32(max_value), 0.0, 1.0)
    if scaled.shape[1:] != (INNER_SIZE, INNER_SIZE):
        scaled = (
            np.stack([_resize(img, INNER_SIZE) for img in scaled])
            if len(scaled)
            else (np.zeros((0, INNER_SIZE, INNER_SIZE), np.float32))
        )
    out = np.zeros((len(scaled), 1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    out[:, 0, PAD : PAD + INNER_SIZE, PAD : PAD + INNER_SIZE] = np.clip(scaled, 0.0, 1.0)
    return out


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    resized = Image.fromarray(np.ascontiguousarray(img, dtype=np.float32), mode="F").resize(
        (size, size), Image.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.float32)


def load_dataset(spec: str = "digits") -> Dataset:
    """Load a dataset by spec: ``digits`` or ``mnist:DIR``. Raises DataError with the fix."""
    if spec == "digits":
        return _load_digits()
    if spec.startswith("mnist:"):
        return load_mnist(spec[len("mnist:") :])
    raise DataError(
        f"unknown dataset {spec!r}; use 'digits' or 'mnist:DIR' (a folder of IDX files)"
    )


def _load_digits() -> Dataset:
    images, labels = load_digits_arrays()
    idx_train, idx_test = stratified_split(labels, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)
    x = preprocess(images, max_value=16.0)
    return Dataset(
        name="digits",
        x_train=x[idx_train],
        y_train=labels[idx_train],
        x_test=x[idx_test],
        y_test=labels[idx_test],
        split_seed=DIGITS_SPLIT_SEED,
        description=(
            f"scikit-learn digits, 8x8 -> 28x28 bilinear -> pad 32x32; stratified "
            f"{1 - DIGITS_TEST_FRACTION:.0%}/{DIGITS_TEST_FRACTION:.0%} split, "
            f"seed {DIGITS_SPLIT_SEED}"
        ),
    )


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (images (1797, 8, 8) float 0..16, labels int64).

    Reads the copy of scikit-learn's ``digits.csv.gz`` bundled in ``lenet_deploy/_data`` (so a
    deploy install needs no scikit-learn), else the one inside scikit-learn, without importing
    scikit-learn, which would cost about a second; falls back to ``load_digits()``.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    roots = (spec.submodule_search_locations or []) if spec else []
    candidates = [Path(__file__).parent / "_data" / "digits.csv.gz"]
    candidates += [Path(root) / "datasets" / "data" / "digits.csv.gz" for root in roots]
    for csv in candidates:
        if csv.is_file():
            table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
            return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            "the digits dataset needs scikit-learn; install it with 'pip install scikit-learn'"
        ) from None
    bunch = load_digits()
    return bunch.images.astype(np.float64), bunch.target.astype(np.int64)


def stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): each class contributes ``round(test_fraction * count)`` to test,
    chosen by ``np.random.default_rng(seed)``; both index arrays are sorted."""
    rng = np.random.default_rng(seed)
    test = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        test.append(rng.permutation(members)[: int(round(test_fraction * len(members)))])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


def load_mnist(directory: str | os.PathLike) -> Dataset:
    """Load MNIST from the four standard IDX files (raw or .gz) in ``directory``."""
    folder = Path(directory)
    if not str(directory):
        raise DataError("mnist: needs a folder, e.g. --data mnist:~/data/MNIST/raw")
    if not folder.is_dir():
        raise DataError(
            f"MNIST folder {str(folder)!r} does not exist; pass --data mnist:DIR with the four "
            "IDX files (train-images-idx3-ubyte, ... raw or .gz)"
        )
    parts = {}
    for key, stem in _MNIST_FILES.items():
        path = _find_idx(folder, stem)
        parts[key] = read_idx(path, ndim=3 if key.endswith("images") else 1)
    for split in ("train", "test"):
        images, labels = parts[f"{split}_images"], parts[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(
                f"MNIST {split} split: {len(images)} images but {len(labels)} labels in "
                f"{str(folder)!r}; the files do not belong together"
            )
        if images.shape[1:] != (INNER_SIZE, INNER_SIZE):
            raise DataError(
                f"MNIST {split} images are {images.shape[1]}x{images.shape[2]}; expected 28x28"
            )
        if len(labels) and labels.max() > 9:
            raise DataError(
                f"MNIST {split} labels contain {int(labels.max())}; expected digits 0..9"
            )
    return Dataset(
        name=f"mnist:{folder}",
        x_train=preprocess(parts["train_images"]),
        y_train=parts["train_labels"].astype(np.int64),
        x_test=preprocess(parts["test_images"]),
        y_test=parts["test_labels"].astype(np.int64),
        split_seed=None,
        description="MNIST IDX, 28x28 padded to 32x32; the standard train/test files",
    )


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"MNIST file {stem}[.gz] not found in {str(folder)!r}")


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
