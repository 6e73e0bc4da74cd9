"""The browser page and its JSON endpoints, as Starlette routes any app can mount.

    routes = ui_routes(predict_image=..., info=..., max_body_bytes=..., max_pixels=...)

* ``GET /``: the drawing page; ``GET /static/{name}``: its script and style sheet. All three
  ship in the package (``static/``), are read once, and are served with a Content-Security-Policy
  that lets the page load nothing from anywhere but this server.
* ``POST /v1/predict``: PNG or JPEG bytes (raw, or a multipart/form-data ``file`` field) in;
  ``{"label", "probabilities", "no_digit"}`` out. 413 for a body over ``max_body_bytes``, 400
  ``{"error": reason}`` for anything that is not a PNG/JPEG of at most ``max_pixels`` pixels.
  ``predict_image`` runs in a worker thread, never on the event loop.
* ``GET /v1/info``: ``info()`` (what is served) plus this endpoint's own request counters.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import LenetDeployError, first_line
from .upload import UploadError, check_image_header, image_bytes, read_body

PAGE = "index.html"
#: The page's assets by name, with their media types; nothing else is served from /static.
ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def static_text(name: str) -> str:
    """One of the page's files, read from the installed package."""
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def ui_routes(
    *,
    predict_image: Callable[[bytes], dict],
    info: Callable[[], dict],
    max_body_bytes: int,
    max_pixels: int,
) -> list[BaseRoute]:
    """Routes for the page and ``/v1/predict`` + ``/v1/info`` (see the module docstring).

    ``predict_image(data)`` returns ``{"label": int | None, "probabilities": [10 floats],
    "no_digit": bool}`` and raises a LenetDeployError (ImageError) for bytes it cannot use;
    ``info()`` returns the panel's data (``runtime``, ``model_sha256``, ``dataset``,
    ``test_accuracy``, ``counters``...). Both may block: they run in worker threads.
    """
    page = static_text(PAGE)
    assets = {name: (static_text(name), media) for name, media in ASSETS.items()}
    counters = {"predict_requests": 0, "predict_errors": 0}

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

    async def asset(request: Request) -> Response:
        found = assets.get(request.path_params["name"])
        if found is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        return Response(found[0], media_type=found[1], headers=SECURITY_HEADERS)

    async def predict(request: Request) -> Response:
        # Handlers run on the event loop, one at a time: plain increments are safe here.
        counters["predict_requests"] += 1
        try:
            body = await read_body(request, max_body_bytes)
            data = image_bytes(body, request.headers.get("content-type", ""))
            check_image_header(data, max_pixels)
            result = await run_in_threadpool(predict_image, data)
        except UploadError as exc:
            counters["predict_errors"] += 1
            return JSONResponse({"error": first_line(exc)}, status_code=exc.status)
        except LenetDeployError as exc:
            counters["predict_errors"] += 1
            return JSONResponse({"error": first_line(exc)}, status_code=400)
        return JSONResponse(result)

    async def info_endpoint(request: Request) -> Response:
        served: dict[str, Any] = dict(await run_in_threadpool(info))
        served["counters"] = {**served.get("counters", {}), **counters}
        return JSONResponse(served)

    return [
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", asset, methods=["GET"]),
        Route("/v1/predict", predict, methods=["POST"]),
        Route("/v1/info", info_endpoint, methods=["GET"]),
    ]
