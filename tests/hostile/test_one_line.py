"""Class 4: every expected failure is one line on stderr, exit 2 (130 on Ctrl-C), no traceback."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import gzip
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest
from helpers_hostile import REPO, error_line, run_inproc

from lenet_deploy.cli.guard import EXIT_ERROR, EXIT_PIPE, run_command
from lenet_deploy.errors import ExportError

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _raiser(exc: BaseException):
    def func(_args):
        raise exc

    return func


def _export_interrupted():
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        error = ExportError("the dynamo exporter failed: KeyboardInterrupt")
        error.__cause__ = exc  # what 'raise ExportError(...) from exc' records
        return error


@pytest.mark.parametrize(
    ("exc", "code", "fragment"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "out/lenet.pt"), 2, "ENOSPC"),
        (PermissionError(errno.EACCES, "Permission denied", "/x"), 2, "permissions"),
        (zlib.error("Error -3 while decompressing data"), 2, "corrupt or truncated"),
        (EOFError("Compressed file ended"), 2, "corrupt or truncated"),
        (MemoryError(), 2, "out of memory"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (_export_interrupted(), 130, "interrupted"),
    ],
    ids=["enospc", "eacces", "zlib", "eof", "memory", "ctrl-c", "export-ctrl-c"],
)
def test_expected_failures_are_one_line(capsys, exc, code, fragment):
    assert run_command(_raiser(exc), argparse.Namespace(command="train")) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("lenet-deploy train:") and fragment in err


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        run_command(_raiser(ZeroDivisionError()), argparse.Namespace(command="train"))


def test_enospc_during_train_keeps_the_previous_artifacts(tmp_path, monkeypatch, digits):
    """A full disk while the pair is written: exit 2 and the old pair byte-identical."""
    from lenet_deploy.artifacts import atomic as _io
    from lenet_deploy.cli import main
    from lenet_deploy.model import train as train_mod

    out = tmp_path / "out"
    out.mkdir()
    (out / "lenet.pt").write_bytes(b"old checkpoint")
    (out / "metrics.json").write_text("{}")

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(_io.os, "replace", full_disk)
    tiny = dataclasses.replace(
        digits, x_train=digits.x_train[:64], y_train=digits.y_train[:64],
        x_test=digits.x_test[:16], y_test=digits.y_test[:16],
    )  # fmt: skip
    monkeypatch.setattr(train_mod, "load_dataset", lambda spec: tiny)
    code = main(["train", "--epochs", "1", "--quiet", "--out", str(out)])
    assert code == EXIT_ERROR
    assert (out / "lenet.pt").read_bytes() == b"old checkpoint"
    assert sorted(p.name for p in out.iterdir()) == ["lenet.pt", "metrics.json"]


def _mnist_folder(tmp_path, images: bytes, labels: bytes):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split in ("train", "t10k"):
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(images)
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(labels)
    return folder


def test_corrupt_gzip_dataset_is_one_line(capsys, tmp_path):
    good = gzip.compress(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes(3))
    corrupt = good[:12] + b"\xff" * 20 + good[-8:]  # valid header, garbage deflate stream
    folder = _mnist_folder(tmp_path, corrupt, good)
    proc = run_inproc(capsys, "train", "--data", f"mnist:{folder}", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "train-images" in error_line(proc)


def test_empty_mnist_set_is_one_line(capsys, tmp_path):
    images = gzip.compress(bytes([0, 0, 8, 3]) + bytes(4) + (28).to_bytes(4, "big") * 2)
    labels = gzip.compress(bytes([0, 0, 8, 1]) + bytes(4))
    folder = _mnist_folder(tmp_path, images, labels)
    proc = run_inproc(capsys, "train", "--data", f"mnist:{folder}", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "at least one" in error_line(proc)


def test_ascii_only_stdout_gets_ascii_marks():
    code = (
        "import argparse, sys\n"
        "from lenet_deploy.cli.guard import run_command\n"
        "sys.exit(run_command(lambda a: print('ort-cpu \u2713 torch \u2717 \u00e9') or 0,"
        " argparse.Namespace(command='verify')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**ENV, "PYTHONIOENCODING": "ascii"},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode("ascii").strip() == "ort-cpu ok torch FAIL ?"


@pytest.mark.slow
def test_closed_pipe_exits_quietly(tmp_path, exported_dir):
    """``predict many.npy | head -1``: no traceback, exit 141, the first line was delivered."""
    np.save(tmp_path / "many.npy", np.zeros((6000, 28, 28), np.uint8))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lenet_deploy", "predict", str(tmp_path / "many.npy"),
         "--model", str(exported_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )  # fmt: skip
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == EXIT_PIPE
    assert first.startswith(str(tmp_path).encode()) and "Traceback" not in err and err == ""


def test_onnx_refused_at_run_time_is_one_line(capsys, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    # Loads fine, declares [batch, 10] logits, but fails when run: 1024 values to [3, -1].
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [3, -1])
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["image", "shape"], ["r"]),
            helper.make_node("ReduceSum", ["r"], ["s"], keepdims=0),
            helper.make_node("Expand", ["s", "ten"], ["logits"]),
        ],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [shape, helper.make_tensor("ten", TensorProto.INT64, [2], [1, 10])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "bad.onnx"))
    x = np.zeros((28, 28), np.uint8)
    x[4:24, 12:16] = 255  # a stroke: a blank page would be "no digit" and never reach the model
    np.save(tmp_path / "x.npy", x)
    proc = run_inproc(
        capsys, "predict", str(tmp_path / "x.npy"), "--model", str(tmp_path / "bad.onnx")
    )
    assert proc.returncode == 2 and "onnxruntime failed to run" in error_line(proc)


@pytest.mark.slow
def test_fifo_checkpoint_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "lenet.pt"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [sys.executable, "-m", "lenet_deploy", "export", "--checkpoint", str(fifo), "--out",
         str(tmp_path / "m.onnx")],
        capture_output=True, text=True, timeout=120, env=ENV,
    )  # fmt: skip
    assert proc.returncode == 2 and "not a regular file" in error_line(proc)


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--model", "{d}", "--json", "/proc/nope/report.json"],
        ["bench", "--model", "{d}", "--runtime", "ort-cpu", "--plot", "/proc/nope/p.png"],
        ["bench", "--model", "{d}", "--runtime", "ort-cpu", "--csv", "{d}"],
    ],
    ids=["verify-json", "bench-plot", "bench-csv-dir"],
)
def test_output_targets_are_checked_before_the_long_run(capsys, exported_dir, argv):
    proc = run_inproc(capsys, *(a.format(d=exported_dir) for a in argv))
    assert proc.returncode == 2 and "output" in error_line(proc)
    assert "reference" not in proc.stderr and proc.stdout == ""
