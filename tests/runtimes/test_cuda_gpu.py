"""The CUDA paths on a real GPU: graph vs eager parity, chunked vs unchunked, a second device,
threads. Skipped (with the reason) where no CUDA runtime can run; scripts/gpu_check.sh fails
on any skip, so a GPU session runs all of these."""

import threading

import numpy as np
import pytest

from lenet_deploy.runtimes import available_runtimes, load_runtime

AVAILABILITY = {a.name: a for a in available_runtimes()}
CUDA_RUNTIMES = ["torch-cuda", "ort-cuda"]
SIZES = (1, 3, 64, 300, 1024)

pytestmark = pytest.mark.gpu


def model_for(name, exported_dir):
    if not AVAILABILITY[name]:
        pytest.skip(f"{name} unavailable here: {AVAILABILITY[name].reason}")
    return exported_dir


def device_count() -> int:
    torch = pytest.importorskip("torch")
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.parametrize("name", CUDA_RUNTIMES)
def test_graph_replay_matches_eager(name, exported_dir, digits):
    model = model_for(name, exported_dir)
    with (
        load_runtime(name, model, cuda_graphs=True) as graphs,
        load_runtime(name, model, cuda_graphs=False) as eager,
    ):
        assert graphs.info()["cuda_graphs"] is True and eager.info()["cuda_graphs"] is False
        for n in SIZES:
            x = np.resize(digits.x_test, (n, 1, 32, 32))
            want = eager.predict(x)
            # onnxruntime captures after a few plain runs: later calls are replays
            for _ in range(4):
                got = graphs.predict(x)
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
                assert (got.argmax(1) == want.argmax(1)).all()
            other = np.ascontiguousarray(x[::-1])  # new data through the same graph buffers
            np.testing.assert_allclose(graphs.predict(other), eager.predict(other), atol=1e-6)


@pytest.mark.parametrize("graphs", [False, True])
def test_overlapped_chunks_match_one_chunk_and_the_staged_api(exported_dir, digits, graphs):
    model = model_for("torch-cuda", exported_dir)
    x = np.resize(digits.x_test, (1000, 1, 32, 32))
    with (
        load_runtime("torch-cuda", model, overlap_chunk=64, cuda_graphs=graphs) as chunked,
        load_runtime("torch-cuda", model, overlap_chunk=1024, cuda_graphs=graphs) as whole,
        load_runtime("torch-cpu", model) as cpu,
    ):
        out = chunked.predict(x)
        # cuDNN may choose other kernels for 64 images than for 1000: equal to rounding
        np.testing.assert_allclose(out, whole.predict(x), rtol=1e-6, atol=1e-6)
        assert (out.argmax(1) == whole.predict(x).argmax(1)).all()
        np.testing.assert_allclose(out, cpu.predict(x), rtol=1e-4, atol=1e-5)
        staged = whole.download(whole.compute(whole.upload(x)))
        np.testing.assert_allclose(staged, whole.predict(x), rtol=1e-6, atol=1e-6)


def test_second_device_runs_and_times_on_its_own_streams(exported_dir, digits):
    model = model_for("torch-cuda", exported_dir)
    if device_count() < 2:
        pytest.skip("needs two CUDA devices (cuda:1)")
    import torch

    from lenet_deploy.bench.runner import BenchSettings, benchmark

    before = torch.cuda.current_device()
    x = digits.x_test[:256]
    with (
        load_runtime("torch-cuda", model, device_id=1) as gpu,
        load_runtime("torch-cpu", model) as cpu,
    ):
        np.testing.assert_allclose(gpu.predict(x), cpu.predict(x), rtol=1e-4, atol=1e-5)
        staged = gpu.upload(x)
        slot = staged.binding.slots[0]
        assert slot.stream.device == torch.device("cuda", 1) and slot.stream.query()
        gpu.compute(staged)
        assert slot.stream.query()  # finished on cuda:1 when compute returned
        gpu.download(staged)
        assert torch.cuda.current_device() == before  # the runtime never switched devices
        result = benchmark(
            [gpu], settings=BenchSettings(batch_sizes=(64,), warmup=2, iterations=6, rounds=2)
        )
    (m,) = result.measurements
    assert m.device == "cuda:1" and all(len(m.phases_ms[p]) == 6 for p in ("h2d", "compute", "d2h"))
    with load_runtime("ort-cuda", model_for("ort-cuda", exported_dir), device_id=1) as ort_gpu:
        np.testing.assert_allclose(ort_gpu.predict(x), cpu_logits(model, x), rtol=1e-4, atol=1e-5)


def cpu_logits(model, x):
    with load_runtime("ort-cpu", model) as cpu:
        return cpu.predict(x)


@pytest.mark.parametrize("graphs", [False, True])
@pytest.mark.parametrize("name", CUDA_RUNTIMES)
def test_threads_on_one_batch_size_get_their_own_logits(name, graphs, exported_dir, digits):
    model = model_for(name, exported_dir)
    inputs = [np.ascontiguousarray(np.roll(digits.x_test[:32], i, axis=0)) for i in range(8)]
    want = [cpu_logits(model, x) for x in inputs]
    failures = []
    start = threading.Barrier(len(inputs), timeout=60)
    with load_runtime(name, model, cuda_graphs=graphs) as gpu:

        def worker(i):
            start.wait()
            for _ in range(25):
                got = gpu.predict(inputs[i])
                if not np.allclose(got, want[i], rtol=1e-4, atol=1e-5):
                    failures.append(i)

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
        for t in pool:
            t.start()
        for t in pool:
            t.join(timeout=120)
    assert failures == []
