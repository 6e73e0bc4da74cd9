"""One contract, every registered runtime (built-ins and the test plug-in from conftest)."""

import numpy as np
import pytest

from lenet_deploy.errors import RuntimeUnavailableError
from lenet_deploy.runtimes import available_runtimes, load_runtime, runtime_names

AVAILABILITY = {a.name: a for a in available_runtimes()}


@pytest.fixture(params=runtime_names())
def runtime(request, exported_dir):
    name = request.param
    if not AVAILABILITY[name]:
        pytest.skip(f"{name} unavailable here: {AVAILABILITY[name].reason}")
    # oip-http's model is a server: the same exported model, served for the session.
    model = request.getfixturevalue("served_url") if name == "oip-http" else exported_dir
    rt = load_runtime(name, model)
    yield rt
    rt.close()


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_shapes_and_dtype(runtime, digits, batch):
    out = runtime.predict(digits.x_test[:batch])
    assert isinstance(out, np.ndarray)
    assert out.shape == (batch, 10) and out.dtype == np.float32
    assert np.isfinite(out).all()


def test_identity(runtime):
    assert runtime.name in runtime_names()
    assert runtime.device.startswith("cuda") == ("cuda" in runtime.name)
    assert runtime.input_spec.shape == ("N", 1, 32, 32) and runtime.input_spec.dtype == "float32"
    assert runtime.info()["name"] == runtime.name


def test_agrees_with_torch_cpu(runtime, exported_dir, digits):
    with load_runtime("torch-cpu", exported_dir) as reference:
        want = reference.predict(digits.x_test)
    got = runtime.predict(digits.x_test)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
    assert (got.argmax(1) == want.argmax(1)).all()


def test_context_manager_closes(runtime, digits):
    with runtime as rt:
        rt.predict(digits.x_test[:2])
    with pytest.raises(Exception, match="after close"):
        runtime.predict(digits.x_test[:2])


def test_bad_input_is_a_value_error(runtime):
    with pytest.raises(ValueError, match=r"x\[None\]"):
        runtime.predict(np.zeros((1, 32, 32), np.float32))


@pytest.mark.parametrize("name", [n for n in runtime_names() if "cuda" in n])
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
        assert rt.device.startswith("cuda")
        if name == "ort-cuda":
            assert rt.providers[0] == "CUDAExecutionProvider"
        assert rt.predict(digits.x_test[:3]).shape == (3, 10)
