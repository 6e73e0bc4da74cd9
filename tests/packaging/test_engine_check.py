"""The engine check: a packaged model run in another interpreter's onnxruntime, judged by the
project's policy against the export."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from lenet_deploy.errors import PackageError
from lenet_deploy.packaging import engine_check
from lenet_deploy.packaging.targets import TRITON_RELEASES, triton_release

pytestmark = pytest.mark.slow  # every test starts an interpreter that imports onnxruntime

# CI makes the real side venvs (LENET_SIDE_VENVS); elsewhere they are used when present.
SIDE = Path(os.environ.get("LENET_SIDE_VENVS", "/work/sidevenvs"))
HERE = replace(triton_release("23.05"), onnxruntime=onnxruntime.__version__)


@pytest.fixture(scope="module")
def small_sets(digits):
    noise = np.random.default_rng(0).random((5, 1, 32, 32), dtype=np.float32)
    return {"digits": digits.x_test[:20], "noise": noise}


def test_child_runs_the_model_and_matches(exported_dir, small_sets):
    model = exported_dir / "lenet.onnx"
    reference = engine_check.run_local(model, small_sets)
    check = engine_check.check_with_engine(model, reference, small_sets, sys.executable, HERE)
    assert check and check.onnxruntime == onnxruntime.__version__
    record = check.to_dict()
    assert record["passed"] and record["images"] == 25 and record["max_abs_diff"] == 0.0


def test_a_disagreeing_engine_fails_with_every_set_named(exported_dir, small_sets):
    model = exported_dir / "lenet.onnx"
    wrong = {k: v + 1.0 for k, v in engine_check.run_local(model, small_sets).items()}
    with pytest.raises(PackageError, match="disagrees with the export") as info:
        engine_check.check_with_engine(model, wrong, small_sets, sys.executable, HERE)
    assert "digits" in str(info.value) and "noise" in str(info.value)


def test_the_engine_must_be_the_release_s(exported_dir, small_sets):
    release = triton_release("23.05")
    with pytest.raises(PackageError, match="but Triton 23.05 bundles 1.15.0"):
        engine_check.check_with_engine(
            exported_dir / "lenet.onnx", {}, small_sets, sys.executable, release
        )


def test_an_interpreter_without_onnxruntime_names_the_fix(exported_dir, tmp_path, small_sets):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'No module named onnxruntime' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(PackageError, match="pip install 'onnxruntime==1.15.0'"):
        engine_check.check_with_engine(
            exported_dir / "lenet.onnx", {}, small_sets, str(fake), triton_release("23.05")
        )


def test_a_refusing_engine_is_reported_in_one_line(tmp_path, small_sets):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(PackageError, match="engine refuses the model: onnxruntime"):
        engine_check.check_with_engine(broken, {}, small_sets, sys.executable, HERE)


@pytest.mark.parametrize(
    "release, wheel", [("23.05", "1.15.1"), ("24.04", "1.17.3"), ("24.05", "1.18.0")]
)
def test_the_release_s_own_onnxruntime_loads_the_package(exported_dir, tmp_path, release, wheel):
    from lenet_deploy.packaging.package import package

    target = triton_release(release)
    python = SIDE / f"ort-{wheel}" / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"no side venv {python}: .ci/run makes them (LENET_SIDE_VENVS)")
        pytest.skip(f"no side venv {python}: .ci/run makes them (LENET_SIDE_VENVS)")
    result = package(exported_dir, tmp_path / "repo", triton_version=release, check=(str(python),))
    (check,) = result.engine_checks
    assert check["passed"] and check["onnxruntime"].startswith(target.ort_minor)


def test_every_release_in_the_table_has_measured_limits():
    assert [r.release for r in TRITON_RELEASES] == sorted(r.release for r in TRITON_RELEASES)
    for release in TRITON_RELEASES:
        assert release.max_ir_version >= 9 and release.max_opset >= 18
