"""Up to which batch size does a 1-thread onnxruntime session beat all cores? (``ort-cpu``'s
``small_batch``, default ``ort_loader.SMALL_BATCH``.)

Three ``ort-cpu`` runtimes measured in interleaved rounds at each batch size: 1 intra-op
thread, all usable CPUs, and the default policy (1 thread up to ``small_batch`` images, then
onnxruntime's own pool). Prints p50 latency per batch size and the largest batch size at which
1 thread was still at least as fast.

    python benchmarks/ort_small_batch.py [--model artifacts] [--batch-sizes 1,2,4,8,16,32,64]
"""

from __future__ import annotations

import argparse

from lenet_deploy.bench import BenchSettings, benchmark, default_threads
from lenet_deploy.runtimes import load_runtime
from lenet_deploy.runtimes.ort_loader import SMALL_BATCH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts")
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32,64")
    parser.add_argument("--duration", type=float, default=2.0)
    args = parser.parse_args()
    cpus = default_threads()
    variants = {
        "1 thread": {"threads": 1},
        f"{cpus} threads": {"threads": cpus},
        f"policy (small_batch={SMALL_BATCH})": {},
    }
    runtimes = []
    for name, options in variants.items():
        runtime = load_runtime("ort-cpu", args.model, **options)
        runtime.name = name
        runtimes.append(runtime)
    sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    settings = BenchSettings(batch_sizes=sizes, warmup=50, duration_s=args.duration, rounds=5)
    try:
        result = benchmark(runtimes, settings=settings)
    finally:
        for runtime in runtimes:
            runtime.close()
    p50 = {(m.runtime, m.batch_size): m.p50_ms for m in result.measurements}
    print(f"{result.environment['cpu']}, {cpus} usable CPUs, onnxruntime "
          f"{result.environment['onnxruntime']}; p50 ms")  # fmt: skip
    print(f"{'batch':>5} " + " ".join(f"{name:>24}" for name in variants))
    for b in sizes:
        print(f"{b:>5} " + " ".join(f"{p50[name, b]:>24.4f}" for name in variants))
    one, many = list(variants)[:2]
    wins = [b for b in sizes if p50[one, b] <= p50[many, b]]
    print(f"1 thread at least as fast up to batch {max(wins) if wins else 'none'} "
          f"(small_batch default: {SMALL_BATCH})")  # fmt: skip


if __name__ == "__main__":
    main()
