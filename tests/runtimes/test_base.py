import numpy as np
import pytest

from lenet_deploy.errors import InputError, LenetDeployError
from lenet_deploy.runtimes.base import Runtime, validate_batch


def test_float32_contiguous_passes_through_without_copy():
    x = np.zeros((2, 1, 32, 32), np.float32)
    assert validate_batch(x) is x


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_float_dtypes_are_converted(dtype):
    out = validate_batch(np.ones((3, 1, 32, 32), dtype))
    assert out.dtype == np.float32 and out.shape == (3, 1, 32, 32) and out.max() == 1


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.uint16])
def test_integer_pixels_are_refused_with_the_fix(dtype):
    with pytest.raises(InputError, match=r"integer pixels.*/ 255"):
        validate_batch(np.full((2, 1, 32, 32), 200, dtype))


@pytest.mark.parametrize(
    "value,fragment", [(255.0, "divide by 255"), (1.5, "divide by 255"), (-0.2, "rescale")]
)
def test_floats_outside_0_1_are_refused_everywhere(value, fragment):
    x = np.zeros((2, 1, 32, 32), np.float32)
    x[1, 0, 5, 5] = value  # one pixel is enough: the hot path is checked too
    with pytest.raises(InputError, match=fragment):
        validate_batch(x)
    with pytest.raises(InputError, match=fragment):
        Echo().predict(x)
    x[1, 0, 5, 5] = 1.0005  # resampling overshoot within the tolerance passes
    assert validate_batch(x) is x


def test_non_contiguous_is_made_contiguous():
    big = np.random.default_rng(0).random((2, 1, 32, 64), dtype=np.float32)
    view = big[..., ::2]
    out = validate_batch(view)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, view)


def test_nested_lists_work():
    assert validate_batch(np.zeros((1, 1, 32, 32)).tolist()).shape == (1, 1, 32, 32)


@pytest.mark.parametrize(
    "x,fragment",
    [
        (np.zeros((1, 32, 32), np.float32), "x[None]"),
        (np.zeros((32, 32), np.float32), "x[None, None]"),
        (np.zeros((5, 32, 32), np.float32), "x[:, None]"),
        (np.zeros((2, 3, 32, 32), np.float32), "3 channels"),
        (np.zeros((2, 32, 32, 1), np.float32), "channels-last"),
        (np.zeros((2, 1, 28, 28), np.float32), "28x28 images, pad them to 32x32"),
        (np.zeros((2, 1, 16, 16), np.float32), "got shape (2, 1, 16, 16)"),
        (np.zeros((0, 1, 32, 32), np.float32), "empty batch"),
        (np.array(["a", "b"]), "dtype <U1"),
        ("an image", "dtype <U8"),
        (np.zeros((1, 1, 32, 32), bool), "dtype bool"),
        (np.zeros((1, 1, 32, 32), complex), "dtype complex128"),
        ([[1, 2], [3]], "unconvertible list"),
    ],
)
def test_bad_inputs_name_expected_and_given(x, fragment):
    with pytest.raises(InputError) as err:
        validate_batch(x)
    message = str(err.value)
    assert fragment in message
    assert "(N, 1, 32, 32)" in message or "finite" in message
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(bad):
    x = np.zeros((2, 1, 32, 32), np.float32)
    x[1, 0, 5, 7] = bad
    with pytest.raises(InputError, match="1 NaN/inf value"):
        validate_batch(x)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 1023, 2047])
def test_non_finite_values_are_refused_on_the_hot_path(bad, where):
    # 0 and 1 present as well: a NaN must not hide behind a valid min or max
    x = np.zeros((2, 1, 32, 32), np.float32)
    x[0, 0, 9, 9] = 1.0
    x.reshape(-1)[where] = bad
    rt = Echo()
    with pytest.raises(InputError, match="1 NaN/inf value"):
        rt.predict(x)
    assert rt.calls == []


def test_huge_finite_values_are_not_mistaken_for_inf():
    x = np.full((1, 1, 32, 32), 3e30, np.float32)  # the sum of squares overflows
    with pytest.raises(InputError, match="pixels in") as err:
        validate_batch(x)
    assert "NaN" not in str(err.value)


class Echo(Runtime):
    name = "echo"

    def __init__(self):
        self.calls = []
        self.closed_count = 0

    def _predict(self, x):
        self.calls.append(x)
        return np.tile(np.arange(10, dtype=np.float32), (len(x), 1))

    def _close(self):
        self.closed_count += 1


def test_predict_validates_once_then_calls_adapter():
    rt = Echo()
    with pytest.raises(InputError):
        rt.predict(np.zeros((1, 32, 32)))
    assert rt.calls == []
    rt.predict(np.zeros((2, 1, 32, 32), np.float64))
    assert rt.calls[0].dtype == np.float32


def test_probabilities_and_labels():
    rt = Echo()
    probs = rt.predict_proba(np.zeros((3, 1, 32, 32), np.float32))
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-6)
    assert (rt.predict_labels(np.zeros((3, 1, 32, 32), np.float32)) == 9).all()


def test_close_is_idempotent_and_blocks_predict():
    with Echo() as rt:
        pass
    rt.close()
    assert rt.closed_count == 1
    with pytest.raises(LenetDeployError, match="after close"):
        rt.predict(np.zeros((1, 1, 32, 32), np.float32))


class Rows(Runtime):
    """Logit 0 holds the batch row's first pixel: chunking must keep rows in order."""

    chunk_size = 4

    def __init__(self):
        self.sizes = []

    def _predict(self, x):
        self.sizes.append(len(x))
        out = np.zeros((len(x), 10), np.float32)
        out[:, 0] = x[:, 0, 0, 0]
        return out


def test_batches_beyond_chunk_size_run_in_order_preserving_pieces():
    rt = Rows()
    x = np.zeros((10, 1, 32, 32), np.float32)
    x[:, 0, 0, 0] = np.arange(10) / 10
    out = rt.predict(x)
    assert rt.sizes == [4, 4, 2]
    np.testing.assert_array_equal(out[:, 0], x[:, 0, 0, 0])
    rt.predict(x[:4])
    assert rt.sizes[-1] == 4


def test_default_phases_validate_then_predict():
    rt = Rows()
    staged = rt.upload(np.zeros((2, 1, 32, 32), np.float64))
    assert staged.dtype == np.float32 and not rt.timed_phases
    assert rt.download(rt.compute(staged)).shape == (2, 10)
    with pytest.raises(InputError, match="NaN/inf"):
        rt.upload(np.full((1, 1, 32, 32), np.nan))


def test_upload_of_a_validated_batch_skips_the_check_and_stages_it():
    class Staging(Rows):
        def _upload(self, x):
            self.staged = x
            return x

    rt = Staging()
    x = validate_batch(np.zeros((3, 1, 32, 32), np.float32))
    assert rt.upload(x, validated=True) is x and rt.staged is x  # no copy, no second check
    bad = np.full((1, 1, 32, 32), 7.0, np.float32)
    assert rt.upload(bad, validated=True) is bad  # the caller vouched for it: not re-read
    with pytest.raises(InputError, match="divide by 255"):
        rt.upload(bad)
    rt.close()
    for call in (lambda: rt.upload(x, validated=True), lambda: rt.compute(x)):
        with pytest.raises(LenetDeployError, match="after close"):
            call()


def test_an_adapter_chunk_size_is_capped_at_the_engine_chunk():
    from lenet_deploy.limits import LIMITS

    class Greedy(Rows):
        chunk_size = 10**9  # asks for one engine call whatever N is

    rt = Greedy()
    x = np.zeros((LIMITS.engine_chunk + 3, 1, 32, 32), np.float32)
    x[:, 0, 0, 0] = np.linspace(0, 1, len(x))
    out = rt.predict(x)
    assert rt.sizes == [LIMITS.engine_chunk, 3]
    np.testing.assert_array_equal(out[:, 0], x[:, 0, 0, 0])


def test_every_chunk_is_checked_against_the_output_contract():
    from lenet_deploy.errors import ModelError

    class LateNaN(Rows):
        def _predict(self, x):
            out = super()._predict(x)
            if len(self.sizes) == 2:  # only the second piece is broken
                out[0, 1] = np.nan
            return out

    with pytest.raises(ModelError, match="non-finite"):
        LateNaN().predict(np.zeros((10, 1, 32, 32), np.float32))


class _Fixed(Runtime):
    """Returns a preset logits array, to probe the output check on both of its paths."""

    chunk_size = 10**9

    def __init__(self, out):
        self.out = out

    def _predict(self, x):
        return self.out


@pytest.mark.parametrize("n", [1, 4, 5, 64])  # a Python sum up to _FEW rows, BLAS beyond
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_one_non_finite_logit_is_refused_at_any_batch_size(n, bad):
    from lenet_deploy.errors import ModelError

    out = np.zeros((n, 10), np.float32)
    out[n - 1, 9] = bad
    with pytest.raises(ModelError, match="non-finite"):
        _Fixed(out).predict(np.zeros((n, 1, 32, 32), np.float32))


@pytest.mark.parametrize("n", [1, 4, 5, 64])
def test_huge_finite_logits_pass_the_output_check(n):
    out = np.full((n, 10), np.finfo(np.float32).max, np.float32)
    assert _Fixed(out).predict(np.zeros((n, 1, 32, 32), np.float32)) is out
