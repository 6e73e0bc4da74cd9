"""The OIP v2 REST app: ``create_app(runtime, settings) -> Starlette``.

Routes: ``/v2/health/live``, ``/v2/health/ready``, ``/v2`` (server metadata),
``/v2/models/<model>[/versions/<v>]`` (metadata), ``.../ready``, ``POST .../infer``,
``.../stats`` (Triton-style) and ``/metrics`` (Prometheus). Other modules add their own
routes through ``extra_routes`` and find the runtime, model metadata, batcher and counters on
``app.state`` (``runtime``, ``metadata``, ``batcher``, ``metrics``, ``settings``, ``ready``).

``POST .../infer`` is a bare ASGI endpoint: it checks ``Content-Length`` against
``max_body_bytes`` before reading a byte (413), and skips per-request Request/Response objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from .. import __version__
from ..errors import LenetDeployError
from ..runtimes.base import Runtime
from .batcher import Batcher, Overloaded
from .codec import InferError, decode_request, encode_error, encode_response, model_metadata
from .metrics import ServerMetrics

EXTENSIONS = ["binary_tensor_data", "classification", "statistics"]


@dataclass(frozen=True)
class ServeSettings:
    """Server settings; defaults are the command's defaults. Times in ms, sizes in bytes."""

    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "lenet"
    model_version: str = "1"
    max_batch: int = 64  # images per runtime call
    max_delay_ms: float = 0.5  # longest wait after the oldest queued request for more
    max_queue: int = 1024  # pending requests before 503
    threads: int | None = 1  # runtime intra-op threads (None: the runtime's default)
    max_body_bytes: int = 8 * 1024 * 1024  # larger infer bodies get 413 unread
    drain_timeout_s: float = 30.0  # SIGTERM: longest wait for in-flight requests


RuntimeSource = Runtime | Callable[[], Runtime]


def create_app(
    runtime: RuntimeSource,
    settings: ServeSettings | None = None,
    *,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """Serve ``runtime`` (a loaded Runtime, or a callable loading one) over OIP v2.

    With a callable the server is live at once and ready (``/v2/health/ready`` 200, infer
    accepted) once the runtime has loaded in a thread; a runtime it loaded it also closes.
    """
    settings = settings or ServeSettings()
    base = "/v2/models/{model}"
    infer = _InferEndpoint(settings)
    routes: list[BaseRoute] = [
        Route(base + "/infer", infer, methods=["POST"]),
        Route(base + "/versions/{version}/infer", infer, methods=["POST"]),
        Route("/v2/health/live", _live),
        Route("/v2/health/ready", _server_ready),
        Route("/v2", _server_metadata),
        Route("/v2/models/stats", _stats),
        Route(base, _model_metadata),
        Route(base + "/versions/{version}", _model_metadata),
        Route(base + "/ready", _model_ready),
        Route(base + "/versions/{version}/ready", _model_ready),
        Route(base + "/stats", _stats),
        Route(base + "/versions/{version}/stats", _stats),
        Route("/metrics", _metrics),
        *extra_routes,
    ]
    app = Starlette(routes=routes, lifespan=_lifespan(runtime, settings))
    app.state.settings = settings
    app.state.metrics = ServerMetrics()
    app.state.runtime = runtime if isinstance(runtime, Runtime) else None
    app.state.batcher = None
    app.state.ready = False
    app.state.draining = False
    app.state.metadata = model_metadata(settings.model_name, settings.model_version, "")
    infer.state = app.state
    return app


def _lifespan(source: RuntimeSource, settings: ServeSettings):
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        state = app.state
        loading = asyncio.create_task(_load(state, source, settings))
        try:
            yield
        finally:
            state.ready = False
            if not loading.done():
                loading.cancel()
            if state.batcher is not None:
                await state.batcher.close(settings.drain_timeout_s)
            if state.runtime is not None and state.runtime is not source:
                state.runtime.close()

    return lifespan


async def _load(state, source: RuntimeSource, settings: ServeSettings) -> None:
    runtime = source if isinstance(source, Runtime) else await asyncio.to_thread(source)
    state.runtime = runtime
    state.metadata = model_metadata(
        settings.model_name, settings.model_version, f"lenet-deploy/{runtime.name}"
    )
    state.batcher = Batcher(
        runtime,
        max_batch=settings.max_batch,
        max_delay_s=settings.max_delay_ms / 1e3,
        max_queue=settings.max_queue,
        metrics=state.metrics,
    )
    state.ready = True


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _check_model(request: Request) -> JSONResponse | None:
    """A 404 for an unknown model or version, else None."""
    settings: ServeSettings = request.app.state.settings
    params = request.path_params
    model, version = params.get("model"), params.get("version")
    if model != settings.model_name:
        return _error(404, f"unknown model {model!r}; this server serves {settings.model_name!r}")
    if version is not None and version != settings.model_version:
        return _error(
            404,
            f"unknown version {version!r} of model {model!r}; available: "
            f"{settings.model_version!r}",
        )
    return None


def _serving(state) -> bool:
    return state.ready and not state.draining


async def _live(request: Request) -> Response:
    return JSONResponse({"live": True})


async def _server_ready(request: Request) -> Response:
    ready = _serving(request.app.state)
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


async def _server_metadata(request: Request) -> Response:
    return JSONResponse({"name": "lenet-deploy", "version": __version__, "extensions": EXTENSIONS})


async def _model_metadata(request: Request) -> Response:
    return _check_model(request) or JSONResponse(request.app.state.metadata)


async def _model_ready(request: Request) -> Response:
    missing = _check_model(request)
    if missing:
        return missing
    ready = _serving(request.app.state)
    name = request.app.state.settings.model_name
    return JSONResponse({"name": name, "ready": ready}, status_code=200 if ready else 503)


async def _stats(request: Request) -> Response:
    if "model" in request.path_params:
        missing = _check_model(request)
        if missing:
            return missing
    state = request.app.state
    s: ServeSettings = state.settings
    return JSONResponse(state.metrics.triton_stats(s.model_name, s.model_version))


async def _metrics(request: Request) -> Response:
    state = request.app.state
    s: ServeSettings = state.settings
    pending = state.batcher.pending if state.batcher else 0
    text = state.metrics.prometheus(s.model_name, s.model_version, pending)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


_JSON = [(b"content-type", b"application/json")]
_BINARY = [(b"content-type", b"application/octet-stream")]


class _InferEndpoint:
    """``POST .../infer`` as a bare ASGI app (Starlette routes to it with path params)."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.state = None  # the app's state, set by create_app

    async def __call__(self, scope, receive, send) -> None:
        started = time.perf_counter_ns()
        status, body, header_length = await self._handle(scope, receive)
        headers = _JSON if header_length is None else _BINARY
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        if header_length is not None:
            headers.append((b"inference-header-content-length", str(header_length).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        metrics = self.state.metrics
        if status == 200:
            metrics.request_done(started)
        else:
            metrics.request_failed(status)

    async def _handle(self, scope, receive) -> tuple[int, bytes, int | None]:
        s, state = self.settings, self.state
        params = scope["path_params"]
        if params["model"] != s.model_name or params.get("version", s.model_version) != (
            s.model_version
        ):
            what = params["model"] + (
                f" version {params['version']}" if "version" in params else ""
            )
            return 404, encode_error(f"unknown model {what}; serving {s.model_name!r}"), None
        if not _serving(state):
            why = "shutting down" if state.draining else "not ready (still loading)"
            return 503, encode_error(f"model {s.model_name!r} is {why}"), None
        length = header_length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = value
            elif key == b"inference-header-content-length":
                header_length = value
        try:
            length = None if length is None else int(length)
            header_length = None if header_length is None else int(header_length)
        except ValueError:
            return 400, encode_error("Content-Length headers must be integers"), None
        if length is not None and length > s.max_body_bytes:
            return 413, self._too_large(length), None
        body = await _read_body(receive, s.max_body_bytes)
        if body is None:
            return 413, self._too_large(None), None
        try:
            request = decode_request(body, header_length)
            logits = await state.batcher.infer(request.x)
            out, out_header = encode_response(request, logits, s.model_name, s.model_version)
        except InferError as exc:
            return exc.status, encode_error(str(exc)), None
        except Overloaded as exc:
            return 503, encode_error(str(exc)), None
        except LenetDeployError as exc:  # the runtime failed on a valid request
            return 500, encode_error(f"{state.runtime.name}: {exc}"), None
        return 200, out, out_header

    def _too_large(self, length: int | None) -> bytes:
        got = "more" if length is None else f"{length} bytes"
        return encode_error(
            f"request body too large: {got}, limit {self.settings.max_body_bytes} bytes; "
            "send fewer images per request"
        )


async def _read_body(receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it exceeds ``limit`` (chunked uploads)."""
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks, size = [body], len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
