"""Class 3: successful commands never destroy good artifacts; pairs are committed together."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers_hostile import REPO, error_line, run_inproc, sha256

from lenet_deploy.artifacts.atomic import atomic_path, atomic_paths, check_outputs
from lenet_deploy.artifacts.layout import read_metrics
from lenet_deploy.errors import ArtifactError
from lenet_deploy.runtimes import load_runtime


def _shas(folder):
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "--checkpoint", "{d}/lenet.pt", "--out", "{d}/lenet.pt"],
        ["export", "--checkpoint", "{d}/lenet.pt", "--out", "{d}/metrics.json"],
        ["bench", "--model", "{d}", "--runtime", "ort-cpu", "--json", "{d}/lenet.onnx"],
        ["verify", "--model", "{d}", "--json", "{d}/lenet.pt"],
        ["verify", "--model", "{d}/lenet.onnx", "--json", "{d}/lenet.onnx"],
        ["bench", "--model", "{d}", "--runtime", "ort-cpu", "--plot", "{d}/metrics.json"],
        ["pipeline", "--out", "{d}", "--report", "{d}/lenet.pt"],
        ["verify", "--model", "{d}", "--json", "{d}"],
    ],
    ids=lambda a: " ".join(a[:1] + a[-2:]).replace("{d}/", ""),
)
def test_outputs_that_would_destroy_an_artifact_are_refused_before_work(capsys, exported_dir, argv):
    before = _shas(exported_dir)
    proc = run_inproc(capsys, *(a.format(d=exported_dir) for a in argv))
    line = error_line(proc)
    assert proc.returncode == 2, proc.stderr
    assert "output" in line and ("artifact" in line or "input" in line or "directory" in line)
    assert "reference" not in proc.stderr  # refused before the run started
    assert _shas(exported_dir) == before


def test_optimized_model_path_cannot_replace_the_export(exported_dir):
    before = sha256(exported_dir / "lenet.onnx")
    with pytest.raises(ArtifactError, match="also an input"):
        load_runtime("ort-cpu", exported_dir, optimized_model_path=str(exported_dir / "lenet.onnx"))
    assert sha256(exported_dir / "lenet.onnx") == before


def test_an_output_symlinked_to_an_input_is_refused(tmp_path):
    src = tmp_path / "model.onnx"
    src.write_bytes(b"model")
    (tmp_path / "report.json").symlink_to(src)
    with pytest.raises(ArtifactError, match="also an input"):
        check_outputs([(tmp_path / "report.json", "report")], [src])


def test_atomic_write_replaces_a_symlink_not_its_target(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("keep")
    link = tmp_path / "out.txt"
    link.symlink_to(target)
    with atomic_path(link) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "keep"  # documented: the link itself is replaced
    assert not link.is_symlink() and link.read_text() == "new"


@pytest.mark.parametrize("exc", [KeyboardInterrupt, OSError, RuntimeError])
def test_temp_files_are_removed_on_every_failure(tmp_path, exc):
    good = tmp_path / "a.bin"
    good.write_bytes(b"good")
    with pytest.raises(exc), atomic_paths([good, tmp_path / "b.json"]) as (ta, tb):
        ta.write_bytes(b"half")
        tb.write_text("{}")
        raise exc("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
    assert good.read_bytes() == b"good"


def test_a_killed_writer_leaves_a_detectable_pair_and_its_temp_is_cleaned_next_time(
    tmp_path, trained_dir
):
    """SIGKILL between the two renames of train's commit: the pair is reported as mismatched
    (never used silently), and the next write removes the stray temporary file."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("lenet.pt", "metrics.json"):
        (out / name).write_bytes((trained_dir / name).read_bytes())
    read_metrics(out)  # a pair written by one run is consistent
    code = f"""
import os, signal
from lenet_deploy.artifacts import atomic as _io
real = os.replace
calls = []
def dying_replace(src, dst):
    calls.append(dst)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
_io.os.replace = dying_replace
with _io.atomic_paths([{str(out / "lenet.pt")!r}, {str(out / "metrics.json")!r}]) as (a, b):
    a.write_bytes(b"new checkpoint")
    b.write_text('{{"checkpoint_sha256": "0000"}}')
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    assert any(p.name.startswith(".metrics.json.") for p in out.iterdir())  # the stray temp
    with pytest.raises(ArtifactError, match="does not belong to"):
        read_metrics(out)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text("{}")
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_concurrent_pair_writers_never_interleave(tmp_path):
    """Two processes commit (checkpoint, metrics-with-its-sha) pairs into one folder at once;
    the directory lock keeps every committed pair consistent."""
    code = f"""
import hashlib, json, os, sys
from lenet_deploy.artifacts.atomic import atomic_paths
from lenet_deploy.artifacts.layout import read_metrics
pair = [{str(tmp_path / "lenet.pt")!r}, {str(tmp_path / "metrics.json")!r}]
for i in range(40):
    blob = os.urandom(2048)
    with atomic_paths(pair) as (a, b):
        a.write_bytes(blob)
        b.write_text(json.dumps({{"checkpoint_sha256": hashlib.sha256(blob).hexdigest()}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    read_metrics(tmp_path)  # raises if the final pair came from two writers


def test_train_records_the_checkpoint_sha_in_metrics(trained_dir):
    assert read_metrics(trained_dir)["checkpoint_sha256"] == sha256(trained_dir / "lenet.pt")


def test_ort_cpu_resolves_external_data_in_the_models_folder(tmp_path, exported_dir, monkeypatch):
    import onnx

    model = onnx.load(str(exported_dir / "lenet.onnx"))
    folder = tmp_path / "model"
    folder.mkdir()
    onnx.save_model(
        model,
        str(folder / "lenet.onnx"),
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=1024,  # the weights; small shape constants stay inline
    )
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with load_runtime("ort-cpu", folder / "lenet.onnx") as rt:  # found beside the model
        assert rt.predict_labels(np.zeros((1, 1, 32, 32), np.float32)).shape == (1,)
    (folder / "weights.bin").rename(elsewhere / "weights.bin")  # only in the cwd now
    with pytest.raises(ArtifactError, match="not a loadable ONNX model"):
        load_runtime("ort-cpu", folder / "lenet.onnx")


def test_pipeline_refuses_a_mismatched_pair(tmp_path, trained_dir):
    from lenet_deploy.jobs.pipeline import run_pipeline

    for name in ("lenet.pt", "metrics.json"):
        (tmp_path / name).write_bytes((trained_dir / name).read_bytes())
    (tmp_path / "metrics.json").write_text('{"checkpoint_sha256": "from another run"}')
    with pytest.raises(ArtifactError, match="does not belong to"):
        run_pipeline(tmp_path)
    assert not (tmp_path / "lenet.onnx").exists()
