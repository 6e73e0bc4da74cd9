"""Footprint of a torch-free app: import + load_runtime("ort-cpu") + first predict.

Runs the app in fresh interpreters under ``/usr/bin/time -v`` and reports wall time and peak
RSS (median of the runs), plus the same for a bare ``import numpy, onnxruntime`` as the floor.
Targets: <= 0.6 s wall and <= 120 MB peak RSS; torch never imported.

    python benchmarks/ort_footprint.py [--model artifacts] [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

APP = """
import sys
import numpy as np
from lenet_deploy.runtimes import load_runtime
rt = load_runtime("ort-cpu", sys.argv[1])
label = rt.predict_labels(np.zeros((1, 1, 32, 32), np.float32))
assert "torch" not in sys.modules, "torch was imported"
"""
FLOOR = "import numpy, onnxruntime"


def measure(code: str, *args: str) -> tuple[float, float]:
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-c", code, *args], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    hours = float(wall.group(1) or 0)
    seconds = hours * 3600 + float(wall.group(2)) * 60 + float(wall.group(3))
    rss_kb = float(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return seconds, rss_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not Path(args.model).exists():
        raise SystemExit(f"{args.model} not found: run 'lenet-deploy export' first")
    measure(APP, args.model)  # warm the page cache
    cases = [
        ("numpy+onnxruntime import (floor)", FLOOR, []),
        ("app: import + load + 1st predict", APP, [args.model]),
    ]
    for label, code, extra in cases:
        samples = [measure(code, *extra) for _ in range(args.runs)]
        wall = statistics.median(s[0] for s in samples)
        rss = statistics.median(s[1] for s in samples)
        print(f"{label:<36} wall {wall:5.2f} s   peak RSS {rss:6.1f} MB   ({args.runs} runs)")
    ok = wall <= 0.6 and rss <= 120
    print(f"targets: wall <= 0.6 s, peak RSS <= 120 MB, no torch: {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
