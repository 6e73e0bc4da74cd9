"""The serve images' install lists stay in step with pyproject.toml, one onnxruntime each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
ENGINES = {"cpu": "onnxruntime", "gpu": "onnxruntime-gpu"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=~!; ]", r.strip(), maxsplit=1)[0].lower() for r in requirements}


def _project_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return _names(project["dependencies"] + project["optional-dependencies"]["serve"])


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_image_requirements_are_the_deploy_set_with_one_engine(kind):
    lines = (REPO / f"docker/requirements-{kind}.txt").read_text().splitlines()
    wanted = [line for line in lines if line.strip() and not line.startswith("#")]
    names = _names(wanted)
    engines = {n for n in names if n.startswith("onnxruntime")}
    assert engines == {ENGINES[kind]}  # never both in one environment
    assert names - engines == _project_names() - set(ENGINES.values())
    assert "torch" not in names
    (engine_line,) = [w for w in wanted if w.startswith(ENGINES[kind])]
    assert "==" in engine_line  # the image pins its engine
    if kind == "gpu":
        assert engine_line.startswith("onnxruntime-gpu[cuda,cudnn]==")


@pytest.mark.parametrize("dockerfile, kind", [("Dockerfile", "cpu"), ("Dockerfile.gpu", "gpu")])
def test_dockerfiles_install_their_list_then_the_project_without_deps(dockerfile, kind):
    text = (REPO / dockerfile).read_text()
    assert f"docker/requirements-{kind}.txt" in text
    assert "pip install --no-deps ." in text
    runtime = "ort-cuda" if kind == "gpu" else "ort-cpu"
    assert f'"--runtime", "{runtime}"' in text
    if kind == "gpu":
        assert "check_cuda_libs.py --print-dirs > /etc/ld.so.conf.d/" in text


def test_cuda_check_names_what_an_install_without_nvidia_wheels_lacks():
    """The project's own venv has onnxruntime-gpu without NVIDIA's wheels: the issue's
    failure (libcublas.so.13 missing), which the GPU image's check must catch."""
    import shutil
    import subprocess
    import sys

    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    cache = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    if "libcublas.so.13" in cache:
        pytest.skip("this machine has CUDA 13's cuBLAS installed system-wide")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts/check_cuda_libs.py")], capture_output=True, text=True
    )
    if "no onnxruntime-gpu here" in proc.stderr:
        pytest.skip("this environment has the CPU onnxruntime")
    assert proc.returncode == 1
    assert "missing libcublas.so.13 (needed by libonnxruntime_providers_cuda.so)" in proc.stderr
