"""Up to which batch size do few onnxruntime threads beat all cores? (``ort-cpu``'s
``small_batch``, default ``ort_loader.SMALL_BATCH``, served by ``SMALL_BATCH_THREADS``.)

Four ``ort-cpu`` runtimes measured in interleaved rounds at each batch size: 1 and 2 intra-op
threads, all usable CPUs, and the default policy (2 threads up to ``small_batch`` images on
hosts with more than 2 CPUs, then onnxruntime's own pool). Prints p50 latency per batch size
and the largest batch size at which the small-batch thread count was still at least as fast
as all CPUs.

    python benchmarks/ort_small_batch.py [--model artifacts] [--batch-sizes 1,2,4,8,16,32,64]
"""

from __future__ import annotations

import argparse

from lenet_deploy.bench.runner import BenchSettings, benchmark, default_threads
from lenet_deploy.runtimes import load_runtime
from lenet_deploy.runtimes.ort_loader import SMALL_BATCH, SMALL_BATCH_THREADS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts")
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32,64")
    parser.add_argument("--duration", type=float, default=2.0)
    args = parser.parse_args()
    cpus = default_threads()
    variants = {
        "1 thread": {"threads": 1},
        "2 threads": {"threads": 2},
        f"all ({cpus} threads)": {"threads": cpus},
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
    few, many = list(variants)[SMALL_BATCH_THREADS - 1], list(variants)[2]
    wins = []
    for b in sorted(sizes):  # the crossover: the first batch size where all CPUs win
        if p50[few, b] > p50[many, b]:
            break
        wins.append(b)
    print(f"{few} at least as fast as all CPUs up to batch {wins[-1] if wins else 'none'} "
          f"(small_batch default: {SMALL_BATCH})")  # fmt: skip


if __name__ == "__main__":
    main()
