"""What the page needs to run the model in the browser, served by the server itself (no CDN):
onnxruntime-web's single-threaded wasm build and the served ONNX file.

* ``GET /ort/{name}``: ``ort.wasm.min.js``, ``ort-wasm-simd-threaded.mjs`` and
  ``ort-wasm-simd-threaded.wasm`` (as ``application/wasm``) from onnxruntime-web's ``dist/``
  folder; nothing else.
* ``GET /v1/model.onnx``: the file the server runs, when it runs an ONNX file (the page checks
  its sha256 against ``model_sha256`` of ``/v1/info`` before using it).

The folder is ``--ort-web DIR`` (``ServeSettings.ort_web_dir``), else ``$LENET_DEPLOY_ORT_WEB``,
else the checkout's ``web/node_modules/onnxruntime-web/dist`` (``npm ci --prefix web``). A folder
the user named must hold the files (one-line error otherwise); when the default is missing the
page answers through ``/v1/predict`` and ``/v1/info`` says why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import LenetDeployError
from ..runtimes import ort_web_files

ORT_WEB_ENV = ort_web_files.ENV
NPM_FIX = "run 'npm ci --prefix web' in the lenet-deploy checkout, or pass --ort-web DIR"
#: The files the page loads, with their media types (wasm must be application/wasm).
ORT_FILES = {
    "ort.wasm.min.js": "text/javascript; charset=utf-8",
    "ort-wasm-simd-threaded.mjs": "text/javascript; charset=utf-8",
    "ort-wasm-simd-threaded.wasm": "application/wasm",
}


@dataclass(frozen=True)
class OrtWeb:
    """Where onnxruntime-web's files are (``folder``), or None with the ``reason``."""

    folder: Path | None
    reason: str = ""


def _missing(folder: Path) -> str:
    absent = [name for name in ORT_FILES if not (folder / name).is_file()]
    return f"{', '.join(absent)} not in {folder}" if absent else ""


def find_ort_web(configured: str | os.PathLike | None = None) -> OrtWeb:
    """The onnxruntime-web folder (see the module docstring). Raises LenetDeployError when a
    folder named by the option or the environment lacks the files."""
    named = configured or ort_web_files.named_dist()
    if named:
        folder = Path(named).expanduser()
        missing = _missing(folder)
        if missing:
            source = "--ort-web" if configured else f"${ORT_WEB_ENV}"
            raise LenetDeployError(
                f"{source} {str(named)!r}: onnxruntime-web's {missing}; {NPM_FIX}"
            )
        return OrtWeb(folder.resolve())
    default = ort_web_files.default_dist()
    missing = _missing(default)
    if missing:
        return OrtWeb(None, f"onnxruntime-web is not installed ({missing}); {NPM_FIX}")
    return OrtWeb(default.resolve())


def onnx_file(runtime) -> Path | None:
    """The ONNX file ``runtime`` runs, or None (a torch checkpoint, a remote model)."""
    path = getattr(runtime, "path", None)
    if path is None or not str(path).endswith(".onnx") or not Path(path).is_file():
        return None
    return Path(path)


def browser_routes(ort_web: OrtWeb, model_file, headers: dict[str, str]) -> list[BaseRoute]:
    """``/ort/{name}`` from ``ort_web`` and ``/v1/model.onnx`` from ``model_file()`` (a callable:
    the runtime may still be loading), both with ``headers``."""

    async def ort_file(request: Request) -> Response:
        name = request.path_params["name"]
        if ort_web.folder is None or name not in ORT_FILES:
            reason = ort_web.reason or f"no such file; served: {', '.join(ORT_FILES)}"
            return JSONResponse({"error": reason}, status_code=404)
        return FileResponse(ort_web.folder / name, media_type=ORT_FILES[name], headers=headers)

    async def model(request: Request) -> Response:
        path = model_file()
        if path is None:
            reason = "the served model is not an ONNX file (or is still loading)"
            return JSONResponse({"error": reason}, status_code=404)
        return FileResponse(path, media_type="application/octet-stream", headers=headers)

    return [Route("/ort/{name}", ort_file, methods=["GET"]), Route("/v1/model.onnx", model)]
