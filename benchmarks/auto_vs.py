"""Is ``auto`` the fastest accurate deployment here? One run, contenders interleaved.

1. ``tune`` with its defaults (timed: the issue's bound is 3 minutes on 2 cores) writes
   ``MODEL/tuned.json``.
2. One ``benchmark`` call then measures, interleaved in the same rounds: ``auto`` (loading
   that file), ``ort-cpu`` fp32 as ``load_runtime`` gives it (today's default), and every
   configuration that passed tune's accuracy gate, at batch 1, 64, 256 and 1024.
3. Per batch size: auto vs ort-cpu fp32, auto vs the best accurate configuration of this run;
   the held-out accuracy of auto and of fp32.

    python benchmarks/auto_vs.py [--model artifacts] [--duration 1.5] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    from lenet_deploy.bench.machine import cpu_flags, environment
    from lenet_deploy.bench.runner import BenchSettings, benchmark
    from lenet_deploy.bench.tune import tune
    from lenet_deploy.bench.tuned import tuned_path
    from lenet_deploy.runtimes import get_entry, load_runtime
    from lenet_deploy.verify.compare import compare
    from lenet_deploy.verify.parity import dataset_for

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts")
    parser.add_argument("--batch-sizes", default="1,64,256,1024")
    parser.add_argument("--duration", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    t0 = time.perf_counter()
    result = tune(args.model, log=lambda m: print("tune:", m, flush=True))
    tune_wall = time.perf_counter() - t0
    tuned_path(result.directory).write_text(json.dumps(result.to_dict(), indent=2))
    directory = result.directory

    contenders = [load_runtime("auto", directory), load_runtime("ort-cpu", directory)]
    contenders[1].name = "ort-cpu fp32 (default)"
    for label, cand in result.candidates.items():
        runtime = get_entry(cand.runtime).create(directory / cand.file, cand.options)
        runtime.name = label
        contenders.append(runtime)
    from lenet_deploy.artifacts.pairing import read_metadata

    ds = dataset_for(read_metadata(directory / "lenet.onnx").get("dataset"))
    fp32 = contenders[1].predict(ds.x_test)
    auto_out = contenders[0].predict(ds.x_test)
    acc = compare({"t": auto_out}, {"t": fp32}, "fp32", labels={"t": ds.y_test})
    sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    settings = BenchSettings(batch_sizes=sizes, duration_s=args.duration, rounds=args.rounds)
    try:
        bench = benchmark(contenders, directory, settings)
    finally:
        for runtime in contenders:
            runtime.close()

    env = environment()
    flags = [f for f in cpu_flags() if f.startswith(("avx512_bf16", "amx", "avx512f", "avx2"))]
    print(f"\n{env['cpu']}, {env['usable_cpus']} CPUs, flags {' '.join(flags)}; "
          f"onnxruntime {env['onnxruntime']}, openvino {env['openvino']}")  # fmt: skip
    print(
        f"tune (defaults) wall time: {tune_wall:.0f} s; winners: "
        + "; ".join(f"b={w.batch_size} {w.label}" for w in result.winners)
    )
    print(f"held-out accuracy: auto {acc.accuracy:.2%}, ort-cpu fp32 {acc.reference_accuracy:.2%}")
    header = f"{'batch':>5} {'auto img/s':>11} {'ort-cpu fp32':>13} {'best accurate':>14} "
    print(header + f"{'auto/ort':>9} {'auto/best':>10}  best configuration  (auto p50 µs)")
    for size in sizes:
        rows = {m.runtime: m for m in bench.measurements if m.batch_size == size}
        auto, ort = rows["auto"], rows["ort-cpu fp32 (default)"]
        best = max(rows.values(), key=lambda m: m.throughput_ips)
        print(
            f"{size:>5} {auto.throughput_ips:>11,.0f} {ort.throughput_ips:>13,.0f} "
            f"{best.throughput_ips:>14,.0f} {auto.throughput_ips / ort.throughput_ips:>9.2f} "
            f"{auto.throughput_ips / best.throughput_ips:>10.2f}  {best.runtime}  "
            f"({auto.p50_ms * 1e3:.1f}){'  noisy' if auto.noisy or ort.noisy else ''}"
        )


if __name__ == "__main__":
    main()
