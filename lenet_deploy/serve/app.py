"""The OIP v2 REST app: ``create_app(runtime, settings) -> Starlette``.

Routes: ``/v2/health/live``, ``/v2/health/ready``, ``/v2`` (server metadata),
``/v2/models/<model>[/versions/<v>]`` (metadata), ``.../ready``, ``POST .../infer``,
``.../stats`` (Triton-style) and ``/metrics`` (Prometheus). Other modules add their own
routes through ``extra_routes`` and find the runtime, model metadata, batcher and counters on
``app.state`` (``runtime``, ``metadata``, ``batcher``, ``metrics``, ``settings``, ``ready``).

``POST .../infer`` is the bare ASGI endpoint in infer.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from .. import __version__
from ..runtimes.base import Runtime
from .batcher import Batcher
from .codec import model_metadata
from .infer import InferEndpoint, OipApp, serving
from .metrics import ServerMetrics
from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]

EXTENSIONS = ["binary_tensor_data", "classification", "statistics"]


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
    infer = InferEndpoint(settings)
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
    app = OipApp(routes=routes, lifespan=_lifespan(runtime, settings))
    app.infer = infer
    # A plain namespace in place of starlette's State: the infer path reads several attributes
    # on every request, and State finds each through __getattr__.
    app.state = types.SimpleNamespace()
    app.state.settings = settings
    app.state.metrics = ServerMetrics()
    app.state.runtime = runtime if isinstance(runtime, Runtime) else None
    app.state.batcher = None
    app.state.ready = False
    app.state.draining = False
    app.state.metadata = model_metadata(settings.model_name, settings.model_version, "")
    infer.state = app.state
    if settings.ui:  # the page and /v1/predict, wired to this app's state
        from .ui import server_ui_routes

        app.router.routes.extend(server_ui_routes(app.state))
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
            if getattr(state, "decode_pool", None) is not None:  # /v1/predict's workers
                state.decode_pool.close()

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
    if getattr(state, "decode_pool", None) is not None:  # /v1/predict's workers, spawned now
        state.decode_pool.warm()


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


async def _live(request: Request) -> Response:
    return JSONResponse({"live": True})


async def _server_ready(request: Request) -> Response:
    ready = serving(request.app.state)
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


async def _server_metadata(request: Request) -> Response:
    return JSONResponse({"name": "lenet-deploy", "version": __version__, "extensions": EXTENSIONS})


async def _model_metadata(request: Request) -> Response:
    return _check_model(request) or JSONResponse(request.app.state.metadata)


async def _model_ready(request: Request) -> Response:
    missing = _check_model(request)
    if missing:
        return missing
    ready = serving(request.app.state)
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
