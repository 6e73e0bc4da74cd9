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
