"""Do large batches fall off a throughput cliff? Images/s at batch 1024 vs 256, per runtime.

Every available CPU runtime is measured by ``lenet_deploy.bench.runner.benchmark`` (interleaved
rounds, warm-up, raw samples) at batch 256 and 1024 with the same thread count. Target:
throughput at 1024 >= 0.9 x throughput at 256 for every CPU runtime (the adapters run large
batches in cache-sized chunks).

    python benchmarks/large_batch.py [--model artifacts] [--duration 6] [--threads N]
"""

from __future__ import annotations

import argparse

from lenet_deploy.bench.runner import BenchSettings, benchmark, default_threads
from lenet_deploy.runtimes import available_runtimes, get_entry

TARGET = 0.9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts")
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-sizes", default="64,256,1024")
    args = parser.parse_args()
    names = [a.name for a in available_runtimes() if a and get_entry(a.name).device == "cpu"]
    sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    settings = BenchSettings(
        batch_sizes=sizes,
        warmup=20,
        duration_s=args.duration,
        rounds=6,
        threads=args.threads or default_threads(),
    )
    result = benchmark(names, args.model, settings)
    env = result.environment
    print(f"{env['cpu']}, {settings.threads} threads, {args.duration} s per cell")
    cells = {(m.runtime, m.batch_size): m for m in result.measurements}
    verdicts = []
    for name in names:
        row = "  ".join(f"@{b} {cells[name, b].throughput_ips:>9,.0f}" for b in sizes)
        ratio = cells[name, 1024].throughput_ips / cells[name, 256].throughput_ips
        verdicts.append(ratio >= TARGET)
        noisy = any(cells[name, b].noisy for b in sizes)
        print(
            f"{name:10} images/s {row}  1024/256 = {ratio:.2f} "
            f"({'PASS' if ratio >= TARGET else 'FAIL'}{', noisy' if noisy else ''})"
        )
    print("all PASS" if all(verdicts) else "some FAIL")


if __name__ == "__main__":
    main()
