"""ort_loader: no silent fallback, node placement, threads by batch size."""

from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime
import pytest

from lenet_deploy.errors import ArtifactError, RuntimeUnavailableError
from lenet_deploy.runtimes import load_runtime, ort_loader
from lenet_deploy.runtimes.ort_loader import CPU, CUDA, compute_nodes_off

TRT = "TensorrtExecutionProvider"


def test_a_provider_that_throws_is_reported_not_printed(exported_dir, capfd):
    """onnxruntime prints an "EP Error ... Falling back" banner to stdout and retries on the CPU
    when a provider throws while the session is built; the loader turns that off."""
    if TRT not in onnxruntime.get_available_providers():
        pytest.skip(f"this onnxruntime {onnxruntime.__version__} build lists no {TRT}")
    path = exported_dir / "lenet.onnx"
    options = onnxruntime.SessionOptions()
    try:
        onnxruntime.InferenceSession(str(path), options, providers=[TRT, CUDA, CPU])
    except Exception:  # only the banner matters here
        pass
    if "Falling back" not in capfd.readouterr().out:
        pytest.skip(f"{TRT} starts here")
    with pytest.raises(RuntimeUnavailableError) as err:
        ort_loader._create(onnxruntime, "ort-trt", path, options, [TRT, CPU])
    message = str(err.value)
    assert message.startswith(f"ort-trt: {TRT} failed to start: ") and "\n" not in message
    assert "TensorRT" in message.removeprefix(f"ort-trt: {TRT}")  # onnxruntime's own reason
    assert "[ONNXRuntimeError]" not in message and ".cc:" not in message
    assert capfd.readouterr().out == ""


def test_fallbacks_are_disabled_for_every_session(exported_dir, monkeypatch):
    made = []

    class Recording(onnxruntime.InferenceSession):
        def __init__(self, *args, **kwargs):
            made.append(kwargs.get("enable_fallback"))
            super().__init__(*args, **kwargs)

        def disable_fallback(self):
            made.append("run fallback off")
            super().disable_fallback()

    monkeypatch.setattr(onnxruntime, "InferenceSession", Recording)
    with load_runtime("ort-cpu", exported_dir, threads=1):
        pass
    assert made == [0, "run fallback off"]


def test_a_broken_model_is_still_an_artifact_error_under_cuda(tmp_path):
    path = tmp_path / "lenet.onnx"
    path.write_bytes(b"\x08\x07garbage" * 10)
    options = onnxruntime.SessionOptions()
    with pytest.raises(ArtifactError, match="not a loadable ONNX model"):
        ort_loader._create(onnxruntime, "ort-cuda", path, options, [(CUDA, {}), CPU])


def test_placement_of_a_real_cpu_session(exported_dir):
    with load_runtime("ort-cpu", exported_dir, threads=1) as rt:
        placement = rt.placement
        assert rt.info()["placement"] == placement
    exported = {node.op_type for node in onnx.load(exported_dir / "lenet.onnx").graph.node}
    assert {p["provider"] for p in placement} == {CPU}
    assert {"Conv", "Gemm"} <= {p["op"] for p in placement} <= exported | {"FusedConv"}
    assert len({p["node"] for p in placement}) == len(placement) >= 5
    assert compute_nodes_off(placement, CPU) == []
    # the same session judged as a CUDA one: every compute node is named
    off = compute_nodes_off(placement, CUDA)
    assert len(off) == len(placement) and any(n.startswith("Conv ") for n in off)
    assert all(n.endswith(f" on {CPU}") for n in off)


def test_only_compute_nodes_off_the_device_are_named():
    placement = [
        {"node": "shape", "op": "Shape", "provider": CPU},
        {"node": "gather", "op": "Gather", "provider": CPU},
        {"node": "conv", "op": "Conv", "provider": CUDA},
        {"node": "fc1", "op": "Gemm", "provider": CPU},
        {"node": "relu", "op": "Relu", "provider": "OtherExecutionProvider"},
    ]
    assert compute_nodes_off(placement, CUDA) == [
        f"Gemm fc1 on {CPU}",
        "Relu relu on OtherExecutionProvider",
    ]
    assert compute_nodes_off(placement[:3], CUDA) == []


def test_placement_unknown_when_onnxruntime_cannot_tell():
    assert ort_loader.graph_placement(SimpleNamespace()) is None

    def fail():
        raise RuntimeError("record_ep_graph_assignment_info must be set")

    session = SimpleNamespace(get_provider_graph_assignment_info=fail)
    assert ort_loader.graph_placement(session) is None


class HalfOnCuda:
    """A CUDA session whose fully connected layer landed on the CPU."""

    def __init__(self, *args, **kwargs):
        pass

    def disable_fallback(self):
        pass

    def get_providers(self):
        return [CUDA, CPU]

    def get_provider_graph_assignment_info(self):
        def subgraph(ep, nodes):
            made = [SimpleNamespace(name=n, op_type=op) for n, op in nodes]
            return SimpleNamespace(ep_name=ep, get_nodes=lambda: made)

        return [
            subgraph(CUDA, [("conv", "Conv"), ("relu", "Relu")]),
            subgraph(CPU, [("shape", "Shape"), ("fc1", "Gemm")]),
        ]


def test_ort_cuda_refuses_compute_nodes_on_the_cpu(exported_dir, monkeypatch):
    monkeypatch.setattr(onnxruntime, "InferenceSession", HalfOnCuda)
    with pytest.raises(RuntimeUnavailableError) as err:
        load_runtime("ort-cuda", exported_dir)
    message = str(err.value)
    assert message.startswith("ort-cuda: 1 compute node(s) of ")
    assert f"Gemm fc1 on {CPU}" in message and "Shape" not in message
    assert message.endswith("or use ort-cpu")


@pytest.fixture
def four_cpus(monkeypatch):
    monkeypatch.setattr(ort_loader, "usable_cpus", lambda: 4)


def spy_runs(monkeypatch, session, calls, label):
    real = session.run_with_iobinding
    monkeypatch.setattr(session, "run_with_iobinding", lambda *a: calls.append(label) or real(*a))


@pytest.mark.slow
def test_small_batches_run_on_a_two_thread_session(exported_dir, digits, four_cpus, monkeypatch):
    x = digits.x_test[:40]
    with load_runtime("ort-cpu", exported_dir) as rt:
        small = rt._small
        assert small.get_session_options().intra_op_num_threads == 2
        assert ort_loader.SMALL_BATCH == 8  # the batch sizes below straddle it
        assert rt.info()["small_batch_threads"] == {"up_to_batch": 8, "threads": 2}
        assert [rt.threads_for(b) for b in (1, 8, 9, 256)] == [2, 2, "default", "default"]
        calls = []
        spy_runs(monkeypatch, small, calls, "small")
        spy_runs(monkeypatch, rt._session, calls, "pool")
        outputs = {b: rt.predict(x[:b]) for b in (1, 8, 9, 40)}
        assert calls == ["small", "small", "pool", "pool"]
    # results do not depend on the session that served them
    with load_runtime("ort-cpu", exported_dir, small_batch=0) as one:
        assert one._small is None and one.threads_for(1) == "default"
        for b, out in outputs.items():
            np.testing.assert_array_equal(out, one.predict(x[:b]))


def test_threads_option_overrides_the_small_batch_session(exported_dir, four_cpus):
    with load_runtime("ort-cpu", exported_dir, threads=3) as rt:
        assert rt._small is None and rt.info()["small_batch_threads"] is None
        assert [rt.threads_for(b) for b in (1, 64)] == [3, 3]


def test_small_batch_session_needs_more_cpus_than_it_uses(exported_dir, monkeypatch):
    monkeypatch.setattr(ort_loader, "usable_cpus", lambda: 2)
    with load_runtime("ort-cpu", exported_dir) as rt:
        assert rt._small is None and rt.threads_for(1) == "default"


def test_small_batch_option_is_checked(exported_dir):
    from lenet_deploy.errors import OptionsError

    with pytest.raises(OptionsError, match="small_batch must be >= 0"):
        load_runtime("ort-cpu", exported_dir, small_batch=-1)
    with pytest.raises(OptionsError, match="unknown option 'small_batch'"):
        load_runtime("ort-cuda", exported_dir, small_batch=4)


def test_optimized_model_is_written_once(exported_dir, tmp_path, four_cpus, monkeypatch):
    made = []
    real = ort_loader.load_session
    monkeypatch.setattr(
        ort_loader, "load_session", lambda *a, **k: made.append(a[2]) or real(*a, **k)
    )
    target = tmp_path / "opt.onnx"
    with load_runtime("ort-cpu", exported_dir, optimized_model_path=str(target)):
        pass
    assert [o.optimized_model_path for o in made] == [str(target), None]
    assert [o.threads for o in made] == [None, 2]
