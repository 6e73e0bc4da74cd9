import json
import subprocess
import sys

from conftest import assert_one_line_error, run_cli


def test_help_lists_every_command_without_importing_torch():
    code = (
        "import sys, contextlib, io\n"
        "from lenet_deploy.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "print(buf.getvalue())\n"
        "print('TORCH' if 'torch' in sys.modules else 'NOTORCH')\n"
        "print('ORT' if 'onnxruntime' in sys.modules else 'NOORT')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    for command in ("train",):
        assert command in out
    assert "NOTORCH" in out and "NOORT" in out


def test_train_cli_writes_artifacts(tmp_path):
    proc = run_cli("train", "--epochs", "1", "--quiet", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 1


def test_unknown_dataset(tmp_path):
    proc = run_cli("train", "--data", "cifar10", "--out", str(tmp_path))
    assert_one_line_error(proc, "unknown dataset 'cifar10'")
    assert not any(tmp_path.iterdir())


def test_missing_mnist_directory(tmp_path):
    proc = run_cli("train", "--data", f"mnist:{tmp_path / 'nope'}", "--out", str(tmp_path))
    assert_one_line_error(proc, "does not exist", "mnist:DIR")


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    proc = run_cli("train", "--epochs", "1", "--out", str(blocker / "out"))
    assert_one_line_error(proc, "cannot write to output directory")
    assert blocker.read_text() == "keep me"


def test_bad_number_is_a_usage_error():
    proc = run_cli("train", "--epochs", "0")
    assert proc.returncode == 2 and "positive integer" in proc.stderr
