"""Fuzzed parsers: any bytes give a result or the reader's own one-line error, nothing else.

Mutations start from valid files (IDX, .npy, checkpoint zip, PNG) so the fuzz reaches past
the magic numbers into the headers and bodies.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lenet_deploy.data.datasets import read_idx
from lenet_deploy.errors import CheckpointError, DataError, ImageError, LenetDeployError
from lenet_deploy.images.recipe import load_images

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        if buf:
            buf[pos % len(buf)] = value
    return bytes(buf[:cut] if cut is not None else buf)


edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6)
cuts = st.one_of(st.none(), st.integers(0, 400))


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _write(folder: Path, suffix: str, data: bytes) -> Path:
    path = folder / f"f{suffix}"
    path.write_bytes(data)
    return path


_IDX = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (4).to_bytes(4, "big") * 2 + bytes(32)


@pytest.mark.slow
@FUZZ
@given(edits=edits, cut=cuts, gz=st.booleans())
def test_idx_reader(fuzz_dir, edits, cut, gz):
    data = _mutate(gzip.compress(_IDX) if gz else _IDX, edits, cut)
    path = _write(fuzz_dir, ".gz" if gz else "", data)
    try:
        arr = read_idx(path)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    assert arr.dtype == np.uint8 and arr.size <= 10_000


def _npy_bytes() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28))
    return buf.getvalue()


@FUZZ
@given(edits=edits, cut=cuts)
@example(edits=[(8, 1)], cut=None)  # header length 1: numpy raised tokenize.TokenError
def test_npy_reader(fuzz_dir, edits, cut):
    # Edits land mostly in the header (the first 128 bytes): that is the parser under test.
    data = _mutate(_npy_bytes(), [(p % 128, v) for p, v in edits], cut)
    path = _write(fuzz_dir, ".npy", data)
    try:
        x = load_images(path)
    except ImageError as exc:
        assert "\n" not in str(exc)
        return
    px = x.pixels
    assert px.dtype == np.float32 and px.shape[1:] == (1, 32, 32) and np.isfinite(px).all()
    assert x.has_digit.shape == (len(px),) and not px[~x.has_digit].any()


@pytest.fixture(scope="module")
def checkpoint_bytes(trained_dir) -> bytes:
    return (trained_dir / "lenet.pt").read_bytes()


@pytest.mark.slow
@FUZZ
@given(edits=edits, cut=st.one_of(st.none(), st.integers(0, 300_000)))
def test_checkpoint_reader(fuzz_dir, checkpoint_bytes, edits, cut):
    from lenet_deploy.model.lenet import load_checkpoint

    path = _write(fuzz_dir, ".pt", _mutate(checkpoint_bytes, edits, cut))
    try:
        model, _ = load_checkpoint(path)
    except LenetDeployError as exc:  # CheckpointError, or ModelError for a flipped weight
        assert "\n" not in str(exc)
        return
    assert all(bool(p.isfinite().all()) for p in model.state_dict().values())


def _png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.eye(16, dtype=np.uint8) * 255).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.slow
@FUZZ
@given(edits=edits, cut=st.one_of(st.none(), st.integers(0, 120)))
def test_picture_reader(fuzz_dir, edits, cut):
    path = _write(fuzz_dir, ".png", _mutate(_png_bytes(), edits, cut))
    try:
        x = load_images(path)
    except ImageError as exc:
        assert "\n" not in str(exc)
        return
    assert x.pixels.shape == (1, 1, 32, 32) and np.isfinite(x.pixels).all()
    assert x.has_digit.shape == (1,)


def test_checkpoint_error_type_is_the_documented_one(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a zip at all")
    from lenet_deploy.model.lenet import load_checkpoint

    with pytest.raises(CheckpointError, match="not a zip archive"):
        load_checkpoint(path)
