"""``ServeSettings``: what ``lenet-deploy serve`` and ``create_app`` are configured with.

Plain data with no server imports, so the command line can show the defaults without
starlette or uvicorn installed. The limits among them default to, and may not exceed, those in
``lenet_deploy.limits.LIMITS``; a value beyond one raises LimitError when the settings are made.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..images.answer import UNSURE_BELOW
from ..limits import LIMITS, check_serve_settings


@dataclass(frozen=True)
class ServeSettings:
    """Server settings; defaults are the command's defaults. Times in ms, sizes in bytes."""

    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "lenet"
    model_version: str = "1"
    max_batch: int = 64  # images per runtime call
    max_delay_ms: float = 0.5  # longest wait after the oldest queued request for more
    max_queue: int = LIMITS.serve_max_queue  # pending requests before 503
    threads: int | None = 1  # runtime intra-op threads (None: the runtime's default)
    max_body_bytes: int = LIMITS.serve_body_bytes  # larger bodies get 413 unread
    drain_timeout_s: float = 30.0  # SIGTERM: longest wait for in-flight requests
    ui: bool = True  # the drawing page and /v1/predict, /v1/info (serve/ui.py)
    max_image_pixels: int = LIMITS.serve_image_pixels  # /v1/predict: larger get 400 undecoded
    #: Connections (lenet_deploy/limits.py has the reasons): read time limits in seconds,
    #: header bytes, open connections, /v1/predict requests decoded at once.
    header_timeout_s: float = LIMITS.serve_header_timeout_s
    body_timeout_s: float = LIMITS.serve_body_timeout_s
    read_gap_s: float = LIMITS.serve_read_gap_s
    idle_timeout_s: float = LIMITS.serve_idle_timeout_s
    max_header_bytes: int = LIMITS.serve_max_header_bytes
    max_connections: int = LIMITS.serve_max_connections
    predict_concurrency: int = LIMITS.serve_predict_concurrency
    fast_path: bool = True  # infer answered inside the HTTP protocol (serve/fastpath)
    cpus: tuple[int, ...] | None = None  # the CPUs the server was pinned to (--cpus), if any
    unsure_below: float = UNSURE_BELOW  # /v1/predict and the page: "unsure: A or B" below this
    ort_web_dir: str | None = None  # onnxruntime-web's dist/ for the page (serve/ui.py finds one)

    def __post_init__(self) -> None:
        check_serve_settings(self)
