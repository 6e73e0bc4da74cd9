"""torch-cuda's staging, chunk overlap and graph logic, on a fake torch whose device work runs
only when waited for (tests/runtimes/fake_cuda.py); the real GPU cases are in test_gpu.py."""

import threading

import numpy as np
import pytest
from fake_cuda import Model, logits_of, pinned_allocations, torch

from lenet_deploy.runtimes.torch_cuda import WARMUP_RUNS, CudaEngine


def engine(chunk: int, graphs: bool) -> tuple[CudaEngine, Model]:
    """An engine on cuda:1 while the fake's current device is cuda:0: work queued without
    switching to the runtime's own device fails."""
    model = Model()
    return CudaEngine(torch, model, "cuda:1", graphs=graphs, chunk=chunk), model


def batch(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 32, 32), dtype=np.float32)


@pytest.mark.parametrize("graphs", [False, True])
@pytest.mark.parametrize("n", [1, 4, 5, 11, 16])
def test_chunked_runs_equal_the_unchunked_run(n, graphs):
    x = batch(n)
    chunked, _ = engine(4, graphs)
    whole, _ = engine(64, graphs)
    out = chunked.predict(x)
    np.testing.assert_array_equal(out, whole.predict(x))
    np.testing.assert_array_equal(out, logits_of(x))
    again = chunked.predict(batch(n, seed=1))  # the buffers are reused: nothing stale
    np.testing.assert_array_equal(again, logits_of(batch(n, seed=1)))


def test_every_chunk_replays_a_graph_the_remainder_padded():
    gpu, model = engine(4, graphs=True)
    x = batch(10)  # chunks of 4, 4 and 2 on slots 0, 1, 0
    np.testing.assert_array_equal(gpu.predict(x), logits_of(x))
    slots = gpu._cache.get(4).slots
    assert len(slots) == 2 and [s.graph.replays for s in slots] == [2, 1]
    captured = 2 * (WARMUP_RUNS + 1)  # per slot: warm-up runs and the capture
    assert model.calls == captured
    gpu.predict(x)
    assert [s.graph.replays for s in slots] == [4, 2] and model.calls == captured


@pytest.mark.parametrize("graphs", [False, True])
def test_batch_sizes_share_power_of_two_bindings(graphs):
    gpu, _ = engine(16, graphs)
    for n in (3, 4, 1, 9, 12, 16, 2):
        x = batch(n, seed=n)
        np.testing.assert_array_equal(gpu.predict(x), logits_of(x))
    assert sorted(gpu._cache.sizes()) == [1, 2, 4, 16]
    x = batch(3, seed=99)  # a smaller batch after a larger one: stale padding rows ignored
    np.testing.assert_array_equal(gpu.predict(x), logits_of(x))


def test_without_graphs_every_chunk_runs_eagerly():
    gpu, model = engine(4, graphs=False)
    gpu.predict(batch(10))
    assert model.calls == 3 and all(s.graph is None for s in gpu._cache.get(4).slots)


def test_host_staging_is_pinned():
    pinned_allocations.clear()
    gpu, _ = engine(8, graphs=False)
    gpu.predict(batch(8))
    # two slots, each with a pinned input and a pinned output buffer
    assert sorted(pinned_allocations) == [(8, 1, 32, 32)] * 2 + [(8, 10)] * 2


@pytest.mark.parametrize("graphs", [False, True])
def test_each_staged_phase_has_finished_when_it_returns(graphs):
    gpu, _ = engine(4, graphs)
    x = batch(6)  # larger than the chunk: the staged API takes it whole
    staged = gpu.upload(x)
    slot = staged.binding.slots[0]
    assert slot.stream.ops == [] and np.array_equal(slot.device_in.a, x)
    gpu.compute(staged)
    assert slot.stream.ops == [] and not np.isnan(staged.result.a).any()
    np.testing.assert_array_equal(gpu.download(staged), logits_of(x))


def test_threads_predicting_the_same_batch_size_get_their_own_logits():
    gpu, _ = engine(4, graphs=True)
    failures = []
    started = threading.Barrier(6, timeout=30)  # all alive at once: no thread id is reused

    def worker(seed: int) -> None:
        started.wait()
        for i in range(20):
            x = batch(10, seed=100 * seed + i)
            if not np.array_equal(gpu.predict(x), logits_of(x)):
                failures.append(seed)

    pool = [threading.Thread(target=worker, args=(s,)) for s in range(6)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert failures == [] and len(gpu._cache) == 6  # one binding per thread


def test_close_releases_every_binding():
    gpu, _ = engine(4, graphs=False)
    gpu.predict(batch(3))  # a binding of 4 images
    gpu.download(gpu.compute(gpu.upload(batch(6))))  # the staged API binds exactly 6
    assert sorted(gpu._cache.sizes()) == [4, 6]
    gpu.close()
    assert len(gpu._cache) == 0


@pytest.fixture
def fake_torch_cuda(monkeypatch, tmp_path):
    """``load_runtime("torch-cuda", ...)`` on the fake CUDA torch: the runtime class itself,
    its options, staging and close, without a GPU."""
    from fake_cuda import runtime_torch

    from lenet_deploy.runtimes import pytorch

    fake = runtime_torch()
    model = Model()
    monkeypatch.setattr(pytorch, "import_torch", lambda: fake)
    monkeypatch.setattr(pytorch, "cuda_unavailable_reason", lambda device_id=0: None)
    monkeypatch.setattr(pytorch, "load_model", lambda path: (model, {"dataset": "fake"}))
    (tmp_path / "lenet.pt").write_bytes(b"not read: load_model is the fake's")
    return fake, model, tmp_path


@pytest.mark.parametrize("graphs", [False, True])
def test_torch_cuda_runtime_runs_its_engine_on_its_device(fake_torch_cuda, graphs):
    from lenet_deploy.runtimes import load_runtime
    from lenet_deploy.runtimes.pytorch import TorchCudaRuntime

    fake, model, folder = fake_torch_cuda
    options = dict(device_id=1, cuda_graphs=graphs, overlap_chunk=4, allow_tf32=False)
    with load_runtime("torch-cuda", folder, threads=2, **options) as rt:
        assert type(rt) is TorchCudaRuntime and rt.timed_phases and rt.device == "cuda:1"
        assert fake.backends.cuda.matmul.allow_tf32 is False and fake.get_num_threads() == 2
        x = batch(10)  # three chunks on two streams, on cuda:1 while cuda:0 is current
        np.testing.assert_array_equal(rt.predict(x), logits_of(x))
        staged = rt.upload(batch(6))
        np.testing.assert_array_equal(rt.download(rt.compute(staged)), logits_of(batch(6)))
        rt.synchronize()
        info = rt.info()
        assert info["gpu"] == "Fake GPU cuda:1" and info["tf32"] is False
        assert info["cuda_graphs"] is graphs and info["overlap_chunk"] == 4
        assert info["engine"] == "torch" and info["threads"] == 2
    assert ("synchronize", "cuda:1") in fake.calls and fake.calls[-1] == ("empty_cache",)
    # the process-wide switches are as they were before the runtime opened
    assert fake.backends.cuda.matmul.allow_tf32 is True and fake.backends.cudnn.allow_tf32
    assert fake.get_num_threads() == 4
    with pytest.raises(Exception, match="after close"):
        rt.compute(staged)


def test_torch_cuda_runtime_refuses_with_the_reason(fake_torch_cuda, monkeypatch):
    from lenet_deploy.errors import RuntimeUnavailableError
    from lenet_deploy.runtimes import load_runtime, pytorch

    fake, _, folder = fake_torch_cuda
    monkeypatch.setattr(pytorch, "cuda_unavailable_reason", lambda device_id=0: "no GPU here")
    with pytest.raises(RuntimeUnavailableError, match="^torch-cuda: no GPU here$"):
        load_runtime("torch-cuda", folder)
    assert fake.backends.cuda.matmul.allow_tf32 is True  # nothing was switched
