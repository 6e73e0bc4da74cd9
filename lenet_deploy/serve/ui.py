"""The browser page and its JSON endpoints, as Starlette routes any app can mount.

    routes = ui_routes(predict_image=..., info=..., max_body_bytes=..., max_pixels=...)

* ``GET /``: the drawing page; ``GET /static/{name}``: its scripts and style sheet. All four
  ship in the package (``static/``), are read once, and are served with a Content-Security-Policy
  that lets the page load nothing from anywhere but this server.
* ``POST /v1/predict``: PNG or JPEG bytes (raw, or a multipart/form-data ``file`` field) in;
  the answer fields of ``images.answer`` out (the same as ``predict --json``), plus ``input``
  (the 32x32 model input) with ``?input=1``. 413 for a body over ``max_body_bytes``, 400
  ``{"error": reason}`` for anything that is not a PNG/JPEG of at most ``max_pixels`` pixels.
  ``predict_image`` runs in a worker thread, never on the event loop, at most ``concurrency``
  at a time with as many waiting: more get 503 at once, and a client gone before its turn is
  not decoded for.
* ``GET /v1/info``: ``info()`` (what is served) plus this endpoint's own request counters.
* ``GET /ort/{name}``, ``GET /v1/model.onnx``: what the page needs to run the model in the
  browser (``browser_model``), when the server has them.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..artifacts.layout import file_sha256
from ..errors import LenetDeployError, first_line
from ..images.ink import RECIPE_GEOMETRY
from ..limits import LIMITS
from .batcher import Overloaded
from .browser_model import OrtWeb, browser_routes, find_ort_web, onnx_file
from .codec import InferError
from .decode_pool import DecodePool
from .image_predict import make_predict_image
from .infer import ClientDisconnected, serving
from .upload import check_image_header, image_bytes, read_body

PAGE = "index.html"
#: The page's assets by name, with their media types; nothing else is served from /static.
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "recipe.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    # 'wasm-unsafe-eval' lets onnxruntime-web compile its wasm (served from here); no eval.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
        "img-src 'self' data: blob:; "
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
    predict_image: Callable[..., dict],
    info: Callable[[], dict],
    max_body_bytes: int,
    max_pixels: int,
    browser: Sequence[BaseRoute] = (),
    concurrency: int = LIMITS.serve_predict_concurrency,
) -> list[BaseRoute]:
    """Routes for the page and ``/v1/predict`` + ``/v1/info`` (see the module docstring), and
    ``browser`` (``browser_model.browser_routes``).

    ``predict_image(data, include_input)`` returns ``images.answer``'s fields (and ``input``)
    and raises a LenetDeployError (ImageError) for bytes it cannot use; ``info()`` returns the
    panel's data (``runtime``, ``model_sha256``, ``dataset``, ``test_accuracy``,
    ``counters``...). Both may block: they run in worker threads.
    """
    page = static_text(PAGE)
    assets = {name: (static_text(name), media) for name, media in ASSETS.items()}
    counters = {"predict_requests": 0, "predict_errors": 0, "predict_abandoned": 0}

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

    async def asset(request: Request) -> Response:
        found = assets.get(request.path_params["name"])
        if found is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        return Response(found[0], media_type=found[1], headers=SECURITY_HEADERS)

    admitted = [0]  # uploads decoding or waiting for a slot
    slots: list[asyncio.Semaphore] = []  # made on the event loop, on first use

    async def predict(request: Request) -> Response:
        # Handlers run on the event loop, one at a time: plain increments are safe here.
        counters["predict_requests"] += 1
        try:
            body = await read_body(request, max_body_bytes)
            data = image_bytes(body, request.headers.get("content-type", ""))
            check_image_header(data, max_pixels)
            with_input = request.query_params.get("input", "") in ("1", "true")
            # Decoding is CPU work that competes with inference: ``concurrency`` at a time, as
            # many again waiting their turn (a page's overlapping requests), the rest refused
            # at once, and none decoded for a client that has gone meanwhile.
            if admitted[0] >= 2 * concurrency:
                raise InferError(
                    f"busy: {concurrency} images are being decoded and {concurrency} wait; "
                    "try again shortly",
                    status=503,
                )
            if not slots:
                slots.append(asyncio.Semaphore(concurrency))
            admitted[0] += 1
            try:
                async with slots[0]:
                    if await request.is_disconnected():
                        counters["predict_abandoned"] += 1
                        return Response(status_code=499)  # nobody reads it
                    result = await run_in_threadpool(predict_image, data, with_input)
            finally:
                admitted[0] -= 1
        except ClientDisconnected:
            counters["predict_abandoned"] += 1
            return Response(status_code=499)
        except InferError as exc:
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
        *browser,
    ]


def server_ui_routes(state) -> list[BaseRoute]:
    """``ui_routes`` for a ``create_app`` server, from its ``app.state``: images go through the
    server's batcher (the one caller of the runtime), under the server's body and pixel limits,
    and the panel shows the served model and the server's counters."""
    settings = state.settings
    ort_web = find_ort_web(settings.ort_web_dir)
    batched = _Batched(state)
    # decoded in niced worker processes, so that uploads cannot take the CPU from inference
    state.decode_pool = DecodePool(settings.predict_concurrency)
    answer = make_predict_image(batched, state.decode_pool, settings.unsure_below)

    def predict_image(data: bytes, include_input: bool = False) -> dict:
        batched.check_ready()  # a picture without a digit needs no model, but a server that
        return answer(data, include_input)  # is not ready says so for every request

    return ui_routes(
        predict_image=predict_image,
        info=functools.partial(served_info, state, ort_web),
        max_body_bytes=settings.max_body_bytes,
        max_pixels=settings.max_image_pixels,
        browser=browser_routes(ort_web, lambda: onnx_file(state.runtime), SECURITY_HEADERS),
        concurrency=settings.predict_concurrency,
    )


class _Batched:
    """The runtime as ``make_predict_image`` sees it: ``predict`` via the server's batcher."""

    def __init__(self, state) -> None:
        self.state = state

    def check_ready(self) -> None:
        if not serving(self.state):
            raise InferError("the model is not ready (loading or shutting down)", status=503)

    def predict(self, x):
        self.check_ready()
        try:
            return self.state.batcher.infer_blocking(x)
        except Overloaded as exc:
            raise InferError(str(exc), status=503) from None


def served_info(state, ort_web: OrtWeb | None = None) -> dict[str, Any]:
    """The panel: runtime, device, the model file's sha256, dataset and test accuracy (a number)
    from its metadata (null when unknown), the "unsure" threshold, the recipe's geometry, what
    the page needs to run the model itself (``browser``), and the server's OIP counters."""
    runtime, metrics = state.runtime, state.metrics
    served: dict[str, Any] = {"runtime": None, "device": None, "model_sha256": None,
                              "dataset": None, "test_accuracy": None}  # fmt: skip
    if runtime is not None:
        path = getattr(runtime, "path", None)
        served.update(runtime=runtime.name, device=runtime.device)
        if path is not None and Path(path).is_file():
            # torch runtimes carry the checkpoint's metadata; ONNX files have metadata_props
            meta = getattr(runtime, "metadata", None)
            served.update(_model_file_info(str(path), meta if isinstance(meta, dict) else None))
    served["unsure_below"] = state.settings.unsure_below
    served["recipe"] = RECIPE_GEOMETRY
    served["browser"] = _browser_info(ort_web, onnx_file(runtime) if runtime else None)
    served["counters"] = {
        "infer_requests": metrics.success_count,
        "infer_failures": sum(metrics.failures.values()),
        "images": metrics.inference_count,
        "batches": metrics.execution_count,
    }
    return served


def _browser_info(ort_web: OrtWeb | None, model: Path | None) -> dict[str, Any]:
    """Whether the page can run the model itself, and if not why (it then asks /v1/predict)."""
    reasons = [] if ort_web is None or ort_web.folder else [ort_web.reason]
    if ort_web is None:
        reasons.append("the page's browser files are not served here")
    if model is None:
        reasons.append("the served model is not an ONNX file")
    return {"available": not reasons, "reason": "; ".join(reasons) or None}


def _model_file_info(path: str, meta: dict | None) -> dict[str, Any]:
    if meta is None:
        meta = _onnx_metadata(path) if path.endswith(".onnx") else {}
    return {
        "model_sha256": _sha256(path),
        "dataset": meta.get("dataset") or None,
        "test_accuracy": _number(meta.get("test_accuracy")),
    }


def _number(value: Any) -> float | None:
    """A metadata value as a number (ONNX metadata_props are strings), None when it is none."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


_sha256 = functools.lru_cache(maxsize=4)(file_sha256)  # the panel asks on every refresh


@functools.lru_cache(maxsize=4)
def _onnx_metadata(path: str) -> dict[str, str]:
    from ..artifacts.pairing import read_metadata

    return read_metadata(path)
