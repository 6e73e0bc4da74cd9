"""Builds onnxruntime sessions for the ``ort-*`` runtimes: options, providers, placement.

onnxruntime falls back to the CPU on its own in three ways, and each is turned into a refusal
with the reason and the fix: a provider whose libraries do not load is dropped quietly (it lists
``CUDAExecutionProvider`` as available even without a GPU), so ``session.get_providers()`` is
checked; a provider that throws while the session is built makes ``InferenceSession`` print an
"EP Error ... Falling back" banner to stdout and retry on the CPU, and one that throws in
``run()`` does the same, so both fallbacks are disabled; and nodes the CUDA provider cannot run
land on the CPU, so every node's provider is recorded and checked. Public onnxruntime APIs only;
the model file is loaded as it is. Never imports torch; onnxruntime is imported by the
functions that need it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..artifacts.atomic import check_outputs
from ..artifacts.layout import check_lenet_signature, unloadable_model
from ..bench.machine import default_threads as usable_cpus
from ..errors import RuntimeUnavailableError, first_line
from .options import ThreadOptions
from .ort_diagnose import capture_stderr, cuda_failure, error_line

CUDA_FIX = (
    "install the CUDA/cuDNN libraries it needs (system-wide, or the nvidia-* wheels a CUDA build "
    "of torch brings), or use ort-cpu"
)
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
#: Batches of at most SMALL_BATCH images run on a second ``ort-cpu`` session with
#: SMALL_BATCH_THREADS intra-op threads when ``threads`` is not set and more CPUs are usable:
#: waking a large pool of threads costs more than a few LeNet images take to compute (on a
#: 16-core host, batch 1 took several times longer on all cores than on 2), while on 2 CPUs one
#: thread already loses at batch 4. benchmarks/ort_small_batch.py measures the crossover
#: (scripts/gpu_check.sh records it on the GPU host); ``lenet-deploy bench`` shows the threads
#: that served each batch size.
SMALL_BATCH = 8
SMALL_BATCH_THREADS = 2
#: Ops of shape subgraphs (a Reshape target built from Shape/Gather/Unsqueeze/Concat, as some
#: exporters write a flatten), which onnxruntime's CUDA provider keeps on the CPU on purpose;
#: neither of this project's exporters writes one today. Any other node on the CPU in a CUDA
#: session is computing there.
SHAPE_OPS = frozenset(
    {"Shape", "Size", "Constant", "ConstantOfShape", "Gather", "Unsqueeze", "Squeeze", "Concat",
     "Slice", "Cast", "Range"}
)  # fmt: skip
_OPT_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "layout": "ORT_ENABLE_LAYOUT",
    "all": "ORT_ENABLE_ALL",
}
# What a provider (not the model) failing to build the session says.
_PROVIDER_ERROR = re.compile(r"ExecutionProvider|CUDA|cuDNN|TensorRT|\bEP\b")


@dataclass(frozen=True)
class OrtOptions(ThreadOptions):
    """Options every ``ort-*`` runtime takes. ``threads``: intra-op threads (None:
    onnxruntime's own); ``graph_optimization``: onnxruntime's level; ``spinning``: idle
    intra-op threads spin, as onnxruntime does by default; ``optimized_model_path``: also save
    the optimised graph there."""

    graph_optimization: Literal["disable", "basic", "extended", "layout", "all"] = "all"
    spinning: bool = True
    optimized_model_path: str | None = None


@dataclass(frozen=True)
class OrtCpuOptions(OrtOptions):
    """``ort-cpu`` options: those of ``OrtOptions`` plus ``small_batch`` (8): while ``threads``
    is not set and more than 2 CPUs are usable, batches of at most this many images run on a
    2-thread session and larger ones on onnxruntime's default thread pool (0: one session for
    every batch). A ``threads`` value applies to every batch size."""

    small_batch: int = SMALL_BATCH

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.small_batch < 0:
            raise ValueError(f"small_batch must be >= 0, got {self.small_batch}")


@dataclass(frozen=True)
class OrtCudaOptions(OrtOptions):
    """``ort-cuda`` options: those of ``ort-cpu`` plus the CUDA device, cuDNN's convolution
    algorithm search, TF32 (off by default, so fp32 parity holds) and ``cuda_graphs`` (False:
    capture one CUDA graph per batch size, up to ``ort.MAX_GRAPHS``; off until graph-vs-eager
    parity has been confirmed on a GPU by the gpu tests)."""

    device_id: int = 0
    cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = "EXHAUSTIVE"
    use_tf32: bool = False
    cuda_graphs: bool = False


def load_session(name: str, path: Path, options: OrtOptions, *, cuda: bool):
    """An InferenceSession for the LeNet export at ``path`` with explicit providers.

    Raises ArtifactError for a file that is not a loadable LeNet export and
    RuntimeUnavailableError when a CUDA session would run on the CPU, in whole or in part.
    """
    import onnxruntime as ort

    session_options = ort.SessionOptions()
    if options.threads is not None:
        session_options.intra_op_num_threads = options.threads
    level = getattr(ort.GraphOptimizationLevel, _OPT_LEVELS[options.graph_optimization], None)
    # older onnxruntime has no "layout" level
    session_options.graph_optimization_level = level or ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    spin = "1" if options.spinning else "0"
    session_options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    # for graph_placement(); onnxruntime before 1.2x ignores the key and cannot tell
    session_options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    if options.optimized_model_path:
        # never over the export itself (or another known artifact): it would become CPU-only
        check_outputs([(options.optimized_model_path, "optimized onnx")], [path])
        session_options.optimized_model_filepath = str(options.optimized_model_path)
    # External data resolves against the model's own folder, never the current directory.
    session_options.add_session_config_entry(
        "session.model_external_initializers_file_folder_path", str(Path(path).parent.resolve())
    )
    if not cuda:
        session = _create(ort, name, path, session_options, [CPU])
    else:
        assert isinstance(options, OrtCudaOptions)
        cuda_options = {
            "device_id": options.device_id,
            "cudnn_conv_algo_search": options.cudnn_conv_algo_search,
            "use_tf32": int(options.use_tf32),
            "enable_cuda_graph": int(options.cuda_graphs),
        }
        _preload_cuda_libraries(ort)
        # Only here is fd 2 redirected: onnxruntime logs why the CUDA provider failed there.
        # (session.disable_cpu_ep_fallback is not used: it refuses a listed CPU provider and
        # its error names neither the reason nor the nodes.)
        with capture_stderr() as logged:
            session = _create(ort, name, path, session_options, [(CUDA, cuda_options), CPU])
        active = session.get_providers()
        if not active or active[0] != CUDA:
            raise RuntimeUnavailableError(
                f"{name}: {CUDA} is not active (runs on {', '.join(active)}): "
                f"{cuda_failure(logged(), ort.__version__)}; {CUDA_FIX}"
            )
        on_cpu = compute_nodes_off(graph_placement(session) or [], CUDA)
        if on_cpu:
            raise RuntimeUnavailableError(
                f"{name}: {len(on_cpu)} compute node(s) of {path} would run on the CPU, not "
                f"{CUDA}: {', '.join(on_cpu[:5])}; this onnxruntime's CUDA provider lacks "
                "those kernels: re-export with another --opset, or use ort-cpu"
            )
    check_signature(session, name, path)
    return session


def _create(ort, name: str, path: Path, session_options, providers: list):
    """The session with onnxruntime's fallbacks off: a provider that throws is reported here,
    not printed to stdout and replaced by the CPU."""
    try:
        session = ort.InferenceSession(
            str(path), session_options, providers=providers, enable_fallback=0
        )
    except Exception as exc:
        provider = providers[0][0] if isinstance(providers[0], tuple) else providers[0]
        if provider != CPU and _PROVIDER_ERROR.search(str(exc)):
            raise RuntimeUnavailableError(
                f"{name}: {provider} failed to start: {error_line(exc)}; "
                f"{CUDA_FIX if provider == CUDA else 'use ort-cpu'}"
            ) from None
        raise unloadable_model(name, path, first_line(exc)) from None
    session.disable_fallback()  # else a provider failing in run() reruns on the CPU, printing
    return session


def cpu_sessions(name: str, path: Path, options: OrtCpuOptions) -> tuple[Any, Any, int]:
    """(session, small-batch session or None, largest batch the latter serves) for ort-cpu.

    The second session exists only while ``threads`` is unset, ``small_batch`` > 0 and more
    than ``SMALL_BATCH_THREADS`` CPUs are usable; it is never written to
    ``optimized_model_path`` a second time.
    """
    session = load_session(name, path, options, cuda=False)
    if options.threads is not None or not options.small_batch:
        return session, None, 0
    if usable_cpus() <= SMALL_BATCH_THREADS:  # the default pool is no larger
        return session, None, 0
    small = dataclasses.replace(options, threads=SMALL_BATCH_THREADS, optimized_model_path=None)
    return session, load_session(name, path, small, cuda=False), options.small_batch


def graph_placement(session) -> list[dict[str, str]] | None:
    """Where each node runs: ``[{"node", "op", "provider"}]`` in onnxruntime's order, after
    its graph optimisations; None when this onnxruntime cannot tell (no
    ``get_provider_graph_assignment_info``, onnxruntime < 1.2x)."""
    info = getattr(session, "get_provider_graph_assignment_info", None)
    if info is None:
        return None
    try:
        subgraphs = info()
    except Exception:  # onnxruntime's Fail when the session did not record the assignment
        return None
    return [
        {"node": node.name, "op": node.op_type, "provider": subgraph.ep_name}
        for subgraph in subgraphs
        for node in subgraph.get_nodes()
    ]


def compute_nodes_off(placement: Sequence[dict[str, str]], provider: str) -> list[str]:
    """Names "Conv node_conv2d on CPUExecutionProvider" for every node not on ``provider`` other
    than the shape-only ops (``SHAPE_OPS``) onnxruntime keeps on the CPU on purpose."""
    return [
        f"{p['op']} {p['node']} on {p['provider']}"
        for p in placement
        if p["provider"] != provider and p["op"] not in SHAPE_OPS
    ]


def check_signature(session, name: str, path) -> None:
    """ArtifactError unless the session takes ``image`` [N, 1, 32, 32] and gives float32
    ``logits`` [N, 10]."""

    def tensors(args):
        return [
            (frozenset([a.name]), tuple(str(d) for d in a.shape), a.type == "tensor(float)")
            for a in args
        ]

    check_lenet_signature(name, path, tensors(session.get_inputs()), tensors(session.get_outputs()))


def _preload_cuda_libraries(ort) -> None:
    """Let onnxruntime find CUDA/cuDNN from pip packages (e.g. a CUDA torch's nvidia-*)."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        try:
            preload()
        except Exception:  # missing libraries are diagnosed by the provider check that follows
            pass


def cuda_probe() -> str | None:
    """None if ort-cuda can run here, else the reason (creates a one-node session to find out)."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return (
            f"this onnxruntime {ort.__version__} build has no CUDAExecutionProvider "
            "(install onnxruntime-gpu instead of onnxruntime)"
        )
    _preload_cuda_libraries(ort)
    with capture_stderr() as logged:
        try:
            session = ort.InferenceSession(
                identity_model(), providers=[CUDA, CPU], enable_fallback=0
            )
        except Exception as exc:  # the provider threw while the session was built
            return f"{CUDA} failed to start: {error_line(exc)}; {CUDA_FIX}"
    active = session.get_providers()
    if active and active[0] == CUDA:
        return None
    return f"{CUDA} failed to load: {cuda_failure(logged(), ort.__version__)}; {CUDA_FIX}"


def identity_model() -> bytes:
    """A one-node ONNX model (y = x) to probe a provider with."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what every onnxruntime >= 1.14 reads
    return model.SerializeToString()
