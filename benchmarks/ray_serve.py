"""Ray Serve against `lenet-deploy serve`: req/s at 1, 8 and 64 concurrent, in the same run.

Starts `lenet-deploy serve` (ort-cpu, one intra-op thread) in a subprocess and a local Ray
(127.0.0.1) with the Ray Serve application of lenet_deploy.integrations.ray (ort-cpu, one
thread per replica, @serve.batch), then measures both with the library's load generator
(``lenet_deploy.bench.loadtest``: batch-1 binary requests of real digits, one answer in 16
compared bit for bit with in-process ort-cpu), alternating server by server within every
round so both see the same machine; reports the medians over ``--rounds``. No target: Ray
is the scale-out path (more replicas on more machines), not the fast path on one.

    python benchmarks/ray_serve.py [--model artifacts] [--duration 3] [--levels 1,8,64]
                                   [--rounds 3] [--replicas 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np


def start_serve(model: str) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "lenet_deploy", "serve", "--model", model, "--port", "0"]
    proc = subprocess.Popen([*cmd, "--no-ui"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if " at http://" not in line:
        proc.kill()
        sys.exit(f"lenet-deploy serve did not start: {line!r}")
    return proc, line.split(" at ", 1)[1].split()[0]


def start_ray(model: str, replicas: int) -> str:
    import ray
    from ray import serve

    from lenet_deploy.integrations.ray import RaySettings, build_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray.init(
        address="local",
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        object_store_memory=100 * 2**20,
    )
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(RaySettings(model=model, replicas=replicas)), route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=2):
                return url + "/v2/models/lenet"
        except OSError:
            time.sleep(0.5)
    sys.exit("Ray Serve did not become ready in 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts", help="artifacts dir or .onnx file")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per level")
    parser.add_argument("--levels", default="1,8,64")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=1, help="Ray Serve replicas")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()

    from lenet_deploy.bench.loadtest import load_test
    from lenet_deploy.data.datasets import load_dataset
    from lenet_deploy.runtimes import load_runtime

    images = np.ascontiguousarray(load_dataset("digits").x_test[:256])
    with load_runtime("ort-cpu", args.model, threads=1) as rt:
        expected = np.concatenate([rt.predict(images[i : i + 1]) for i in range(len(images))])
    levels = tuple(int(t) for t in args.levels.split(","))
    proc, serve_url = start_serve(args.model)
    try:
        targets = {
            "lenet-deploy serve": serve_url,
            "ray serve": start_ray(args.model, args.replicas),
        }
        print(f"{targets}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
        rows = []
        for round_ in range(1, args.rounds + 1):
            for name, url in targets.items():
                for r in load_test(url, levels, args.duration, images=images, expected=expected):
                    rows.append(dict(r.to_dict(), round=round_, server=name))
                print(f"round {round_}: {name} done", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"\nmedians of {args.rounds} round(s), binary batch-1 requests, load after "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'server':<19} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
          f"{'wrong':>5}")  # fmt: skip
    summary = []
    for name in targets:
        for level in levels:
            group = [r for r in rows if r["server"] == name and r["concurrency"] == level]
            med = {
                k: float(np.median([r[k] for r in group]))
                for k in ("requests_per_s", "p50_ms", "p99_ms")
            }
            errors = sum(r["errors"] for r in group)
            wrong = sum(r["mismatches"] for r in group)
            summary.append(
                {"server": name, "concurrency": level, **med, "errors": errors, "mismatches": wrong}
            )
            print(f"{name:<19} {level:>4} {med['requests_per_s']:>8.0f} {med['p50_ms']:>8.2f} "
                  f"{med['p99_ms']:>8.2f} {errors:>6} {wrong:>5}")  # fmt: skip
    for level in levels:
        ray_rps, serve_rps = (
            next(
                s["requests_per_s"]
                for s in summary
                if s["server"] == n and s["concurrency"] == level
            )
            for n in ("ray serve", "lenet-deploy serve")
        )
        print(f"ray / serve at {level:>2} concurrent: {ray_rps / serve_rps:.2f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "summary": summary}, fh, indent=2)


if __name__ == "__main__":
    main()
