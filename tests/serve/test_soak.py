"""A short soak (benchmarks/serve_soak.py, seconds): valid answers bit for bit, every invalid
payload its 4xx, quitters and slow clients, and nothing left behind (descriptors, pending)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_soak.py"


@pytest.mark.slow
def test_a_short_soak_leaves_nothing_behind(exported_dir, tmp_path):
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, str(SOAK), "--model", str(exported_dir), "--duration", "4",
         "--warmup", "1", "--clients", "30", "--bad-clients", "4", "--quitters", "4",
         "--slow", "4", "--json", str(out), "--", "--header-timeout", "1.5", "--read-gap", "1"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["wrong"] == 0 and result["unexpected"] == 0, result
    assert result["valid"] > 100 and result["invalid"] > 10 and result["quit"] > 10
    assert result["slow"] >= 4  # each slow client timed out at least once (408)
    assert result["fds_after"] <= result["fds_before"] and result["pending_at_end"] == 0
    assert result["server_exit"] == 0
