"""The documented limits: what every reader and command refuses before it allocates.

One frozen dataclass, ``LIMITS``; every refusal raises :class:`LimitError` whose message names
the limit, the value found and the fix. Values are sized for LeNet: its checkpoint is ~250 KB,
MNIST is 70,000 images, and one image is 4 KiB of float32 model input. Raising a limit is a
code change (``dataclasses.replace(LIMITS, ...)`` for callers that pass ``limits=``), on
purpose: a file must never choose how much memory reading it costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from .errors import LenetDeployError, LimitError


@dataclass(frozen=True)
class Limits:
    #: Images per engine call (the cap on every runtime's ``chunk_size``); larger batches
    #: (``predict``, ``verify``, bench, the API) run in chunks (``chunks.predict_in_chunks``).
    engine_chunk: int = 1024
    #: Images one ``predict`` command or API/server request may carry in total.
    max_images: int = 100_000
    #: Largest ``bench --batch-sizes`` value: one input batch (256 MiB at this size), while a
    #: CPU engine still sees at most ``engine_chunk`` images per call.
    max_bench_batch: int = 65_536
    #: Pixels (width x height) of one image file or ``.npy`` image, checked from the header.
    max_image_pixels: int = 4096 * 4096
    #: Bytes of one ``.npy`` file's data, checked from its header before reading.
    max_npy_bytes: int = 256 * 1024 * 1024
    #: Size of a checkpoint (``.pt``) file.
    max_checkpoint_bytes: int = 64 * 1024 * 1024
    #: Each zip member of a ``.pt``, declared and inflated.
    max_checkpoint_member_bytes: int = 16 * 1024 * 1024
    #: Zip members of a ``.pt``.
    max_checkpoint_members: int = 256
    #: What one gzip stream (an MNIST ``.gz``) may inflate to.
    max_gzip_inflated_bytes: int = 256 * 1024 * 1024
    #: Images per MNIST IDX file (dataset split).
    max_dataset_images: int = 100_000
    #: Bytes of one request body a server accepts: the most ``serve --max-body-mb`` (and
    #: ``ServeSettings.max_body_bytes``) may be set to; ``serve_body_bytes`` is the default.
    max_body_bytes: int = 64 * 1024 * 1024
    #: One request body, by default (``serve --max-body-mb 8``); larger get 413.
    serve_body_bytes: int = 8 * 1024 * 1024
    #: Pixels of one image posted to a server's ``/v1/predict`` (at most ``max_image_pixels``).
    serve_image_pixels: int = 1024 * 1024
    #: Requests a server holds pending before it answers 503 (the default of ``--max-queue``).
    serve_max_queue: int = 1024
    #: Files hashed when a folder is searched for an ONNX file's checkpoint (or the reverse).
    max_pair_candidates: int = 64
    #: ``serve --header-timeout``: seconds a request's headers may take to arrive (then 408,
    #: closed). The ``serve_*`` limits are defaults a server may set lower or higher
    #: (docs/serving.md, Security).
    serve_header_timeout_s: float = 10.0
    #: ``serve --body-timeout``: seconds a request's body may take to arrive (then 408).
    serve_body_timeout_s: float = 20.0
    #: ``serve --read-gap``: the longest pause, in seconds, while a request arrives (then 408).
    serve_read_gap_s: float = 5.0
    #: ``serve --idle-timeout``: seconds a connection may wait for a request, after an answer
    #: too (uvicorn's keep-alive timeout); then closed.
    serve_idle_timeout_s: float = 5.0
    #: ``serve --max-header-kb``: bytes of one request's headers (431 beyond).
    serve_max_header_bytes: int = 32 * 1024
    #: ``serve --max-connections``: open connections; at the cap a new one closes the oldest
    #: idle one, or gets 503 when none is idle. Lowered at start to fit the descriptor limit
    #: (``ulimit -n``, raised to its hard limit where allowed).
    serve_max_connections: int = 1000
    #: Descriptors a server keeps beside its connections (at least; or 1/8 of the limit).
    serve_reserved_descriptors: int = 64
    #: ``serve --predict-concurrency``: ``/v1/predict`` images decoded at once, as many waiting
    #: (503 beyond).
    serve_predict_concurrency: int = 2
    #: ``--seed`` (and >= 0).
    max_seed: int = 2**63 - 1
    #: ``--epochs``.
    max_epochs: int = 10_000
    #: ``train --batch-size``.
    max_train_batch: int = 2**16
    #: ``--lr`` (finite, > 0).
    max_lr: float = 10.0
    #: ``bench --duration`` in seconds (finite, > 0).
    max_duration_s: float = 3600.0
    #: ``bench --iterations``.
    max_iterations: int = 10**7
    #: ``bench --warmup`` (>= 0).
    max_warmup: int = 10**6
    #: ``--threads``, and every runtime's ``threads`` option.
    max_threads: int = 1024
    #: Interleaved rounds of one benchmark (``BenchSettings.rounds``).
    max_rounds: int = 1000
    #: ``bench --concurrency``: requests in flight at one level (one connection each).
    max_concurrency: int = 1024
    #: ``bench --concurrency``: levels in one run, ranges such as ``1:64:8`` expanded.
    max_concurrency_levels: int = 64

    def describe(self) -> list[tuple[str, Any]]:
        """(name, value) for every limit, in definition order (for the README and reports)."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


LIMITS = Limits()


def check_size(
    what: str,
    value: int,
    limit: int,
    name: str,
    fix: str,
    error: type[LenetDeployError] = LimitError,
) -> None:
    """Raise ``error`` if ``value`` > ``limit``; ``name`` is the Limits field, ``fix`` says how.

    ``error`` lets a reader keep its own error type (DataError, ImageError...)."""
    if value > limit:
        raise error(f"{what}: {value:,} exceeds the limit {name} = {limit:,}; {fix}")


def check_number(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    integer: bool = False,
    low_inclusive: bool = True,
    limit: str = "",
) -> None:
    """Refuse a setting that is not a finite number in [low, high] (or (low, high])."""
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        kind = "an integer" if integer else "a number"
        raise LimitError(f"{name} must be {kind}; got {value!r}")
    above = value >= low if low_inclusive else value > low
    if not (math.isfinite(value) and above and value <= high):
        bracket = "[" if low_inclusive else "("
        where = f" (limit {limit})" if limit else ""
        raise LimitError(
            f"{name} must be a finite number in {bracket}{_number(low)}, {_number(high)}]"
            f"{where}; got {_number(value)}"
        )


def _number(value: float) -> str:
    """Integers with thousands separators (a byte limit reads 67,108,864), floats as %g."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def check_tolerances(atol: float | None, rtol: float | None) -> None:
    """atol/rtol for parity: finite and >= 0 (NaN would fail everything, inf pass everything);
    None keeps the policy's value."""
    for name, value in (("atol", atol), ("rtol", rtol)):
        if value is not None:
            check_number(name, value, 0.0, 1e3)


def check_train_config(cfg: Any, limits: Limits = LIMITS) -> None:
    check_number("epochs", cfg.epochs, 1, limits.max_epochs, integer=True, limit="max_epochs")
    check_number(
        "batch_size",
        cfg.batch_size,
        1,
        limits.max_train_batch,
        integer=True,
        limit="max_train_batch",
    )
    check_number("lr", cfg.lr, 0.0, limits.max_lr, low_inclusive=False, limit="max_lr")
    check_number("weight_decay", cfg.weight_decay, 0.0, 1.0)
    check_number("seed", cfg.seed, 0, limits.max_seed, integer=True, limit="max_seed")
    check_number(
        "threads", getattr(cfg, "threads", 1), 1, limits.max_threads, integer=True,
        limit="max_threads",
    )  # fmt: skip


def check_concurrency(levels: int, largest: int, limits: Limits = LIMITS) -> None:
    """``bench --concurrency``: ``levels`` levels (ranges expanded), at most ``largest`` requests
    in flight; checked before a range is expanded."""
    check_number("concurrency levels", levels, 1, limits.max_concurrency_levels, integer=True,
                 limit="max_concurrency_levels")  # fmt: skip
    check_number("concurrency", largest, 1, limits.max_concurrency, integer=True,
                 limit="max_concurrency")  # fmt: skip


def check_bench_settings(settings: Any, limits: Limits = LIMITS) -> None:
    sizes = tuple(settings.batch_sizes)
    if not sizes:
        raise LimitError("batch sizes: give at least one, e.g. --batch-sizes 1,8,64")
    for b in sizes:
        check_number(
            "batch size", b, 1, limits.max_bench_batch, integer=True, limit="max_bench_batch"
        )
    check_number("warmup", settings.warmup, 0, limits.max_warmup, integer=True, limit="max_warmup")
    if settings.iterations is not None:
        check_number(
            "iterations", settings.iterations, 1, limits.max_iterations, integer=True,
            limit="max_iterations",
        )  # fmt: skip
    check_number(
        "duration",
        settings.duration_s,
        0.0,
        limits.max_duration_s,
        low_inclusive=False,
        limit="max_duration_s",
    )
    check_number("rounds", settings.rounds, 1, limits.max_rounds, integer=True, limit="max_rounds")
    check_threads(settings.threads, limits)


def check_threads(threads: Any, limits: Limits = LIMITS) -> None:
    """``threads``: None (the engine's own choice) or an integer in [1, max_threads]."""
    if threads is not None:
        check_number("threads", threads, 1, limits.max_threads, integer=True, limit="max_threads")


def check_serve_settings(settings: Any, limits: Limits = LIMITS) -> None:
    """A server's limits: each at least 1 and at most the limit it stands for."""
    check_number(
        "max_body_bytes", settings.max_body_bytes, 1, limits.max_body_bytes, integer=True,
        limit="max_body_bytes",
    )  # fmt: skip
    check_number(
        "max_image_pixels", settings.max_image_pixels, 1, limits.max_image_pixels,
        integer=True, limit="max_image_pixels",
    )  # fmt: skip
    check_number("max_queue", settings.max_queue, 1, math.inf, integer=True)
    check_threads(settings.threads, limits)
    for name in ("header_timeout_s", "body_timeout_s", "read_gap_s", "idle_timeout_s"):
        check_number(name, getattr(settings, name), 0.0, limits.max_duration_s, low_inclusive=False)
    for name in ("max_header_bytes", "max_connections", "predict_concurrency"):
        check_number(name, getattr(settings, name), 1, math.inf, integer=True)
