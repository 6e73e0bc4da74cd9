"""Optional dependencies: a missing one names its extra; without torch the deploy set works."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lenet_deploy._optional import missing_reason, require
from lenet_deploy.errors import LenetDeployError, MissingDependencyError

# Run the CLI in a fresh interpreter where the packages a deploy-only install lacks fail to import.
NO_TORCH = (
    "import sys\n"
    "for name in ('torch', 'onnxscript', 'sklearn', 'matplotlib'):\n"
    "    sys.modules[name] = None\n"
    "from lenet_deploy.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n"
    "sys.exit(code)\n"
)


def run_without_torch(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_missing_module_names_the_extra():
    reason = missing_reason("no_such_module_xyz", "train", "training")
    assert reason == (
        "training needs no_such_module_xyz, which is not installed: "
        "pip install 'lenet-deploy[train]'"
    )
    assert missing_reason("numpy", "train", "anything") is None
    with pytest.raises(MissingDependencyError, match=r"lenet-deploy\[plot\]") as info:
        require("no_such_module_xyz.sub", "plot", "bench --plot")
    assert isinstance(info.value, LenetDeployError)
    assert require("numpy", "train", "x") is np


def test_a_broken_installed_module_is_not_reported_as_missing(tmp_path, monkeypatch):
    (tmp_path / "broken_pkg_xyz.py").write_text("import another_missing_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError) as info:
        require("broken_pkg_xyz", "train", "x")
    assert not isinstance(info.value, MissingDependencyError)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("train", "--epochs", "1"), "training needs torch"),
        (("export", "--checkpoint", "lenet.pt"), "needs torch"),
    ],
)
@pytest.mark.slow
def test_torch_commands_name_the_train_extra(tmp_path, args, fragment):
    proc = run_without_torch(*args, "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert fragment in proc.stderr and "pip install 'lenet-deploy[train]'" in proc.stderr


@pytest.mark.slow
def test_without_torch_runtimes_predict_and_package_work(exported_dir, tmp_path):
    proc = run_without_torch("runtimes", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["ort-cpu"]["available"]
    for name in ("torch-cpu", "torch-cuda"):
        assert not rows[name]["available"]
        assert f"{name} needs torch" in rows[name]["reason"]
        assert "lenet-deploy[train]" in rows[name]["reason"]

    image = tmp_path / "digit.npy"
    from lenet_deploy.data.datasets import load_dataset

    ds = load_dataset("digits")
    np.save(image, ds.x_test[:3])
    proc = run_without_torch("predict", "--model", str(exported_dir), "--json", str(image))
    assert proc.returncode == 0, proc.stderr
    labels = [p["label"] for p in json.loads(proc.stdout)["predictions"]]
    from lenet_deploy.runtimes import load_runtime

    with load_runtime("ort-cpu", exported_dir) as runtime:
        assert labels == runtime.predict_labels(ds.x_test[:3]).tolist()

    proc = run_without_torch(
        "predict", "--runtime", "torch-cpu", "--model", str(exported_dir), str(image)
    )
    assert proc.returncode == 2 and "torch-cpu needs torch" in proc.stderr

    # The test split comes from the bundled digits copy: no scikit-learn needed. Comparing
    # ort-cpu with itself compares nothing, which is an error (nothing compared is not passed);
    # ov-cpu against the ort-cpu reference is a real comparison without torch.
    proc = run_without_torch(
        "verify", "--model", str(exported_dir), "--reference", "ort-cpu", "--runtimes", "ort-cpu"
    )
    assert proc.returncode == 2 and "nothing to compare" in proc.stderr
    pytest.importorskip("openvino", reason="ov-cpu needs the [openvino] extra")
    proc = run_without_torch(
        "verify", "--model", str(exported_dir), "--reference", "ort-cpu", "--runtimes", "all"
    )
    assert proc.returncode == 0, proc.stderr
    assert "ov-cpu" in proc.stdout and "torch-cpu needs torch" in proc.stdout

    proc = run_without_torch(
        "package", "--model", str(exported_dir), "--out", str(tmp_path / "repo")
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "repo/lenet/1/model.onnx").is_file()
