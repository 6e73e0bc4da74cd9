"""ort-web: parity with Python onnxruntime, cost of the trip from Python, and the WebGPU check.

1. Parity: ort-web wasm (1 and 2 threads) against ort-cpu on the held-out test split of the
   dataset the model records. Target: max |diff| <= 1e-5 and identical top-1 on every image.
2. Latency, in interleaved rounds (raw samples, p50): end to end from Python (``predict``,
   validation and WebSocket included) and in the page (``session.run``, ``last_page_ms``).
   Targets: end to end <= 1 ms at b=1, and <= 4x the in-page time at b=256.
3. WebGPU, where this Chromium offers an adapter (the SwiftShader software one, headless): the
   native WebGPU build (ort.webgpu.min.js) must be refused at load with its numbers, and the JS
   kernels (ort.min.js) on the same adapter must pass. Software-adapter speeds mean nothing.

    python benchmarks/ort_web.py [--model artifacts] [--rounds 10] [--calls 50]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from lenet_deploy.artifacts.layout import ArtifactKind, resolve
from lenet_deploy.artifacts.pairing import read_metadata
from lenet_deploy.bench.machine import environment
from lenet_deploy.data.datasets import load_dataset
from lenet_deploy.errors import ParityError, RuntimeUnavailableError
from lenet_deploy.runtimes import load_runtime
from lenet_deploy.verify.compare import compare

MAX_DIFF, E2E_B1_MS, RATIO_B256 = 1e-5, 1.0, 4.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def parity(model, x, y) -> list[bool]:
    with load_runtime("ort-cpu", model) as reference:
        want = reference.predict(x)
    oks = []
    for threads in (1, 2):
        with load_runtime("ort-web", model, threads=threads) as rt:
            result = compare(rt.predict(x), want, "fp32", labels=y)
        ok = result.passed and result.max_abs_diff <= MAX_DIFF and result.top1_agreement == 1.0
        oks.append(ok)
        print(
            f"parity wasm {threads} thread(s) vs ort-cpu, {len(x)} held-out images: max |diff| "
            f"{result.max_abs_diff:.2e}, top-1 agreement {result.top1_agreement:.2%}, accuracy "
            f"{result.accuracy:.2%} vs {result.reference_accuracy:.2%} ({verdict(ok)})"
        )
    return oks


def latency(model, x, rounds: int, calls: int) -> list[bool]:
    samples: dict[int, tuple[list[float], list[float]]] = {1: ([], []), 256: ([], [])}
    batches = {b: np.ascontiguousarray(np.resize(x, (b, 1, 32, 32))) for b in samples}
    with load_runtime("ort-web", model) as rt:
        for batch in batches.values():  # warm-up
            for _ in range(20):
                rt.predict(batch)
        for _ in range(rounds):
            for b, batch in batches.items():
                e2e, page = samples[b]
                for _ in range(calls):
                    t0 = time.perf_counter()
                    rt.predict(batch)
                    e2e.append((time.perf_counter() - t0) * 1e3)
                    page.append(rt.last_page_ms)
    p50 = {b: (float(np.median(e)), float(np.median(p))) for b, (e, p) in samples.items()}
    for b, (e2e, page) in p50.items():
        iqr = np.subtract(*np.percentile(samples[b][0], [75, 25]))
        print(
            f"wasm 1 thread b={b:<3}: end to end p50 {e2e:.3f} ms (IQR {iqr:.3f}), in page p50 "
            f"{page:.3f} ms, ratio {e2e / page:.2f}, {b / e2e * 1e3:,.0f} img/s end to end"
        )
    ok_b1, ratio = p50[1][0] <= E2E_B1_MS, p50[256][0] / p50[256][1]
    print(f"target end to end b=1 <= {E2E_B1_MS} ms: {verdict(ok_b1)}")
    print(f"target b=256 end to end <= {RATIO_B256}x in page ({ratio:.2f}x): "
          f"{verdict(ratio <= RATIO_B256)}")  # fmt: skip
    return [ok_b1, ratio <= RATIO_B256]


def webgpu(model) -> list[bool]:
    try:
        with load_runtime("ort-web", model, backend="webgpu") as rt:
            print(f"webgpu adapter: {rt.info()['adapter']}; ort.min.js passed the load check")
    except RuntimeUnavailableError as exc:
        print(f"webgpu: not measured, {exc}")
        return []
    try:
        load_runtime("ort-web", model, backend="webgpu", build="ort.webgpu.min.js").close()
    except ParityError as exc:
        c = exc.comparison
        print(
            f"webgpu ort.webgpu.min.js refused at load: max |diff| {c.max_abs_diff:.3g}, "
            f"top-1 agreement {c.top1_agreement:.2%} over {c.images} images (PASS: refused)"
        )
        return [True]
    print("webgpu ort.webgpu.min.js passed its load check (FAIL: expected the conv2 bug)")
    return [False]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    onnx = resolve(args.model, ArtifactKind.ONNX)
    data = load_dataset(read_metadata(onnx).get("dataset") or "digits")
    env = environment()
    print(f"{env['cpu']}, load average {os.getloadavg()[0]:.2f}, dataset {data.name}")
    oks = parity(onnx, data.x_test, data.y_test)
    oks += latency(onnx, data.x_test, args.rounds, args.calls)
    oks += webgpu(onnx)
    print(f"load average {os.getloadavg()[0]:.2f}; " + ("all PASS" if all(oks) else "some FAIL"))


if __name__ == "__main__":
    main()
