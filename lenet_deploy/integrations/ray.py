"""Ray Serve: LeNet over any registered runtime, on the same OIP v2 routes as ``serve``.

Each replica loads one runtime (``ort-cpu`` by default: any name ``lenet-deploy runtimes``
lists) and answers ``/v2/health/{live,ready}``, ``/v2``, ``/v2/models/NAME[/versions/V]``,
``.../ready`` and ``POST .../infer`` with the wire format of serve/codec.py (JSON and binary
tensors, the classification extension), so tritonclient, ``examples/client.py`` and
``oip-http`` talk to it unchanged. Concurrent requests to a replica are gathered by Ray's own
``@serve.batch`` into one runtime call, which runs in a worker thread so the replica's event
loop keeps taking requests; Ray's proxy spreads requests over ``replicas``.

Run it with Ray's CLI (``serve run lenet_deploy.integrations.ray:app_builder model=...``), from
the config ``package --format ray`` writes (``serve run serve_config.yaml``, or KubeRay's
RayService), or from Python with :func:`build_app` and ``serve.run``. Needs the ``[ray]``
extra: ``pip install 'lenet-deploy[ray]'``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import numpy as np
from ray import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import __version__
from ..errors import LenetDeployError
from ..serve.codec import InferError, decode_request, encode_error, encode_response, model_metadata
from ..serve.settings import ServeSettings
from .ray_settings import RaySettings

__all__ = ["RaySettings", "app_builder", "build_app"]

_log = logging.getLogger("lenet_deploy.ray")
EXTENSIONS = ["binary_tensor_data", "classification"]
_JSON = "application/json"


@serve.deployment(name="lenet")
@serve.ingress()
class LenetOip:
    """One replica: a loaded runtime behind the OIP v2 routes."""

    def __init__(self, settings: dict):
        from ..runtimes import get_entry, load_runtime

        self.settings = RaySettings(**settings)
        s = self.settings
        options = {"threads": s.threads} if get_entry(s.runtime).accepts("threads") else {}
        self.runtime = load_runtime(s.runtime, s.model, **options)
        self.metadata = model_metadata(
            s.model_name, s.model_version, f"lenet-deploy/{self.runtime.name}"
        )
        self._predict.set_max_batch_size(s.max_batch_size)
        self._predict.set_batch_wait_timeout_s(s.batch_wait_timeout_s)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.0005)
    async def _predict(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        sizes = np.cumsum([len(b) for b in batches])[:-1]
        logits = await asyncio.to_thread(self.runtime.predict, np.concatenate(batches))
        return np.split(logits, sizes)

    def __serve_build_asgi_app__(self) -> Starlette:
        base = "/v2/models/{model}"
        return Starlette(
            routes=[
                Route(base + "/infer", self._infer, methods=["POST"]),
                Route(base + "/versions/{version}/infer", self._infer, methods=["POST"]),
                Route("/v2/health/live", self._live),
                Route("/v2/health/ready", self._live),
                Route("/v2", self._server_metadata),
                Route(base, self._model_metadata),
                Route(base + "/versions/{version}", self._model_metadata),
                Route(base + "/ready", self._model_ready),
                Route(base + "/versions/{version}/ready", self._model_ready),
            ]
        )

    def _unknown(self, request: Request) -> Response | None:
        s, params = self.settings, request.path_params
        if params["model"] != s.model_name or params.get("version", s.model_version) != (
            s.model_version
        ):
            what = params["model"] + (
                f" version {params['version']}" if "version" in params else ""
            )
            message = f"unknown model {what}; serving {s.model_name!r}"
            return Response(encode_error(message), 404, media_type=_JSON)
        return None

    async def _live(self, request: Request) -> Response:
        return JSONResponse({"live": True, "ready": True})

    async def _server_metadata(self, request: Request) -> Response:
        return JSONResponse(
            {"name": "lenet-deploy-ray", "version": __version__, "extensions": EXTENSIONS}
        )

    async def _model_metadata(self, request: Request) -> Response:
        return self._unknown(request) or JSONResponse(self.metadata)

    async def _model_ready(self, request: Request) -> Response:
        return self._unknown(request) or JSONResponse(
            {"name": self.settings.model_name, "ready": True}
        )

    async def _infer(self, request: Request) -> Response:
        unknown = self._unknown(request)
        if unknown is not None:
            return unknown
        try:
            status, body, header_length = await self._answer(request)
        except Exception as exc:  # a bug here must cost one 500, not the replica
            _log.exception("an infer request failed")
            status, body, header_length = 500, encode_error(f"internal error: {exc!r}"), None
        if header_length is None:
            return Response(body, status, media_type=_JSON)
        headers = {"Inference-Header-Content-Length": str(header_length)}
        return Response(body, status, headers=headers, media_type="application/octet-stream")

    async def _answer(self, request: Request) -> tuple[int, bytes, int | None]:
        limit = ServeSettings().max_body_bytes  # the same limit as `lenet-deploy serve`
        try:
            length = request.headers.get("content-length")
            if length is not None and int(length) > limit:
                return 413, encode_error(f"request body too large: limit {limit} bytes"), None
            header = request.headers.get("inference-header-content-length")
            header_length = None if header is None else int(header)
        except ValueError:
            return 400, encode_error("Content-Length headers must be integers"), None
        body = await request.body()
        if len(body) > limit:
            return 413, encode_error(f"request body too large: limit {limit} bytes"), None
        try:
            decoded = decode_request(body, header_length)
        except InferError as exc:
            return exc.status, encode_error(str(exc)), None
        try:
            logits = await self._predict(decoded.x)
        except LenetDeployError as exc:  # the runtime failed on a valid request
            return 500, encode_error(f"{self.runtime.name}: {exc}"), None
        s = self.settings
        return 200, *encode_response(decoded, logits, s.model_name, s.model_version)


def build_app(settings: RaySettings | None = None) -> serve.Application:
    """The Ray Serve application for ``settings`` (defaults: RaySettings())."""
    s = settings or RaySettings()
    return LenetOip.options(
        num_replicas=s.replicas,
        max_ongoing_requests=s.max_ongoing_requests,
        ray_actor_options={"num_cpus": s.num_cpus},
    ).bind(dataclasses.asdict(s))


def app_builder(args: dict) -> serve.Application:
    """``serve run``'s entry point: ``args`` are RaySettings fields (strings from the command
    line, or typed values from a config file)."""
    return build_app(RaySettings.from_args(args))
