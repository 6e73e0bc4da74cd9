"""``lenet-deploy serve``: any runtime behind the Open Inference Protocol v2, with batching."""

from __future__ import annotations

import argparse

from ..limits import LIMITS, check_size
from ._common import in_range, positive_int, unsure_below
from .flags import add_model_argument, add_runtime_argument, the_runtime

_port = in_range(int, 0, 65535, what="a port in 0..65535")
_non_negative_float = in_range(float, 0.0, what="a number >= 0")
_positive_float = in_range(float, 0.001, 3600.0, what="seconds in 0.001..3600")
_MAX_BODY_MB = LIMITS.max_body_bytes // 2**20


def _cpu_list(text: str) -> tuple[int, ...]:
    from ..bench.machine import parse_cpu_list

    try:
        return parse_cpu_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _model_name(text: str) -> str:
    if not text or not all(c.isalnum() or c in "-_." for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} must be letters, digits, '-', '_' or '.'")
    return text


def register(subparsers) -> None:
    from ..artifacts.layout import DEFAULT_DIR
    from ..serve.settings import ServeSettings

    d = ServeSettings()
    p = subparsers.add_parser(
        "serve",
        help="serve a runtime over the Open Inference Protocol v2 (KServe v2 / Triton HTTP)",
        description="Serve LeNet on any runtime over OIP v2 REST (JSON and binary tensors, "
        "classification extension, stats, /metrics) with dynamic batching. Binds loopback "
        "unless --host says otherwise; SIGTERM drains in-flight requests and exits 0. "
        "Needs the serve extra: pip install 'lenet-deploy[serve]'.",
    )
    add_runtime_argument(p, "runtime to serve (default: ort-cpu)", single="ort-cpu")
    add_model_argument(
        p, f"artifacts directory or model file (default: {DEFAULT_DIR}/)", default=DEFAULT_DIR
    )
    p.add_argument(
        "--model-name",
        type=_model_name,
        default=d.model_name,
        help="the name clients use in /v2/models/NAME (KServe: the InferenceService's name; "
        f"default: {d.model_name})",
    )
    p.add_argument("--host", default=d.host, help=f"address to bind (default: {d.host})")
    p.add_argument("--port", type=_port, default=d.port, help=f"default: {d.port}; 0 = any free")
    p.add_argument(
        "--max-batch",
        type=positive_int,
        default=d.max_batch,
        help=f"most images per runtime call (default: {d.max_batch})",
    )
    p.add_argument(
        "--max-delay-ms",
        type=_non_negative_float,
        default=d.max_delay_ms,
        help=f"longest wait for a batch to fill, in ms (default: {d.max_delay_ms:g})",
    )
    p.add_argument(
        "--max-queue",
        type=positive_int,
        default=d.max_queue,
        help=f"pending requests before answering 503 (default: {d.max_queue})",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=d.threads,
        help=f"runtime intra-op threads (default: {d.threads})",
    )
    p.add_argument(
        "--max-body-mb",
        type=positive_int,
        default=d.max_body_bytes // 2**20,
        help=f"largest request body in MiB; larger get 413 (default: "
        f"{d.max_body_bytes // 2**20}, at most {_MAX_BODY_MB}: LIMITS.max_body_bytes)",
    )
    p.add_argument(
        "--cpus",
        type=_cpu_list,
        metavar="LIST",
        help="run the server on these CPUs only, e.g. 0 or 0-3 (Linux). Its event loop and "
        "batching thread hand work to each other; on one core that costs less CPU than "
        "across two, and one pinned server per core is how to scale out on one machine "
        "(default: every CPU it may use)",
    )
    p.add_argument(
        "--no-ui",
        dest="ui",
        action="store_false",
        help="no browser page (GET /) and no /v1/predict, /v1/info; OIP v2 endpoints only",
    )
    c = p.add_argument_group(
        "connections", "limits on what one client can hold (docs/serving.md, Security)"
    )
    for flag, field, what in (
        ("--header-timeout", "header_timeout_s", "seconds a request's headers may take; then 408"),
        ("--body-timeout", "body_timeout_s", "seconds a request's body may take; then 408"),
        ("--read-gap", "read_gap_s", "longest pause in seconds while a request arrives; then 408"),
        ("--idle-timeout", "idle_timeout_s", "seconds a connection may wait for a request"),
    ):
        c.add_argument(
            flag,
            type=_positive_float,
            default=getattr(d, field),
            metavar="S",
            help=f"{what}, and closed (default: {getattr(d, field):g})",
        )
    c.add_argument(
        "--max-connections",
        type=positive_int,
        default=d.max_connections,
        help=f"open connections; at the cap a new one closes the oldest idle one, else gets "
        f"503. Lowered to fit the descriptor limit (ulimit -n; default: {d.max_connections})",
    )
    c.add_argument(
        "--max-header-kb",
        type=positive_int,
        default=d.max_header_bytes // 1024,
        help=f"largest request headers in KiB; larger get 431 (default: "
        f"{d.max_header_bytes // 1024})",
    )
    c.add_argument(
        "--predict-concurrency",
        type=positive_int,
        default=d.predict_concurrency,
        help=f"/v1/predict images decoded at once (as many may wait; more get 503 at once) "
        f"(default: {d.predict_concurrency})",
    )
    p.add_argument(
        "--unsure-below",
        type=unsure_below,
        default=d.unsure_below,
        metavar="P",
        help="/v1/predict and the page answer 'unsure: A or B' below this top-1 probability; "
        f"0 = never (default: {d.unsure_below:g})",
    )
    p.add_argument(
        "--ort-web",
        metavar="DIR",
        dest="ort_web_dir",
        help="onnxruntime-web's dist/ folder: the page then runs the model in the browser "
        "(default: $LENET_DEPLOY_ORT_WEB, else the checkout's web/node_modules/onnxruntime-web/"
        "dist after `npm ci --prefix web`; without it the page asks /v1/predict)",
    )
    p.add_argument(
        "--no-fast-path",
        dest="fast_path",
        action="store_false",
        help="answer infer requests through ASGI like every other route, not inside the HTTP "
        "protocol (serve/fastpath); same answers, more CPU per request",
    )
    p.set_defaults(func=run, check_first=_check_settings)  # before the model is looked for


def _check_settings(args: argparse.Namespace) -> None:
    fix = f"give at most --max-body-mb {_MAX_BODY_MB}"
    check_size("--max-body-mb", args.max_body_mb, _MAX_BODY_MB, "max_body_bytes (MiB)", fix)


def run(args: argparse.Namespace) -> int:
    from ..errors import LenetDeployError
    from ..serve.settings import ServeSettings

    try:
        from ..serve.server import run_server
    except ImportError as exc:
        raise LenetDeployError(
            f"serve needs starlette and uvicorn ({exc}); pip install 'lenet-deploy[serve]'"
        ) from None
    from ..runtimes import get_entry, load_runtime

    _check_settings(args)
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        model_name=args.model_name,
        max_batch=args.max_batch,
        max_delay_ms=args.max_delay_ms,
        max_queue=args.max_queue,
        threads=args.threads,
        max_body_bytes=args.max_body_mb * 2**20,
        ui=args.ui,
        cpus=args.cpus,
        unsure_below=args.unsure_below,
        ort_web_dir=args.ort_web_dir,
        fast_path=args.fast_path,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        read_gap_s=args.read_gap,
        idle_timeout_s=args.idle_timeout,
        max_connections=args.max_connections,
        max_header_bytes=args.max_header_kb * 1024,
        predict_concurrency=args.predict_concurrency,
    )
    if args.cpus is not None:  # before the runtime starts its threads: they inherit it
        from ..bench.machine import pin_process

        pin_process(args.cpus)
    # Loaded before binding, so a bad --model is a one-line error, not a server that never
    # becomes ready.
    name = the_runtime(args)
    accepts = get_entry(name).accepts("threads")
    options = {"threads": settings.threads} if accepts else {}
    with load_runtime(name, args.model, **options) as runtime:
        return run_server(runtime, settings)
