"""Overhead of the ``ort-cpu`` and ``ov-cpu`` adapters over their raw engines at batch 1.

Each adapter's ``Runtime.predict`` (validation, finiteness check, engine call) is timed against
the engine's own public API on the same model file with the same settings, in the same
process: ``onnxruntime.InferenceSession.run`` and an OpenVINO infer request called the
documented way (``infer({0: x}, share_inputs=True)``); for reference, ov-cpu is also timed
against a request driven as the adapter drives it (a shared tensor, then ``infer()``). Calls are
interleaved (adapter, raw, raw, adapter, ...) so machine noise hits both alike. Target:
adapter p50 <= 1.10 x raw p50.

    python benchmarks/adapter_overhead.py [--model artifacts] [--iterations 20000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

TARGET = 1.10


def raw_ort(path: str, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(["logits"], {"image": x})[0]


def raw_openvino(path: str, threads: int):
    import openvino as ov

    from lenet_deploy.runtimes.openvino import OpenVinoOptions

    config = OpenVinoOptions(threads=threads).config()
    request = ov.Core().compile_model(path, "CPU", config).create_infer_request()

    def run(x):
        request.infer({0: x}, share_inputs=True)
        return request.get_output_tensor(0).data.copy()

    return run


def raw_openvino_tensor(path: str, threads: int):
    """The lighter way to drive a request (what ov-cpu does): a shared tensor, then infer()."""
    import openvino as ov

    from lenet_deploy.runtimes.openvino import OpenVinoOptions

    config = OpenVinoOptions(threads=threads).config()
    request = ov.Core().compile_model(path, "CPU", config).create_infer_request()

    def run(x):
        request.set_input_tensor(ov.Tensor(x, shared_memory=True))
        request.infer()
        return request.get_output_tensor(0).data.copy()

    return run


def interleaved(adapter, raw, x, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    for _ in range(500):  # warm-up both
        adapter(x)
        raw(x)
    adapter_t, raw_t = np.empty(iterations), np.empty(iterations)
    clock = time.perf_counter_ns
    for i in range(iterations):
        # Alternate which goes first so neither always runs right after the other.
        if i % 2:
            t0 = clock()
            adapter(x)
            t1 = clock()
            raw(x)
            t2 = clock()
            adapter_t[i], raw_t[i] = t1 - t0, t2 - t1
        else:
            t0 = clock()
            raw(x)
            t1 = clock()
            adapter(x)
            t2 = clock()
            raw_t[i], adapter_t[i] = t1 - t0, t2 - t1
    return adapter_t / 1e3, raw_t / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts", help="artifacts dir or .onnx file")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runtimes", default="ort-cpu,ov-cpu")
    args = parser.parse_args()

    from lenet_deploy.runtimes import load_runtime

    raws = {"ort-cpu": raw_ort, "ov-cpu": raw_openvino}
    x = np.random.default_rng(0).random((args.batch, 1, 32, 32), dtype=np.float32)
    print(f"batch {args.batch}, {args.threads} thread(s), {args.iterations} interleaved calls each")
    verdicts = []
    for name in args.runtimes.split(","):
        with load_runtime(name, args.model, threads=args.threads) as runtime:
            raw = raws[name](str(runtime.path), args.threads)
            np.testing.assert_allclose(runtime.predict(x), raw(x), rtol=1e-5, atol=1e-6)
            adapter_t, raw_t = interleaved(runtime.predict, raw, x, args.iterations)
        a50, r50 = np.median(adapter_t), np.median(raw_t)
        ratio = a50 / r50
        verdicts.append(ratio <= TARGET)
        print(
            f"{name:8} raw p50 {r50:8.2f} us  adapter p50 {a50:8.2f} us  "
            f"p90 {np.percentile(raw_t, 90):8.2f} / {np.percentile(adapter_t, 90):8.2f} us  "
            f"ratio {ratio:.3f} (target <= {TARGET}: {'PASS' if ratio <= TARGET else 'FAIL'})"
        )
    if "ov-cpu" in args.runtimes.split(","):
        # For reference, not the target: the adapter against raw calls shaped like its own.
        with load_runtime("ov-cpu", args.model, threads=args.threads) as runtime:
            raw = raw_openvino_tensor(str(runtime.path), args.threads)
            adapter_t, raw_t = interleaved(runtime.predict, raw, x, args.iterations)
        a50, r50 = np.median(adapter_t), np.median(raw_t)
        print(
            f"{'ov-cpu':8} vs the same calls raw (set_input_tensor + infer): raw p50 {r50:.2f} us"
            f"  adapter p50 {a50:.2f} us  ratio {a50 / r50:.3f} (the checks' own cost)"
        )
    print("all PASS" if all(verdicts) else "some FAIL")


if __name__ == "__main__":
    main()
