import dataclasses
import importlib.metadata
import sys

import numpy as np
import pytest
from conftest import PLUGIN_NAME

from lenet_deploy import cli
from lenet_deploy.artifacts.layout import ArtifactKind
from lenet_deploy.errors import (
    DuplicateRuntimeError,
    LenetDeployError,
    OptionsError,
    RuntimeUnavailableError,
    UnknownRuntimeError,
)
from lenet_deploy.runtimes import (
    BUILTIN_MODULES,
    Runtime,
    available_runtimes,
    get_entry,
    load_runtime,
    register_runtime,
    registry,
    runtime_names,
    unregister_runtime,
)


def test_builtins_declare_name_kind_device_and_options_once():
    names = runtime_names()
    builtins = ["torch-cpu", "torch-cuda", "ort-cpu", "ort-cuda", "ov-cpu", "oip-http", "ort-web"]
    assert names[:7] == builtins
    declared = {n: (get_entry(n).artifact, get_entry(n).device) for n in builtins}
    assert declared == {
        "torch-cpu": (ArtifactKind.CHECKPOINT, "cpu"),
        "torch-cuda": (ArtifactKind.CHECKPOINT, "cuda"),
        "ort-cpu": (ArtifactKind.ONNX, "cpu"),
        "ort-cuda": (ArtifactKind.ONNX, "cuda"),
        "ov-cpu": (ArtifactKind.ONNX, "cpu"),
        "oip-http": (ArtifactKind.URL, "http"),
        "ort-web": (ArtifactKind.ONNX, "browser"),
    }
    for name in builtins:
        assert dataclasses.is_dataclass(get_entry(name).options)
        assert get_entry(name).options.__dataclass_params__.frozen
    assert BUILTIN_MODULES == ("pytorch", "ort", "openvino", "remote", "ort_web", "auto")
    assert {k.value for k in ArtifactKind} == {"checkpoint", "onnx", "url"}
    availability = {a.name: a for a in available_runtimes()}
    assert availability["torch-cpu"] and availability["ort-cpu"]
    for a in availability.values():
        assert a.available or len(a.reason) > 20


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownRuntimeError) as err:
        load_runtime("tensorrt", "artifacts")
    assert "unknown runtime 'tensorrt'" in str(err.value)
    for name in ("torch-cpu", "ort-cpu", "ort-cuda", "torch-cuda", "ov-cpu"):
        assert name in str(err.value)


def test_duplicate_name_is_an_error():
    with pytest.raises(DuplicateRuntimeError, match="'ort-cpu' is already registered"):
        register_runtime("ort-cpu", lambda *a, **k: None)


@pytest.mark.parametrize(
    "options,fragment",
    [
        ({"threds": 2}, "unknown option 'threds'"),
        ({"threads": "2"}, "option threads must be int or None, got '2'"),
        ({"threads": True}, "option threads must be int or None, got True"),
        ({"graph_optimization": "max"}, "must be one of disable|basic|extended|layout|all"),
        ({"threads": 0}, "threads must be >= 1"),
    ],
)
def test_bad_options_list_the_valid_ones(exported_dir, options, fragment):
    with pytest.raises(OptionsError) as err:
        load_runtime("ort-cpu", exported_dir, **options)
    assert fragment in str(err.value) and str(err.value).startswith("ort-cpu: ")
    if "must be >=" not in fragment:
        assert "valid options: threads: int or None = None" in str(err.value)


class Constant(Runtime):
    def _predict(self, x):
        return np.zeros((len(x), 10), np.float32)


def test_registered_runtime_takes_its_registry_name_and_shows_in_cli(capsys):
    register_runtime("constant", lambda artifact=None, **o: Constant(), description="zeros")
    try:
        with load_runtime("constant") as rt:
            assert rt.name == "constant"
            assert rt.predict(np.zeros((2, 1, 32, 32))).shape == (2, 10)
        assert cli.main(["runtimes"]) == 0
        out = capsys.readouterr().out
        assert "constant" in out and "zeros" in out and PLUGIN_NAME in out
    finally:
        unregister_runtime("constant")
    assert "constant" not in runtime_names()


def test_decorator_registration_with_options():
    @dataclasses.dataclass(frozen=True)
    class ScaleOptions:
        scale: float = 1.0

    @register_runtime("scaled", artifact="url", options=ScaleOptions, description="test")
    class Scaled(Runtime):
        def __init__(self, artifact, options, entry):
            self.artifact, self.scale = artifact, options.scale

        def _predict(self, x):
            return np.full((len(x), 10), self.scale, np.float32)

    try:
        assert get_entry("scaled").artifact is ArtifactKind.URL
        with load_runtime("scaled", "http://127.0.0.1:1/v2/models/lenet", scale=2) as rt:
            assert rt.name == "scaled" and rt.scale == 2.0 and isinstance(rt.scale, float)
            assert rt.predict(np.zeros((1, 1, 32, 32))).sum() == 20
        with pytest.raises(OptionsError, match="scale: float = 1.0"):
            load_runtime("scaled", "x", scale="big")
    finally:
        unregister_runtime("scaled")


def test_factory_must_return_a_runtime():
    register_runtime("bogus", lambda *a, **k: object())
    try:
        with pytest.raises(LenetDeployError, match="not a Runtime"):
            load_runtime("bogus")
    finally:
        unregister_runtime("bogus")


def test_probe_reason_is_reported():
    register_runtime("never", lambda *a, **k: Constant(), probe=lambda: "needs a quantum computer")
    try:
        (row,) = [a for a in available_runtimes() if a.name == "never"]
        assert not row and row.reason == "needs a quantum computer"
    finally:
        unregister_runtime("never")


def test_entry_point_plugins_are_discovered(tmp_path, monkeypatch):
    (tmp_path / "lenet_plugin_demo.py").write_text(
        "import numpy as np\n"
        "from lenet_deploy.runtimes import Runtime, RuntimeEntry\n"
        "class Demo(Runtime):\n"
        "    def _predict(self, x):\n"
        "        return np.ones((len(x), 10), np.float32)\n"
        "ENTRY = RuntimeEntry('demo', lambda artifact=None, **o: Demo(), None, 'demo plug-in')\n"
        "def factory(artifact=None, **o):\n"
        "    return Demo()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    group = registry.ENTRY_POINT_GROUP
    eps = [
        importlib.metadata.EntryPoint("demo-entry", "lenet_plugin_demo:ENTRY", group),
        importlib.metadata.EntryPoint("demo-factory", "lenet_plugin_demo:factory", group),
        importlib.metadata.EntryPoint("demo-broken", "no_such_module_xyz:factory", group),
    ]
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group=None: [e for e in eps if e.group == group]
    )
    try:
        registry._discover_plugins()
        assert {"demo-entry", "demo-factory", "demo-broken"} <= set(runtime_names())
        with load_runtime("demo-factory") as rt:
            assert rt.name == "demo-factory"
            assert rt.predict(np.zeros((1, 1, 32, 32))).sum() == 10
        rows = {a.name: a for a in available_runtimes()}
        assert rows["demo-entry"] and rows["demo-entry"].description == "demo plug-in"
        assert not rows["demo-broken"] and "failed to import" in rows["demo-broken"].reason
        with pytest.raises(RuntimeUnavailableError, match="plug-in failed to import"):
            load_runtime("demo-broken")
    finally:
        for name in ("demo-entry", "demo-factory", "demo-broken"):
            unregister_runtime(name)
        sys.modules.pop("lenet_plugin_demo", None)


def test_device_variants_are_classes_over_one_base_per_family():
    from lenet_deploy.runtimes.base import CPU_CHUNK
    from lenet_deploy.runtimes.openvino import OpenVinoRuntime
    from lenet_deploy.runtimes.ort import OrtCpuRuntime, OrtCudaRuntime, OrtRuntime
    from lenet_deploy.runtimes.pytorch import TorchCpuRuntime, TorchCudaRuntime, TorchRuntime

    variants = {
        "torch-cpu": (TorchCpuRuntime, TorchRuntime, False),
        "torch-cuda": (TorchCudaRuntime, TorchRuntime, True),
        "ort-cpu": (OrtCpuRuntime, OrtRuntime, False),
        "ort-cuda": (OrtCudaRuntime, OrtRuntime, True),
        "ov-cpu": (OpenVinoRuntime, Runtime, False),
    }
    for name, (cls, base, cuda) in variants.items():
        entry = get_entry(name)
        assert entry.factory is cls and issubclass(cls, base), name
        assert entry.device == ("cuda" if cuda else "cpu") and cls.timed_phases is cuda, name
        # one chunk constant for every CPU engine; device engines take up to engine_chunk
        assert cls.chunk_size == (Runtime.chunk_size if cuda else CPU_CHUNK), name


def test_a_class_without_a_description_is_described_by_its_own_docstring():
    @register_runtime("documented")
    class Documented(Runtime):
        """what it is

        and more."""

        def __init__(self, artifact=None, **options):
            pass

        def _predict(self, x):
            return np.zeros((len(x), 10), np.float32)

    @register_runtime("undocumented")
    class Undocumented(Documented):  # Runtime's and Documented's docstrings are not its own
        pass

    try:
        rows = {a.name: a.description for a in available_runtimes()}
        assert rows["documented"] == "what it is" and rows["undocumented"] == ""
        assert rows["ort-cpu"] == "onnxruntime, CPUExecutionProvider"  # built-ins: the same
    finally:
        unregister_runtime("documented")
        unregister_runtime("undocumented")
