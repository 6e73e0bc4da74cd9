import json

import pytest
from conftest import run_cli


@pytest.mark.slow
def test_pipeline_end_to_end(tmp_path):
    out = tmp_path / "artifacts"
    report = tmp_path / "report.json"
    proc = run_cli(
        "pipeline",
        "--out",
        str(out),
        "--data",
        "digits",  # small and fast; the default dataset is tested on a subset in test_train
        "--epochs",
        "2",
        "--exporter",
        "torchscript",
        "--batch-sizes",
        "1,16",
        "--iterations",
        "4",
        "--warmup",
        "1",
        "--report",
        str(report),
    )
    assert proc.returncode == 0, proc.stderr
    for stage in ("[1/4] train", "[2/4] export", "[3/4] verify", "[4/4] bench"):
        assert stage in proc.stderr
    assert {p.name for p in out.iterdir()} == {"lenet.pt", "lenet.onnx", "metrics.json"}
    summary = proc.stdout.splitlines()
    header = next(line for line in summary if line.startswith("runtime"))
    assert "p50 ms @1" in header and "images/s @16" in header
    rows = {line.split()[0]: line for line in summary if line.startswith(("torch-", "ort-"))}
    assert "reference" in rows["torch-cpu"] and "✓" in rows["ort-cpu"]
    payload = json.loads(report.read_text())
    assert payload["parity_passed"] is True
    assert {m["runtime"] for m in payload["bench"]["measurements"]} >= {"torch-cpu", "ort-cpu"}

    # second run reuses the checkpoint
    again = run_cli(
        "pipeline",
        "--out",
        str(out),
        "--exporter",
        "torchscript",
        "--batch-sizes",
        "1",
        "--iterations",
        "2",
        "--quiet",
    )
    assert again.returncode == 0, again.stderr
    assert "training" not in again.stderr
