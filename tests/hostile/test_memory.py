"""Class 1: memory follows what is real and bounded, not what a file claims."""

from __future__ import annotations

import gzip
import struct
import zipfile
import zlib

import numpy as np
import pytest
from helpers_hostile import cli_code, error_line, run_inproc, run_measured

from lenet_deploy.errors import CheckpointError, DataError, ImageError
from lenet_deploy.images.recipe import load_images
from lenet_deploy.limits import LIMITS
from lenet_deploy.model.lenet import load_checkpoint


def _zip_with_lying_member(path, declared: int, inflated: int) -> None:
    """A torch-like zip whose data member declares ``declared`` bytes and inflates to
    ``inflated`` (deflate of zeros: a few KB on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, bytes(inflated))
        info.file_size = declared  # the central directory (what readers trust) now lies


@pytest.mark.slow
def test_zip_bomb_checkpoint_declared_size_is_refused_in_bounded_memory(tmp_path):
    bomb = tmp_path / "bomb.pt"
    _zip_with_lying_member(bomb, declared=0xF000_0000, inflated=1 << 20)  # claims 3.75 GiB
    with pytest.raises(CheckpointError, match="max_checkpoint_member_bytes"):
        load_checkpoint(bomb)
    proc, peak = run_measured(
        cli_code("export", "--checkpoint", str(bomb), "--out", str(tmp_path / "m.onnx"))
    )
    assert proc.returncode == 2 and "max_checkpoint_member_bytes" in error_line(proc)
    _, baseline = run_measured("import torch, onnx, lenet_deploy.model.lenet, lenet_deploy.cli")
    assert peak - baseline < 100, (peak, baseline)
    assert not (tmp_path / "m.onnx").exists()


def test_checkpoint_member_inflating_past_its_declared_size_is_refused(tmp_path):
    bomb = tmp_path / "liar.pt"
    _zip_with_lying_member(bomb, declared=1000, inflated=32 << 20)
    with pytest.raises(CheckpointError, match="not a loadable checkpoint"):
        load_checkpoint(bomb)


def test_oversized_checkpoint_file_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.pt"
    with open(big, "wb") as fh:
        fh.truncate(LIMITS.max_checkpoint_bytes + 1)  # sparse: costs no disk
    with pytest.raises(CheckpointError, match="max_checkpoint_bytes"):
        load_checkpoint(big)


def _idx_header(count: int, *dims: int) -> bytes:
    return bytes([0, 0, 8, 1 + len(dims)]) + struct.pack(f">{1 + len(dims)}I", count, *dims)


@pytest.mark.slow
def test_gzip_bomb_mnist_stays_bounded(tmp_path):
    """The header claims a real MNIST size; the stream inflates to far more. Reading stops at
    the claim plus one byte, and the file is refused."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    claimed = 60_000
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb", compresslevel=1) as fh:
        fh.write(_idx_header(claimed, 28, 28))
        for _ in range(8):  # 8 x 64 MiB of zeros: 512 MiB inflated, ~0.5 MiB on disk
            fh.write(bytes(64 << 20))
    code = (
        "from lenet_deploy.data.datasets import read_idx\n"
        "from lenet_deploy.errors import DataError\n"
        "try:\n"
        f"    read_idx({str(folder / 'train-images-idx3-ubyte.gz')!r}, ndim=3)\n"
        "except DataError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    proc, peak = run_measured(code)
    assert "REFUSED" in proc.stdout and "trailing bytes" in proc.stdout, proc.stdout + proc.stderr
    _, baseline = run_measured("import lenet_deploy.data.datasets")
    assert peak - baseline < 200, (peak, baseline)  # the claimed 47 MB, not the 512 MB


@pytest.mark.parametrize("count", [2**31, LIMITS.max_dataset_images + 1])
def test_idx_header_over_the_limit_is_refused_before_reading(tmp_path, count):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(_idx_header(count, 28, 28))
    from lenet_deploy.data.datasets import read_idx

    with pytest.raises(DataError, match="max_dataset_images"):
        read_idx(path, ndim=3)


def _npy_with_header(path, shape, dtype="|u1", data: bytes = b"") -> None:
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": dtype, "fortran_order": False, "shape": shape}
        )
        fh.write(data)


def test_npy_header_claiming_2_31_images_is_one_line(capsys, tmp_path):
    path = tmp_path / "huge.npy"
    _npy_with_header(path, (2**31, 28, 28))
    with pytest.raises(ImageError, match="max_npy_bytes"):
        load_images(path)
    proc = run_inproc(capsys, "predict", str(path), "--model", str(tmp_path))
    assert proc.returncode == 2 and "max_npy_bytes" in error_line(proc)


def test_npy_over_max_images_is_refused(tmp_path):
    path = tmp_path / "many.npy"
    n = LIMITS.max_images + 1
    _npy_with_header(path, (n, 2, 2), data=bytes(n * 4))
    with pytest.raises(ImageError, match="max_images"):
        load_images(path)


def test_truncated_npy_is_refused_from_its_header(tmp_path):
    path = tmp_path / "short.npy"
    _npy_with_header(path, (10, 28, 28), data=bytes(100))
    with pytest.raises(ImageError, match="truncated"):
        load_images(path)


def _png_header_only(path, width: int, height: int) -> None:
    """A PNG signature and IHDR claiming width x height, no pixel data: Pillow reads the size
    from it, so a reader that decodes before checking would try to allocate the claim."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [30_000, 5_000])  # over Pillow's bomb limit; over ours only
def test_huge_png_is_one_line(tmp_path, side):
    path = tmp_path / "huge.png"
    _png_header_only(path, side, side)
    with pytest.raises(ImageError, match="max_image_pixels"):
        load_images(path)


def test_huge_png_via_cli_is_one_line(capsys, tmp_path):
    path = tmp_path / "huge.png"
    _png_header_only(path, 30_000, 30_000)
    proc = run_inproc(capsys, "predict", str(path), "--model", str(tmp_path))
    assert proc.returncode == 2 and "max_image_pixels" in error_line(proc)


def test_bench_batch_size_over_the_cap_is_refused(capsys, exported_dir):
    proc = run_inproc(capsys, "bench", "--model", str(exported_dir), "--batch-sizes", "1000000")
    assert proc.returncode == 2 and "max_bench_batch" in error_line(proc)


def test_api_batches_reach_the_engine_in_bounded_chunks():
    from lenet_deploy.runtimes import Runtime

    class Recorder(Runtime):
        name = "recorder"
        seen: list[int] = []

        def _predict(self, x):
            self.seen.append(len(x))
            return np.repeat(x.reshape(len(x), -1)[:, :10], 1, axis=1).copy()

    n = 2 * LIMITS.engine_chunk + 5
    x = np.random.default_rng(0).random((n, 1, 32, 32), dtype=np.float32)
    rt = Recorder()
    out = rt.predict(x)
    assert max(rt.seen) <= LIMITS.engine_chunk and sum(rt.seen) == n
    np.testing.assert_array_equal(out, x.reshape(n, -1)[:, :10])


@pytest.mark.slow
def test_predict_memory_does_not_grow_with_the_number_of_images(tmp_path, exported_dir):
    """predict over 15,000 images peaks within a few MB of predict over 5,000: the file is read,
    preprocessed and run in chunks, and text output is streamed."""
    rng = np.random.default_rng(0)
    peaks = {}
    for n in (5_000, 15_000):
        path = tmp_path / f"{n}.npy"
        # 16x16 noise: the recipe's cheap path (flat paper), and each image still becomes a
        # 32x32 float32 model input, so memory that grew with N would show
        np.save(path, rng.integers(0, 255, (n, 16, 16), dtype=np.uint8))
        code = cli_code("predict", str(path), "--model", str(exported_dir)).replace(
            "import sys", "import os, sys\nsys.stdout = open(os.devnull, 'w')"
        )
        proc, peaks[n] = run_measured(code, timeout=300)
        # noise holds no digit: every image is answered "no digit", which exits 1 (EXIT_FAILED)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert peaks[15_000] - peaks[5_000] < 40, peaks
