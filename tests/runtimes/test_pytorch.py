import sys

import numpy as np
import pytest
import torch

from lenet_deploy.errors import CheckpointError, OptionsError, RuntimeUnavailableError
from lenet_deploy.model.lenet import load_checkpoint
from lenet_deploy.runtimes import load_runtime
from lenet_deploy.runtimes.pytorch import cuda_unavailable_reason


@pytest.mark.slow
def test_torch_cpu_matches_the_checkpoint(trained_dir, digits):
    model, _ = load_checkpoint(trained_dir / "lenet.pt")
    with torch.inference_mode():
        want = model(torch.from_numpy(digits.x_test[:9])).numpy()
    with load_runtime("torch-cpu", trained_dir / "lenet.pt") as rt:
        np.testing.assert_array_equal(rt.predict(digits.x_test[:9]), want)
        assert rt.info()["engine"] == "torch"


@pytest.mark.slow
def test_thread_option_is_restored_on_close(trained_dir):
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    with load_runtime("torch-cpu", trained_dir, threads=wanted) as rt:
        assert rt.info()["threads"] == wanted and torch.get_num_threads() == wanted
    assert torch.get_num_threads() == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_torch_cuda_refuses_without_gpu(trained_dir):
    with pytest.raises(RuntimeUnavailableError) as err:
        load_runtime("torch-cuda", trained_dir)
    assert str(err.value).startswith("torch-cuda: ")
    assert str(err.value) == f"torch-cuda: {cuda_unavailable_reason(0)}"
    assert "use torch-cpu" in str(err.value)


def test_cpu_runtime_has_no_device_option(trained_dir):
    with pytest.raises(OptionsError, match="torch-cpu: unknown option 'device_id'"):
        load_runtime("torch-cpu", trained_dir, device_id=0)


def test_pt_that_is_not_a_lenet_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "lenet.pt")
    with pytest.raises(CheckpointError, match="not a LeNet"):
        load_runtime("torch-cpu", tmp_path)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a LeNet checkpoint"):
        load_runtime("torch-cpu", tmp_path / "list.pt")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_cuda_matches_cpu_with_tf32_off(trained_dir, digits):
    with (
        load_runtime("torch-cpu", trained_dir) as cpu,
        load_runtime("torch-cuda", trained_dir) as gpu,
    ):
        assert torch.backends.cuda.matmul.allow_tf32 is False
        np.testing.assert_allclose(
            gpu.predict(digits.x_test), cpu.predict(digits.x_test), atol=1e-5, rtol=1e-4
        )


def test_without_torch_both_runtimes_name_the_train_extra(trained_dir, monkeypatch):
    from lenet_deploy.runtimes import available_runtimes

    monkeypatch.setitem(sys.modules, "torch", None)  # as if not installed
    rows = {a.name: a for a in available_runtimes()}
    for name in ("torch-cpu", "torch-cuda"):
        assert not rows[name]
        assert rows[name].reason == (
            f"{name} needs torch, which is not installed: pip install 'lenet-deploy[train]'"
        )
    with pytest.raises(RuntimeUnavailableError, match=r"torch-cpu needs torch.*\[train\]"):
        load_runtime("torch-cpu", trained_dir)
    assert rows["ort-cpu"]
