"""Load-test an OIP v2 server the way ``perf_analyzer`` does: N requests always in flight.

``load_test(url, concurrency=(1, 8, 64))`` keeps N keep-alive connections busy with batch
requests (JSON or binary tensors) for ``duration_s`` per level, after a short warm-up, and
returns one ``LoadResult`` per level: requests/s, images/s, latency percentiles from every
sample, and -- when the server exposes Triton-style ``/stats`` -- the average batch it formed
and its queue and compute time. Every level is bounded by time and by request count.

Request bodies are encoded once, before the clock starts, and the client speaks HTTP/1.1 on
raw asyncio streams, so the client's own CPU cost per request stays small next to the server's.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ..errors import LenetDeployError
from ..spec import INPUT_NAME, OUTPUT_NAME

DEFAULT_CONCURRENCY = (1, 8, 64)
DEFAULT_DURATION_S = 3.0
DEFAULT_MAX_REQUESTS = 200_000
WARMUP_S = 0.3
CHECK_EVERY = 16  # decode and compare one response in this many


@dataclass
class LoadResult:
    """One concurrency level. ``latencies_ms`` are the raw per-request samples."""

    concurrency: int
    binary: bool
    batch_size: int
    requests: int
    errors: int
    mismatches: int  # answers checked against ``expected`` that differed
    duration_s: float
    latencies_ms: np.ndarray
    server: dict[str, float] | None = None
    client: dict[str, Any] = field(default_factory=dict)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def images_per_s(self) -> float:
        return self.requests_per_s * self.batch_size

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "encoding": "binary" if self.binary else "json",
            "batch_size": self.batch_size,
            "requests": self.requests,
            "errors": self.errors,
            "mismatches": self.mismatches,
            "duration_s": round(self.duration_s, 4),
            "requests_per_s": round(self.requests_per_s, 1),
            "images_per_s": round(self.images_per_s, 1),
            "p50_ms": round(self.percentile(50), 4),
            "p90_ms": round(self.percentile(90), 4),
            "p99_ms": round(self.percentile(99), 4),
            "server": self.server,
        }


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    model_path: str  # /v2/models/NAME[/versions/V]


def parse_url(url: str) -> _Target:
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    segments = path.split("/")
    if parts.scheme != "http" or not parts.hostname or segments[1:3] != ["v2", "models"]:
        raise LenetDeployError(
            f"load test needs a model URL like http://127.0.0.1:8000/v2/models/lenet; got {url!r}"
        )
    if len(segments) not in (4, 6) or (len(segments) == 6 and segments[4] != "versions"):
        raise LenetDeployError(f"not a model URL (…/v2/models/NAME[/versions/V]): {url!r}")
    return _Target(parts.hostname, parts.port or 80, path)


def encode_body(x: np.ndarray, binary: bool) -> tuple[bytes, int | None]:
    """One OIP infer request for ``x`` (N, 1, 32, 32) and its binary header length, if any."""
    tensor: dict[str, Any] = {"name": INPUT_NAME, "shape": list(x.shape), "datatype": "FP32"}
    if not binary:
        tensor["data"] = x.ravel().tolist()
        return json.dumps({"inputs": [tensor]}, separators=(",", ":")).encode(), None
    raw = np.ascontiguousarray(x, "<f4").tobytes()
    tensor["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps(
        {
            "inputs": [tensor],
            "outputs": [{"name": OUTPUT_NAME, "parameters": {"binary_data": True}}],
        },
        separators=(",", ":"),
    ).encode()
    return header + raw, len(header)


def decode_logits(body: bytes, header_length: int | None) -> np.ndarray:
    """The ``logits`` of an infer response body (JSON or binary)."""
    header = json.loads(body if header_length is None else body[:header_length])
    out = next(o for o in header["outputs"] if o["name"] == OUTPUT_NAME)
    if header_length is None:
        return np.asarray(out["data"], np.float32).reshape(out["shape"])
    return np.frombuffer(body[header_length:], "<f4").reshape(out["shape"])


def load_test(
    url: str,
    concurrency: Sequence[int] = DEFAULT_CONCURRENCY,
    duration_s: float = DEFAULT_DURATION_S,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    binary: bool = True,
    *,
    images: np.ndarray | None = None,
    batch_size: int = 1,
    expected: np.ndarray | None = None,
    server_cpu: Callable[[], float] | None = None,
) -> list[LoadResult]:
    """Measure ``url`` at each concurrency level; see the module docstring.

    ``images`` (N, 1, 32, 32) in [0, 1] feed the requests in turn (default: 64 noise images);
    with ``expected`` (their logits computed in process) one answer in ``CHECK_EVERY`` is
    decoded and compared bit for bit, and differences are counted in ``mismatches``.
    ``server_cpu()`` (seconds of CPU the server process has used) adds its CPU per request.
    """
    target = parse_url(url)
    if duration_s <= 0 or max_requests < 1 or not concurrency or min(concurrency) < 1:
        raise LenetDeployError("load test needs duration > 0, max_requests >= 1, concurrency >= 1")
    if images is None:
        images = np.random.default_rng(0).random((64, 1, 32, 32), dtype=np.float32)
    bodies = [
        _http_request(target, *encode_body(images[i : i + batch_size], binary))
        for i in range(0, len(images) - batch_size + 1, batch_size)
    ]
    step = range(0, len(images) - batch_size + 1, batch_size)
    wants = None if expected is None else [expected[i : i + batch_size] for i in step]
    results = []
    for level in concurrency:
        asyncio.run(_run(target, bodies, None, level, WARMUP_S, max_requests))
        before, cpu_before = _server_stats(target), server_cpu() if server_cpu else None
        lat, errors, bad, elapsed = asyncio.run(
            _run(target, bodies, wants, level, duration_s, max_requests)
        )
        cpu_after, after = server_cpu() if server_cpu else None, _server_stats(target)
        server = _stats_delta(before, after)
        if cpu_before is not None and lat:
            server = dict(server or {})
            server["cpu_us_per_request"] = round((cpu_after - cpu_before) / len(lat) * 1e6, 2)
        results.append(
            LoadResult(
                level,
                binary,
                batch_size,
                len(lat),
                errors,
                bad,
                elapsed,
                np.asarray(lat) * 1e3,
                server,
            )
        )
    return results


def _http_request(target: _Target, body: bytes, header_length: int | None) -> bytes:
    lines = [
        f"POST {target.model_path}/infer HTTP/1.1",
        f"Host: {target.host}:{target.port}",
        "Content-Type: "
        + ("application/json" if header_length is None else "application/octet-stream"),
        f"Content-Length: {len(body)}",
    ]
    if header_length is not None:
        lines.append(f"Inference-Header-Content-Length: {header_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _run(target, bodies, wants, concurrency, duration_s, max_requests):
    """``concurrency`` closed-loop clients until the time or the request budget is spent."""
    latencies: list[float] = []
    tally = {"errors": 0, "bad": 0, "sent": 0}
    start = time.perf_counter()
    deadline = start + duration_s

    async def connect():
        try:
            return await asyncio.open_connection(target.host, target.port)
        except OSError as exc:
            raise LenetDeployError(
                f"load test: cannot reach {target.host}:{target.port} ({exc.strerror or exc})"
            ) from None

    async def client(index: int) -> None:
        reader, writer = await connect()
        clock, n = time.perf_counter, 0
        try:
            while tally["sent"] < max_requests and clock() < deadline:
                tally["sent"] += 1
                k = (index + n * concurrency) % len(bodies)
                n += 1
                t0 = clock()
                try:
                    writer.write(bodies[k])
                    head = await reader.readuntil(b"\r\n\r\n")
                    status, length, header_length = _parse_head(head)
                    body = await reader.readexactly(length)
                except (asyncio.IncompleteReadError, ConnectionError):
                    tally["errors"] += 1  # the server closed the connection: count, reconnect
                    writer.close()
                    reader, writer = await connect()
                    continue
                latencies.append(clock() - t0)
                if status != 200:
                    tally["errors"] += 1
                elif wants is not None and n % CHECK_EVERY == 1:
                    if not np.array_equal(decode_logits(body, header_length), wants[k]):
                        tally["bad"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return latencies, tally["errors"], tally["bad"], time.perf_counter() - start


def _parse_head(head: bytes) -> tuple[int, int, int | None]:
    status, length, header_length = int(head[9:12]), 0, None
    for line in head.lower().split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            length = int(line[15:])
        elif line.startswith(b"inference-header-content-length:"):
            header_length = int(line[32:])
    return status, length, header_length


def _server_stats(target: _Target) -> dict | None:
    """The server's Triton-style statistics for the model, or None if it has none."""
    url = f"http://{target.host}:{target.port}{target.model_path}/stats"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http only
            return json.loads(response.read())["model_stats"][0]
    except Exception:  # not every OIP server has the statistics extension
        return None


def _stats_delta(before: dict | None, after: dict | None) -> dict[str, float] | None:
    if not before or not after:
        return None

    def delta(*keys: str) -> float:
        a, b = after, before
        for key in keys:
            a, b = a[key], b[key]
        return float(a) - float(b)

    batches = delta("execution_count") or 1.0
    queued = delta("inference_stats", "queue", "count") or 1.0
    return {
        "avg_batch": round(delta("inference_count") / batches, 2),
        "queue_ms_per_request": round(delta("inference_stats", "queue", "ns") / queued / 1e6, 4),
        "compute_ms_per_batch": round(
            delta("inference_stats", "compute_infer", "ns") / batches / 1e6, 4
        ),
    }
