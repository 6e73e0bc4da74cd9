"""Load test of `lenet-deploy serve`: batch-1 requests at concurrency 1, 8, 64, JSON and binary.

Starts the server in a subprocess on a free loopback port, keeps N requests in flight with the
library's load generator (``lenet_deploy.loadtest``), and reports requests/s, p50/p99 latency,
the average batch the server formed (from its /stats) and the server's CPU time per request
(its process's user + system time from /proc, before and after each level: robust on a shared
machine, unlike req/s). Requests carry real digit images from the test split; one answer in 16
is decoded and compared bit for bit with in-process ort-cpu logits.

Targets on 2 cores: >= 4,000 req/s JSON and >= 5,000 binary at 64 concurrent; server CPU
<= 130 us per JSON request and <= 100 us per binary one; p99 <= 25 ms at 8 concurrent.

    python benchmarks/serve_load.py [--model artifacts] [--duration 3] [--levels 1,8,64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def start_server(model: str, extra: list[str]) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "lenet_deploy", "serve", "--model", model, "--port", "0", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if " at http://" not in line:
        proc.kill()
        sys.exit(f"server did not start: {line!r}")
    return proc, line.split(" at ", 1)[1].split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts", help="artifacts dir or .onnx file")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per level")
    parser.add_argument("--levels", default="1,8,64")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("server_args", nargs="*", help="extra 'serve' options, after --")
    args = parser.parse_args()

    from lenet_deploy.data import load_dataset
    from lenet_deploy.loadtest import load_test
    from lenet_deploy.runtimes import load_runtime

    images = np.ascontiguousarray(load_dataset("digits").x_test[:256])
    with load_runtime("ort-cpu", args.model, threads=1) as rt:
        expected = np.concatenate([rt.predict(images[i : i + 1]) for i in range(len(images))])
    levels = tuple(int(t) for t in args.levels.split(","))
    proc, url = start_server(args.model, args.server_args)
    print(f"server {url} (pid {proc.pid}), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    rows = []
    try:
        for binary in (False, True):
            results = load_test(
                url, levels, args.duration, binary=binary, images=images, expected=expected,
                server_cpu=lambda: cpu_seconds(proc.pid),
            )  # fmt: skip
            rows += [r.to_dict() for r in results]
    finally:
        proc.terminate()
        code = proc.wait(30)
    print(f"{'tensors':<7} {'conc':>4} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'batch':>6} {'cpu us/req':>10} {'errors':>6} {'wrong':>5}")  # fmt: skip
    for r in rows:
        s = r["server"] or {}
        print(
            f"{r['encoding']:<7} {r['concurrency']:>4} {r['requests_per_s']:>7.0f} "
            f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {s.get('avg_batch', 0):>6.2f} "
            f"{s.get('cpu_us_per_request', 0):>10.1f} {r['errors']:>6} {r['mismatches']:>5}"
        )
    checked = sum(r["requests"] // 16 for r in rows)
    wrong = sum(r["mismatches"] for r in rows)
    print(f"answers checked bit for bit against in-process ort-cpu: ~{checked}, different: {wrong}")
    print(f"server exit status after SIGTERM: {code}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"url": url, "time": time.time(), "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
