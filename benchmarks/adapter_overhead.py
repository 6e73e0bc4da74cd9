"""Overhead of the ``ort-cpu`` adapter over a raw ``onnxruntime.InferenceSession.run``.

Both run the same ONNX file with the same session options in the same process; calls are
interleaved (adapter, raw, raw, adapter, ...) so machine noise hits both alike. Target: adapter
p50 at batch 1 <= 1.05 x raw p50.

    python benchmarks/adapter_overhead.py [--model artifacts] [--iterations 20000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts", help="artifacts dir or .onnx file")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import onnxruntime as ort

    from lenet_deploy.runtimes import load_runtime

    runtime = load_runtime("ort-cpu", args.model, threads=args.threads)
    raw = ort.InferenceSession(
        str(runtime.path),
        runtime._session.get_session_options(),
        providers=["CPUExecutionProvider"],
    )
    x = np.random.default_rng(0).random((args.batch, 1, 32, 32), dtype=np.float32)
    feed = {"image": x}
    for _ in range(500):  # warm-up both
        runtime.predict(x)
        raw.run(["logits"], feed)
    adapter_t = np.empty(args.iterations)
    raw_t = np.empty(args.iterations)
    clock = time.perf_counter_ns
    for i in range(args.iterations):
        # Alternate which goes first so neither always runs right after the other.
        if i % 2:
            t0 = clock()
            runtime.predict(x)
            t1 = clock()
            raw.run(["logits"], feed)
            t2 = clock()
            adapter_t[i], raw_t[i] = t1 - t0, t2 - t1
        else:
            t0 = clock()
            raw.run(["logits"], feed)
            t1 = clock()
            runtime.predict(x)
            t2 = clock()
            raw_t[i], adapter_t[i] = t1 - t0, t2 - t1
    a50, r50 = np.median(adapter_t) / 1e3, np.median(raw_t) / 1e3
    a90, r90 = np.percentile(adapter_t, 90) / 1e3, np.percentile(raw_t, 90) / 1e3
    ratio = a50 / r50
    print(
        f"batch {args.batch}, {args.iterations} interleaved calls each, onnxruntime "
        f"{ort.__version__}"
    )
    print(f"raw InferenceSession.run  p50 {r50:8.2f} us   p90 {r90:8.2f} us")
    print(f"ort-cpu Runtime.predict   p50 {a50:8.2f} us   p90 {a90:8.2f} us")
    verdict = "PASS" if ratio <= 1.05 else "FAIL"
    print(f"ratio p50 adapter/raw = {ratio:.3f}  (target <= 1.05: {verdict})")


if __name__ == "__main__":
    main()
