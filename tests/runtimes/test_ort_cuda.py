"""ort-cuda's bindings and CUDA-graph settings, checked without a GPU (fakes for the session)."""

import threading
import types

import numpy as np
import onnxruntime
import pytest

from lenet_deploy.errors import OptionsError
from lenet_deploy.runtimes import load_runtime, ort_loader
from lenet_deploy.runtimes.options import parse_options
from lenet_deploy.runtimes.ort_cuda import MAX_GRAPHS, SKIP_GRAPH, OrtCudaBindings
from lenet_deploy.runtimes.pytorch import TorchCudaOptions


class FakeRunOptions:
    def __init__(self):
        self.entries = {}

    def add_run_config_entry(self, key, value):
        self.entries[key] = value


class FakeIoBinding:
    def __init__(self):
        self.bound = {}

    def bind_ortvalue_input(self, name, value):
        self.bound[name] = value

    def bind_ortvalue_output(self, name, value):
        self.bound[name] = value


def fake_ort():
    allocations = []

    def ortvalue_from_shape_and_type(shape, dtype, device, device_id):
        allocations.append((tuple(shape), device, device_id))
        return types.SimpleNamespace(shape=tuple(shape))

    ort = types.SimpleNamespace(
        OrtValue=types.SimpleNamespace(ortvalue_from_shape_and_type=ortvalue_from_shape_and_type),
        RunOptions=FakeRunOptions,
    )
    return ort, allocations, types.SimpleNamespace(io_binding=FakeIoBinding)


def test_graph_bindings_get_their_own_ids_then_sizes_run_without_a_graph():
    ort, allocations, session = fake_ort()
    bindings = OrtCudaBindings(ort, session, 1, graphs=True)
    first = [bindings.get(n) for n in range(1, MAX_GRAPHS + 1)]
    assert [b.graph_id for b in first] == list(range(MAX_GRAPHS))
    assert [b.run_options.entries["gpu_graph_id"] for b in first[:2]] == ["0", "1"]
    extra = bindings.get(MAX_GRAPHS + 1)  # graphs are full: onnxruntime keeps each for good
    assert extra.graph_id == SKIP_GRAPH and extra.run_options.entries == {"gpu_graph_id": "-1"}
    assert bindings.get(3) is first[2]  # a graph's buffers never change
    sizes = bindings.sizes()
    assert sorted(sizes["graphs"]) == list(range(1, MAX_GRAPHS + 1))
    assert sizes["eager"] == [MAX_GRAPHS + 1]
    assert allocations[:2] == [((1, 1, 32, 32), "cuda", 1), ((1, 10), "cuda", 1)]
    assert set(first[0].io.bound) == {"image", "logits"}
    assert isinstance(bindings.run_lock, type(threading.Lock()))  # runs serialised with graphs


def test_without_graphs_no_run_option_and_no_lock():
    ort, _, session = fake_ort()
    bindings = OrtCudaBindings(ort, session, 0, graphs=False)
    binding = bindings.get(4)
    assert binding.run_options is None and binding.graph_id == SKIP_GRAPH
    assert bindings.sizes() == {"graphs": [], "eager": [4]}
    bindings.clear()
    assert bindings.sizes() == {"graphs": [], "eager": []}


def test_each_thread_gets_its_own_buffers_for_a_batch_size():
    ort, _, session = fake_ort()
    bindings = OrtCudaBindings(ort, session, 0, graphs=True)
    got = []
    barrier = threading.Barrier(4, timeout=10)

    def worker():
        barrier.wait()
        got.append(bindings.get(8))

    pool = [threading.Thread(target=worker) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=10)
    assert len({id(b.device_in) for b in got}) == 4
    assert sorted(b.graph_id for b in got) == [0, 1, 2, 3]


class CudaSession:
    """Records how the session was asked for; reports the CUDA provider as active."""

    created = []

    def __init__(self, path, options, providers, **kwargs):
        CudaSession.created.append(providers)

    def disable_fallback(self):
        pass

    def get_providers(self):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize("graphs", [False, True])
def test_cuda_graphs_option_reaches_the_cuda_provider(exported_dir, monkeypatch, graphs):
    monkeypatch.setattr(onnxruntime, "InferenceSession", CudaSession)
    monkeypatch.setattr(ort_loader, "check_signature", lambda *args: None)
    CudaSession.created.clear()
    rt = load_runtime("ort-cuda", exported_dir, cuda_graphs=graphs, device_id=1)
    ((name, cuda_options), _) = CudaSession.created[0]
    assert name == "CUDAExecutionProvider"
    assert cuda_options["enable_cuda_graph"] == int(graphs) and cuda_options["device_id"] == 1
    assert rt._bindings.graphs is graphs and rt.device == "cuda:1" and rt.timed_phases


@pytest.mark.parametrize(
    "runtime,options_type",
    [
        ("ort-cuda", ort_loader.OrtCudaOptions),
        ("torch-cuda", TorchCudaOptions),
    ],
)
def test_cuda_graphs_is_an_off_by_default_bool_option(runtime, options_type):
    assert options_type().cuda_graphs is False
    assert parse_options(runtime, options_type, {"cuda_graphs": "true"}, from_text=True).cuda_graphs
    with pytest.raises(OptionsError, match="option cuda_graphs must be bool"):
        parse_options(runtime, options_type, {"cuda_graphs": 1})
    with pytest.raises(OptionsError, match="unknown option 'cuda_graph'"):
        parse_options(runtime, options_type, {"cuda_graph": True})


def test_overlap_chunk_must_be_positive():
    assert TorchCudaOptions().overlap_chunk == 256
    with pytest.raises(OptionsError, match="overlap_chunk must be >= 1"):
        parse_options("torch-cuda", TorchCudaOptions, {"overlap_chunk": 0})


class DeviceValue:
    """An OrtValue "on the device": copies in and out are explicit, as with IO binding."""

    def __init__(self, shape):
        self.a = np.full(shape, np.nan, np.float32)

    def update_inplace(self, x):
        np.copyto(self.a, x)

    def numpy(self):
        return self.a.copy()


class DeviceIoBinding(FakeIoBinding):
    def __init__(self):
        super().__init__()
        self.synced = []

    def synchronize_inputs(self):
        self.synced.append("inputs")

    def synchronize_outputs(self):
        self.synced.append("outputs")


class RunningCudaSession(CudaSession):
    """A CUDA session whose runs compute ``2 * x[:, :10]`` from the bound device input."""

    runs = []

    def io_binding(self):
        return DeviceIoBinding()

    def get_session_options(self):
        return types.SimpleNamespace(intra_op_num_threads=0, graph_optimization_level="ALL")

    def run_with_iobinding(self, io, run_options=None):
        RunningCudaSession.runs.append(run_options)
        x = io.bound["image"].a
        if np.isnan(x).any():
            raise RuntimeError("input read before it was copied")
        io.bound["logits"].a[:] = 2 * x.reshape(len(x), -1)[:, :10]


def test_ort_cuda_runtime_runs_through_device_bindings(exported_dir, monkeypatch):
    from lenet_deploy.runtimes.ort import OrtCudaRuntime

    monkeypatch.setattr(onnxruntime, "InferenceSession", RunningCudaSession)
    monkeypatch.setattr(ort_loader, "check_signature", lambda *args: None)
    monkeypatch.setattr(
        onnxruntime,
        "OrtValue",
        types.SimpleNamespace(ortvalue_from_shape_and_type=lambda s, *a: DeviceValue(s)),
    )
    monkeypatch.setattr(onnxruntime, "RunOptions", FakeRunOptions)
    x = np.random.default_rng(0).random((3, 1, 32, 32), dtype=np.float32)
    want = 2 * x.reshape(3, -1)[:, :10]
    with load_runtime("ort-cuda", exported_dir, cuda_graphs=True) as rt:
        assert type(rt) is OrtCudaRuntime and rt.timed_phases and rt.chunk_size > 256
        np.testing.assert_array_equal(rt.predict(x), want)
        staged = rt.upload(x)  # the buffers predict used: one binding per batch size
        assert staged.io.synced == ["inputs", "outputs"]
        np.testing.assert_array_equal(rt.download(rt.compute(staged)), want)
        assert staged.io.synced == ["inputs", "outputs"] * 2
        assert RunningCudaSession.runs[-1].entries == {"gpu_graph_id": "0"}
        info = rt.info()
        assert info["cuda_graphs"] is True and info["small_batch_threads"] is None
        assert rt.threads_for(1) == info["threads"]
        bindings = rt._bindings
    assert bindings.sizes() == {"graphs": [], "eager": []}  # close released the buffers
