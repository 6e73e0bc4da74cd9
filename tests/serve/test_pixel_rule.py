"""The server accepts exactly the pixels ``Runtime.predict`` accepts: one rule
(``spec.pixels_in_range``, ``spec.PIXEL_TOLERANCE``), called by the codec and the runtimes."""

import numpy as np
import pytest

from lenet_deploy.bench.loadtest import encode_body
from lenet_deploy.errors import InputError
from lenet_deploy.runtimes.validation import validate_batch
from lenet_deploy.serve.codec import InferError, decode_request
from lenet_deploy.spec import PIXEL_TOLERANCE

EDGES = [
    0.0,
    1.0,
    1.0005,  # resampling overshoot: accepted by both
    -0.0005,
    1.0 + PIXEL_TOLERANCE,
    -PIXEL_TOLERANCE,
    np.nextafter(np.float32(1.0 + PIXEL_TOLERANCE), np.float32(2)),
    np.nextafter(np.float32(-PIXEL_TOLERANCE), np.float32(-1)),
    1.002,
    -0.01,
    255.0,
    np.nan,
    np.inf,
    -np.inf,
]


def _library_accepts(x: np.ndarray) -> bool:
    try:
        validate_batch(x)
    except InputError:
        return False
    return True


def _server_accepts(x: np.ndarray, binary: bool) -> bool:
    body, header = encode_body(x, binary)
    try:
        np.testing.assert_array_equal(decode_request(body, header).x, x)
    except InferError as exc:
        assert exc.status == 400 and "pixels in [0, 1]" in str(exc)
        return False
    return True


# JSON has no NaN/inf literals (its reader refuses them itself): those go as binary only.
CASES = [(v, b) for v in EDGES for b in (True, False) if b or np.isfinite(v)]


@pytest.mark.parametrize("value, binary", CASES, ids=repr)
def test_codec_and_runtime_accept_the_same_pixels(value, binary):
    x = np.full((2, 1, 32, 32), 0.5, np.float32)
    x[1, 0, 3, 4] = value
    assert _server_accepts(x, binary) == _library_accepts(x)


def test_the_tolerance_is_the_library_s():
    x = np.full((1, 1, 32, 32), 1.0005, np.float32)
    assert _server_accepts(x, binary=True) and _library_accepts(x)
    x[0, 0, 0, 0] = 1.002
    assert not _server_accepts(x, binary=True) and not _library_accepts(x)
