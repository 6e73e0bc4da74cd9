"""``POST /v2/models/<model>[/versions/<v>]/infer``: the hot path, as a bare ASGI endpoint.

It checks ``Content-Length`` against ``max_body_bytes`` before reading a byte (413), skips
per-request Request/Response objects, and ``OipApp`` routes to it without the middleware stack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from ..errors import LenetDeployError
from .batcher import Overloaded
from .codec import InferError, InferRequest, decode_request, encode_error, encode_response

if TYPE_CHECKING:
    from .settings import ServeSettings

_log = logging.getLogger("lenet_deploy.serve")


def serving(state) -> bool:
    """Whether the app takes inference requests: loaded, and not draining."""
    return state.ready and not state.draining


class OipApp(Starlette):
    """Starlette, with ``POST .../infer`` handed straight to its endpoint: the hot path skips
    the middleware stack and the walk over the routes."""

    infer: InferEndpoint

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            params = infer_path(scope["path"])
            if params is not None:
                scope["app"] = self
                scope["path_params"] = params
                await self.infer(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def infer_path(path: str) -> dict[str, str] | None:
    """Path parameters of ``/v2/models/M[/versions/V]/infer``, or None for any other path."""
    if not (path.startswith("/v2/models/") and path.endswith("/infer")):
        return None
    parts = path[11:-6].split("/")
    if len(parts) == 1 and parts[0]:
        return {"model": parts[0]}
    if len(parts) == 3 and parts[1] == "versions" and parts[0] and parts[2]:
        return {"model": parts[0], "version": parts[2]}
    return None


_JSON = (b"content-type", b"application/json")
_BINARY = (b"content-type", b"application/octet-stream")


class InferEndpoint:
    """``POST .../infer`` as a bare ASGI app (Starlette routes to it with path params).

    Its checks and its request-to-response core are also what the HTTP protocol's fast path
    (fastpath.py) calls, so both answer the same.
    """

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.state = None  # the app's state, set by create_app

    async def __call__(self, scope, receive, send) -> None:
        started = time.perf_counter_ns()
        try:
            status, body, header_length = await self._handle(scope, receive)
        except ClientDisconnected:  # nobody to answer; not the server's failure either
            return
        if header_length is None:
            headers = [_JSON, (b"content-length", b"%d" % len(body))]
        else:
            headers = [
                _BINARY,
                (b"content-length", b"%d" % len(body)),
                (b"inference-header-content-length", b"%d" % header_length),
            ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.record(status, started)

    def record(self, status: int, started_ns: int) -> None:
        metrics = self.state.metrics
        if status == 200:
            metrics.request_done(started_ns)
        else:
            metrics.request_failed(status)

    def refusal(self, params: dict[str, str]) -> tuple[int, bytes] | None:
        """404 for another model or version, 503 when not serving; None to go on."""
        s, state = self.settings, self.state
        if params["model"] != s.model_name or params.get("version", s.model_version) != (
            s.model_version
        ):
            what = params["model"] + (
                f" version {params['version']}" if "version" in params else ""
            )
            return 404, encode_error(f"unknown model {what}; serving {s.model_name!r}")
        if not serving(state):
            why = "shutting down" if state.draining else "not ready (still loading)"
            return 503, encode_error(f"model {s.model_name!r} is {why}")
        return None

    async def _handle(self, scope, receive) -> tuple[int, bytes, int | None]:
        refused = self.refusal(scope["path_params"])
        if refused is not None:
            return *refused, None
        try:
            length, header_length = content_lengths(scope["headers"])
        except ValueError:
            return (
                400,
                encode_error(
                    "Content-Length and Inference-Header-Content-Length must be plain digits"
                ),
                None,
            )
        limit = self.settings.max_body_bytes
        if length is not None and length > limit:
            return 413, self._too_large(length), None
        body = await read_body_limited(receive, limit)
        if body is None:
            return 413, self._too_large(None), None
        future = asyncio.get_running_loop().create_future()
        # done(): a request cancelled meanwhile (its client gone) has nobody to answer
        self.start(body, header_length, lambda *answer: future.done() or future.set_result(answer))
        return await future

    def start(
        self,
        body: bytes,
        header_length: int | None,
        respond: Callable[[int, bytes, int | None], None],
    ) -> None:
        """Decode ``body``, queue it on the batcher and call ``respond(status, body,
        header_length)`` once with the answer -- now if the request is refused, else from the
        batcher's callback on the event loop."""
        try:
            request = decode_request(body, header_length)
            self.state.batcher.submit(
                request.x, lambda result: respond(*self._answer(request, result))
            )
        except InferError as exc:
            respond(exc.status, encode_error(str(exc)), None)
        except Overloaded as exc:
            respond(503, encode_error(str(exc)), None)
        except Exception as exc:  # a bug here must cost one 500, not the connection
            _log.exception("decoding an infer request failed")
            respond(500, encode_error(f"internal error: {type(exc).__name__}"), None)

    def _answer(self, request: InferRequest, result: object) -> tuple[int, bytes, int | None]:
        if isinstance(result, BaseException):
            if isinstance(result, LenetDeployError):  # the runtime failed on a valid request
                return 500, encode_error(f"{self.state.runtime.name}: {result}"), None
            _log.error("inference failed", exc_info=result)
            return 500, encode_error(f"internal error: {type(result).__name__}"), None
        s = self.settings
        try:
            out, out_header = encode_response(request, result, s.model_name, s.model_version)
        except Exception as exc:  # pragma: no cover - encoding finite logits does not fail
            _log.exception("encoding a response failed")
            return 500, encode_error(f"internal error: {type(exc).__name__}"), None
        return 200, out, out_header

    def _too_large(self, length: int | None) -> bytes:
        got = "more" if length is None else f"{length} bytes"
        return encode_error(
            f"request body too large: {got}, limit {self.settings.max_body_bytes} bytes; "
            "send fewer images per request"
        )


def content_lengths(headers) -> tuple[int | None, int | None]:
    """``Content-Length`` and ``Inference-Header-Content-Length`` from lower-cased (name,
    value) byte pairs, as ints or None; ValueError if one is not plain ASCII digits (``int()``
    would also take " +4096" and "4_096")."""
    length = header_length = None
    for key, value in headers:
        if key == b"content-length":
            length = value
        elif key == b"inference-header-content-length":
            header_length = value
    return _digits(length), _digits(header_length)


def _digits(value: bytes | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():  # bytes.isdigit: ASCII 0-9 only, and false when empty
        raise ValueError(value)
    return int(value)


class ClientDisconnected(Exception):
    """The client went away before its request's body was all in: nobody to answer."""


async def read_body_limited(receive, limit: int) -> bytes | None:
    """The whole body from the ASGI ``receive``, or None as soon as it exceeds ``limit``
    (chunked uploads); ClientDisconnected if the client leaves first (a truncated body is
    never decoded). Every endpoint that reads a body uses this one reader."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    body = message.get("body", b"")
    if len(body) > limit:
        return None
    if not message.get("more_body", False):
        return body
    chunks, size = [body], len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
