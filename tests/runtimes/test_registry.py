import importlib.metadata
import sys

import numpy as np
import pytest
from conftest import PLUGIN_NAME

from lenet_deploy import cli
from lenet_deploy.errors import DuplicateRuntimeError, UnknownRuntimeError
from lenet_deploy.runtimes import (
    Runtime,
    RuntimeEntry,
    available_runtimes,
    load_runtime,
    register_runtime,
    registry,
    runtime_names,
    unregister_runtime,
)


def test_builtins_are_registered():
    names = runtime_names()
    assert names[:4] == ["torch-cpu", "torch-cuda", "ort-cpu", "ort-cuda"]
    availability = {a.name: a for a in available_runtimes()}
    assert availability["torch-cpu"] and availability["ort-cpu"]
    for a in availability.values():
        assert a.available or len(a.reason) > 20


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownRuntimeError) as err:
        load_runtime("tensorrt", "artifacts")
    assert "unknown runtime 'tensorrt'" in str(err.value)
    for name in ("torch-cpu", "ort-cpu", "ort-cuda", "torch-cuda"):
        assert name in str(err.value)


def test_duplicate_name_is_an_error():
    with pytest.raises(DuplicateRuntimeError, match="'ort-cpu' is already registered"):
        register_runtime("ort-cpu", lambda *a, **k: None)


class Constant(Runtime):
    name = "constant"

    def _predict(self, x):
        return np.zeros((len(x), 10), np.float32)


def test_registered_runtime_loads_and_shows_in_cli(capsys):
    register_runtime("constant", lambda artifact=None, **o: Constant(), description="zeros")
    try:
        with load_runtime("constant") as rt:
            assert rt.predict(np.zeros((2, 1, 32, 32))).shape == (2, 10)
        assert cli.main(["runtimes"]) == 0
        out = capsys.readouterr().out
        assert "constant" in out and "zeros" in out and PLUGIN_NAME in out
    finally:
        unregister_runtime("constant")
    assert "constant" not in runtime_names()


def test_factory_must_return_a_runtime():
    register_runtime("bogus", lambda *a, **k: object())
    try:
        with pytest.raises(Exception, match="not a Runtime"):
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
        "    name = 'demo'\n"
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
        assert load_runtime("demo-factory").predict(np.zeros((1, 1, 32, 32))).sum() == 10
        rows = {a.name: a for a in available_runtimes()}
        assert rows["demo-entry"] and rows["demo-entry"].description == "demo plug-in"
        assert not rows["demo-broken"] and "failed to import" in rows["demo-broken"].reason
        with pytest.raises(Exception, match="plug-in failed to import"):
            load_runtime("demo-broken")
    finally:
        for name in ("demo-entry", "demo-factory", "demo-broken"):
            unregister_runtime(name)
        sys.modules.pop("lenet_plugin_demo", None)
    assert isinstance(RuntimeEntry("x", Constant), RuntimeEntry)
