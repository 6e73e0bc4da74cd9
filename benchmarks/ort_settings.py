"""Which onnxruntime settings make ``ort-cpu`` fastest here? Interleaved, one process.

Each variant is a differently configured ``ort-cpu`` runtime (or a raw session for settings
the adapter does not expose); all are measured at each batch size in interleaved rounds by
``lenet_deploy.bench.runner.benchmark``, so they share the machine's noise. Prints p50 latency,
throughput, GFLOP/s and the fraction of this machine's fp32 matmul peak, measured in the same
run (``lenet_deploy.bench.peak``: numpy and torch, the faster kept).

    python benchmarks/ort_settings.py [--model artifacts] [--batch-sizes 1,256] [--duration 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

from lenet_deploy.bench.runner import BenchSettings, benchmark, default_threads
from lenet_deploy.runtimes import Runtime
from lenet_deploy.spec import FLOPS_PER_IMAGE


class RawSession(Runtime):
    """A bare InferenceSession with arbitrary SessionOptions (for settings the adapter lacks)."""

    def __init__(self, name, path, configure):
        import onnxruntime as ort

        options = ort.SessionOptions()
        configure(options)
        self.name = name
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _predict(self, x):
        return self._session.run(["logits"], {"image": x})[0]

    def info(self):
        return {
            "name": self.name,
            "device": self.device,
            "threads": self._session.get_session_options().intra_op_num_threads,
        }


def variants(model: str, threads: int, tmp: str):
    from lenet_deploy.runtimes import load_runtime

    base = {"threads": threads}
    optimized = os.path.join(tmp, "lenet.opt.onnx")
    load_runtime("ort-cpu", model, optimized_model_path=optimized, **base).close()

    def named(name, runtime):
        runtime.name = name
        return runtime

    out = [
        named("default (all, spin)", load_runtime("ort-cpu", model, **base)),
        named("threads=1", load_runtime("ort-cpu", model, threads=1)),
        named("no spinning", load_runtime("ort-cpu", model, spinning=False, **base)),
        named("opt=disable", load_runtime("ort-cpu", model, graph_optimization="disable", **base)),
        named("opt=basic", load_runtime("ort-cpu", model, graph_optimization="basic", **base)),
        named("opt=layout", load_runtime("ort-cpu", model, graph_optimization="layout", **base)),
        named(
            "opt=extended", load_runtime("ort-cpu", model, graph_optimization="extended", **base)
        ),
        named(
            "saved optimised model",
            load_runtime("ort-cpu", optimized, graph_optimization="disable", **base),
        ),
    ]

    def no_mem_pattern(o):
        o.intra_op_num_threads = threads
        o.enable_mem_pattern = False

    def no_arena(o):
        o.intra_op_num_threads = threads
        o.enable_cpu_mem_arena = False

    def denormal_zero(o):
        o.intra_op_num_threads = threads
        o.add_session_config_entry("session.set_denormal_as_zero", "1")

    def pinned(o):  # the extra intra-op thread on CPU 2 (1-based), the caller's on its own
        o.intra_op_num_threads = threads
        if threads == 2:
            o.add_session_config_entry("session.intra_op_thread_affinities", "2")

    def sequential_no_spin_between(o):
        o.intra_op_num_threads = threads
        o.add_session_config_entry("session.force_spinning_stop", "0")
        o.add_session_config_entry("session.dynamic_block_base", "4")

    path = out[0].path
    out += [
        RawSession("pinned intra-op thread", path, pinned),
        RawSession("dynamic block base 4", path, sequential_no_spin_between),
        RawSession("no mem pattern", path, no_mem_pattern),
        RawSession("no cpu mem arena", path, no_arena),
        RawSession("denormals as zero", path, denormal_zero),
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts")
    parser.add_argument("--batch-sizes", default="1,256")
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args()
    from lenet_deploy.bench.peak import describe_peaks, measure_peaks

    threads = default_threads()
    peaks = measure_peaks()
    roofline_gflops = peaks["fp32"].gflops
    with tempfile.TemporaryDirectory() as tmp:
        runtimes = variants(args.model, threads, tmp)
        settings = BenchSettings(
            batch_sizes=tuple(int(b) for b in args.batch_sizes.split(",")),
            warmup=50,
            duration_s=args.duration,
            rounds=5,
            threads=threads,
        )
        result = benchmark(runtimes, settings=settings)
        for rt in runtimes:
            rt.close()
    roof_ips = roofline_gflops * 1e9 / FLOPS_PER_IMAGE
    print(
        f"{result.environment['cpu']}, {threads} threads, onnxruntime "
        f"{result.environment['onnxruntime']}; {describe_peaks(peaks)}; the fp32 peak "
        f"= {roof_ips:,.0f} images/s"
    )
    print(
        f"{'variant':<24} {'batch':>5} {'p50 ms':>9} {'IQR/p50':>8} {'images/s':>10} "
        f"{'GFLOP/s':>8} {'% peak':>8}"
    )
    for m in result.measurements:
        print(
            f"{m.runtime:<24} {m.batch_size:>5} {m.p50_ms:>9.4f} {m.iqr_ms / m.p50_ms:>8.2f} "
            f"{m.throughput_ips:>10,.0f} {m.gflops:>8.1f} {m.gflops / roofline_gflops:>8.1%}"
        )
    best = max(
        (m for m in result.measurements if m.batch_size == max(settings.batch_sizes)),
        key=lambda m: m.throughput_ips,
    )
    print(
        f"best at batch {best.batch_size}: {best.runtime} "
        f"({best.gflops / roofline_gflops:.1%} of the measured fp32 matmul peak)"
    )
    _ = np  # numpy is imported for the runtimes' arrays


if __name__ == "__main__":
    main()
