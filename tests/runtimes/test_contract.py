"""One contract, every registered runtime (built-ins, ov-cpu and the test plug-in)."""

import gc
import threading
import weakref

import numpy as np
import pytest

from lenet_deploy.errors import InputError, LenetDeployError, RuntimeUnavailableError
from lenet_deploy.runtimes import available_runtimes, get_entry, load_runtime, runtime_names
from lenet_deploy.verify.compare import compare

AVAILABILITY = {a.name: a for a in available_runtimes()}
#: Runtimes that start a browser take seconds to load: one instance serves the whole module
#: (loaded again after a test closes it), and their cases are slow.
SHARED = {"ort-web"}


@pytest.fixture(scope="module")
def shared_runtimes():
    opened = {}
    yield opened
    for rt in opened.values():
        rt.close()


@pytest.fixture(
    params=[pytest.param(n, marks=pytest.mark.slow) if n in SHARED else n for n in runtime_names()]
)
def runtime(request, exported_dir, shared_runtimes):
    name = request.param
    if not AVAILABILITY[name]:
        pytest.skip(f"{name} unavailable here: {AVAILABILITY[name].reason}")
    if name in SHARED:
        rt = shared_runtimes.get(name)
        if rt is None or "(closed)" in repr(rt):
            rt = shared_runtimes[name] = load_runtime(name, exported_dir)
        yield rt
        return
    # oip-http's model is a server: the same exported model, served for the session.
    model = request.getfixturevalue("served_url") if name == "oip-http" else exported_dir
    rt = load_runtime(name, model)
    yield rt
    rt.close()


def test_contract_covers_every_builtin():
    builtins = {"torch-cpu", "torch-cuda", "ort-cpu", "ort-cuda", "ov-cpu", "oip-http", "ort-web"}
    assert builtins <= set(runtime_names())


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 3, 64])
def test_shapes_and_dtype(runtime, digits, batch):
    out = runtime.predict(digits.x_test[:batch])
    assert isinstance(out, np.ndarray)
    assert out.shape == (batch, 10) and out.dtype == np.float32
    assert np.isfinite(out).all()


def test_identity_comes_from_the_registry(runtime):
    entry = get_entry(runtime.name)
    assert runtime.device.startswith(entry.device)
    assert runtime.input_spec.shape == ("N", 1, 32, 32) and runtime.input_spec.dtype == "float32"
    assert runtime.info()["name"] == runtime.name and runtime.precision == "fp32"


@pytest.mark.slow
def test_agrees_with_torch_cpu_by_the_fp32_policy(runtime, exported_dir, digits):
    with load_runtime("torch-cpu", exported_dir) as reference:
        want = reference.predict(digits.x_test)
    result = compare(runtime.predict(digits.x_test), want, "fp32", labels=digits.y_test)
    assert result, result.failures
    assert result.top1_agreement == 1.0 and result.accuracy == result.reference_accuracy


@pytest.mark.slow
def test_large_batch_equals_its_pieces(runtime, digits):
    """Batches beyond the adapter's chunk size give the rows the small batches give."""
    x = np.resize(digits.x_test, (1100, 1, 32, 32)).astype(np.float32)
    whole = runtime.predict(x)
    pieces = np.concatenate([runtime.predict(x[i : i + 100]) for i in range(0, 1100, 100)])
    np.testing.assert_allclose(whole, pieces, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_batch_sizes_in_any_order_give_each_batch_its_rows(runtime, digits):
    """Engines that keep per-size buffers between calls must not mix up sizes."""
    x = digits.x_test[:20]
    want = runtime.predict(x)
    for n in (1, 5, 1, 20, 3, 5, 1):
        np.testing.assert_allclose(runtime.predict(x[:n]), want[:n], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_threads_sharing_a_runtime_get_their_own_rows(runtime, digits):
    """Several threads predicting at once (as a server's workers or an app's do), each with
    different images of the same batch size, get exactly their own logits back."""
    x = digits.x_test[:64]
    want = runtime.predict(x)
    starts = range(0, 64, 4)
    errors = []

    def worker(start):
        try:
            for _ in range(15):
                got = runtime.predict(x[start : start + 4])
                if not np.allclose(got, want[start : start + 4], rtol=1e-5, atol=1e-6):
                    errors.append(f"rows of another thread at {start}")
        except Exception as exc:  # e.g. an engine refusing a request busy in another thread
            errors.append(f"{type(exc).__name__} at {start}: {exc}")

    threads = [threading.Thread(target=worker, args=(s,)) for s in starts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]


@pytest.mark.slow
def test_a_result_is_not_overwritten_by_the_next_call(runtime, digits):
    """Engines reuse output buffers per batch size; what predict returned stays the caller's."""
    first = runtime.predict(digits.x_test[:3])
    kept = first.copy()
    runtime.predict(digits.x_test[3:6])
    np.testing.assert_array_equal(first, kept)


@pytest.mark.slow
def test_a_callers_array_is_not_kept_alive(runtime):
    """Engines read batches in place; none may pin a caller's (possibly huge) array after
    predict returns, through a view of it or the array itself."""
    big = np.zeros((300, 1, 32, 32), np.float32)
    alive = weakref.ref(big)
    runtime.predict(big[:8])  # a view
    runtime.predict(big)  # whole, or in chunk views of it
    del big
    gc.collect()
    assert alive() is None


@pytest.mark.slow
def test_staged_phases_give_the_predict_result(runtime, digits):
    x = digits.x_test[:5]
    staged = runtime.download(runtime.compute(runtime.upload(x)))
    np.testing.assert_allclose(staged, runtime.predict(x), rtol=1e-6, atol=1e-6)
    with pytest.raises(InputError, match="NaN/inf"):
        runtime.upload(np.full((1, 1, 32, 32), np.nan, np.float32))


@pytest.mark.slow
def test_context_manager_closes(runtime, digits):
    with runtime as rt:
        rt.predict(digits.x_test[:2])
    with pytest.raises(LenetDeployError, match="after close"):
        runtime.predict(digits.x_test[:2])


def test_bad_input_is_refused_before_the_engine(runtime):
    with pytest.raises(InputError, match=r"x\[None\]"):
        runtime.predict(np.zeros((1, 32, 32), np.float32))
    bad = np.zeros((2, 1, 32, 32), np.float32)
    bad[1, 0, 3, 3] = np.inf
    with pytest.raises(InputError, match="1 NaN/inf value"):
        runtime.predict(bad)


@pytest.mark.parametrize("name", [n for n in runtime_names() if get_entry(n).device == "cuda"])
def test_gpu_runtimes_refuse_or_really_use_the_gpu(name, exported_dir, digits):
    """Never CPU results from a CUDA runtime: it either refuses with the reason, or runs there."""
    try:
        rt = load_runtime(name, exported_dir)
    except RuntimeUnavailableError as exc:
        message = str(exc)
        assert message.startswith(f"{name}:")
        assert "-cpu" in message  # names the fix / alternative
        assert not AVAILABILITY[name]
        return
    with rt:
        assert rt.device.startswith("cuda") and rt.timed_phases
        if name == "ort-cuda":
            assert rt.providers[0] == "CUDAExecutionProvider"
        assert rt.predict(digits.x_test[:3]).shape == (3, 10)
