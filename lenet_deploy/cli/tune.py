"""``lenet-deploy tune``: find the fastest accurate configuration on this machine."""

from __future__ import annotations

import argparse
import sys

from ..artifacts.layout import DEFAULT_DIR
from ..bench.tune import TuneSettings
from ._common import batch_sizes, in_range, positive_float, progress_bar, say, write_json
from .flags import add_json_arguments, add_verbosity, emit_json, json_to_stdout


def register(subparsers) -> None:
    d = TuneSettings()
    p = subparsers.add_parser(
        "tune",
        help="measure every runtime x precision x threads here; write the winners for 'auto'",
        description="Measure every runtime that runs here on every precision variant in the "
        "artifacts directory (fp32, and int8/fp16/bf16 made by 'export --precision'), at each "
        "thread count and OpenVINO performance hint, in interleaved rounds after warm-up. Only "
        "configurations passing the accuracy gate (verify's policy for their precision) are "
        "measured. Prints the table with GFLOP/s and the fraction of this machine's matmul "
        "peak, draws a plot and writes the winner per batch size to MODEL/tuned.json, which "
        "the 'auto' runtime serves.",
    )
    p.add_argument("--model", default=DEFAULT_DIR, help="artifacts directory (%(default)s/)")
    p.add_argument(
        "--batch-sizes",
        type=batch_sizes,
        default=d.batch_sizes,
        help=f"comma-separated (default: {','.join(map(str, d.batch_sizes))})",
    )
    p.add_argument(
        "--threads",
        type=batch_sizes,
        help="comma-separated thread counts to try (default: 1, 2, 4, ... and the usable CPUs)",
    )
    p.add_argument(
        "--duration",
        type=positive_float,
        default=d.duration_s,
        help="timed seconds per configuration and batch size (default: %(default)s)",
    )
    p.add_argument(
        "--rounds",
        type=in_range(int, 1, 1000, "a round count"),
        default=d.rounds,
        help="interleaved rounds (default: %(default)s)",
    )
    p.add_argument(
        "--plot",
        metavar="PATH.png",
        help="latency/throughput plot (default: MODEL/tune.png when matplotlib is installed)",
    )
    add_json_arguments(p, "the tuning result (what tuned.json holds)")
    add_verbosity(p, verbose=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._optional import missing_reason
    from ..bench.tune import tune
    from ..bench.tuned import tuned_path

    settings = TuneSettings(
        batch_sizes=args.batch_sizes,
        threads=args.threads,
        duration_s=args.duration,
        rounds=args.rounds,
    )
    with progress_bar(args, "tune") as progress:
        result = tune(args.model, settings, log=lambda m: say(args, m), progress=progress)
    if not json_to_stdout(args):
        print(tune_table(result))
    noisy = result.bench.warnings
    for warning in noisy if len(noisy) <= 3 else []:
        print(f"warning: {warning}", file=sys.stderr)
    if len(noisy) > 3:
        print(f"warning: {len(noisy)} of {len(result.bench.measurements)} measurements are "
              "noisy (IQR/median > 0.1, marked in the table): close other programs or raise "
              "--duration before trusting the winners", file=sys.stderr)  # fmt: skip
    record = result.to_dict()
    write_json(tuned_path(result.directory), record)
    say(args, f"wrote {tuned_path(result.directory)} in {result.wall_s:.0f} s")
    emit_json(args, record)
    plot = args.plot
    if plot is None and missing_reason("matplotlib", "plot", "tune's plot") is None:
        plot = str(result.directory / "tune.png")
    if plot:
        from ..bench.tune_plot import write_tune_plot

        say(args, f"wrote {write_tune_plot(result, plot)}")
    return 0


def tune_table(result) -> str:
    """Every measured configuration (winners starred), the rejected ones, then the winners."""
    from ..bench.peak import describe_peaks, peak_fractions
    from .formatting import table

    winners = {(w.batch_size, w.label) for w in result.winners}
    rows = []
    for m in sorted(result.bench.measurements, key=lambda m: (m.batch_size, -m.throughput_ips)):
        fractions = peak_fractions(m.throughput_ips, result.peaks)
        accuracy = result.accuracy.get(m.runtime)
        rows.append([
            ("* " if (m.batch_size, m.runtime) in winners else "  ") + m.runtime,
            m.batch_size, f"{m.p50_ms * 1e3:,.1f}", f"{m.throughput_ips:,.0f}",
            f"{m.gflops:.1f}",
            *(f"{fractions[p]:.1%}" if p in fractions else "-" for p in ("fp32", "bf16")),
            "-" if accuracy is None else f"{accuracy:.2%}", "noisy" if m.noisy else "",
        ])  # fmt: skip
    headers = ["configuration", "batch", "p50 µs", "img/s", "GFLOP/s", "% fp32 peak",
               "% bf16 peak", "accuracy", ""]  # fmt: skip
    lines = [table(headers, rows), describe_peaks(result.peaks)]
    lines += [f"rejected {label}: {why}" for label, why in result.rejected.items()]
    lines += [f"not measured {label}: {why}" for label, why in result.skipped.items()]
    lines += [
        f"batch {w.batch_size}: {w.label} ({w.throughput_ips:,.0f} img/s)" for w in result.winners
    ]
    return "\n".join(lines)
