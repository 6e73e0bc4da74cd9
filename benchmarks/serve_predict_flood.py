"""Does ``/v1/predict`` load delay inference? Issue 25: 500 uploads of an 8 KB 1024x1024 16-bit
PNG (clients gone right after sending) once delayed a normal infer request by 16.5 s.

Starts `lenet-deploy serve` in a subprocess, measures a probe client's batch-1 infer latency
(one request every 20 ms) alone, then again while ``--uploads`` such PNGs arrive from
``--uploaders`` concurrent clients (in a process of their own) that close without reading the
answer (half of them) or wait for it (503 "busy" or 200). Reports the probe's p50/p99/max in
both phases and the largest delay (max during the flood minus p50 alone). Target: <= 100 ms.

    python benchmarks/serve_predict_flood.py [--model artifacts] [--uploads 500]
        [--uploaders 50] [-- serve options]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_load import start_server  # noqa: E402
from serve_soak import read_response, request  # noqa: E402


def big_png() -> bytes:
    """A 1024x1024 16-bit greyscale PNG of a few KB: cheap to send, costly to decode."""
    from PIL import Image

    pixels = np.full((1024, 1024), 65535, np.uint16)
    pixels[400:600, 500:520] = 0  # a stroke, so the recipe does all its work
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", optimize=True)
    return buf.getvalue()


async def probe(host, port, raw, until, latencies, going=lambda: True) -> None:
    """An infer request every 20 ms until ``until`` (monotonic) and while ``going()``."""
    reader, writer = await asyncio.open_connection(host, port)
    while time.monotonic() < until and going():
        t0 = time.perf_counter()
        writer.write(raw)
        status, _, _ = await read_response(reader)
        latencies.append((time.perf_counter() - t0) * 1e3)
        if status != 200:
            raise SystemExit(f"infer probe got {status}")
        await asyncio.sleep(0.02)
    writer.close()


async def uploader(host, port, raw, count, wait, tally) -> None:
    for _ in range(count):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(raw)
        await writer.drain()
        if wait:
            status, _, _ = await read_response(reader)
            tally[status] = tally.get(status, 0) + 1
        writer.close()


def run_uploaders(host, port, raw, uploads, uploaders, out, go) -> None:
    """The flood, in a process of its own so that the probe's timing is not the client's."""
    tally: dict[int, int] = {}
    go.set()  # started and imported: the probe measures from here
    each = max(1, uploads // uploaders)
    start = time.monotonic()

    async def everyone():
        await asyncio.gather(
            *(uploader(host, port, raw, each, i % 2 == 0, tally) for i in range(uploaders))
        )

    asyncio.run(everyone())
    out.put((tally, time.monotonic() - start, each * uploaders))


async def probe_until(host, port, raw, process, latencies) -> None:
    await probe(host, port, raw, time.monotonic() + 600, latencies, process.is_alive)
    await probe(host, port, raw, time.monotonic() + 1.0, latencies)  # decodes still running


def flood(host, port, infer_raw, upload_raw, uploads, uploaders, seconds):
    import multiprocessing

    alone, during = [], []
    asyncio.run(probe(host, port, infer_raw, time.monotonic() + seconds, alone))
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    process = ctx.Process(
        target=run_uploaders, args=(host, port, upload_raw, uploads, uploaders, out, go)
    )
    process.start()
    go.wait(60)
    asyncio.run(probe_until(host, port, infer_raw, process, during))
    tally, flood_s, sent = out.get(timeout=60)
    process.join(30)
    return alone, during, tally, flood_s, sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts", help="artifacts dir or .onnx file")
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--uploaders", type=int, default=50)
    parser.add_argument("--alone", type=float, default=3.0, help="seconds of the probe alone")
    parser.add_argument("server_args", nargs="*", help="extra 'serve' options, after --")
    args = parser.parse_args()

    from lenet_deploy.bench.loadtest import encode_body

    proc, url = start_server(args.model, list(args.server_args))
    base = url.split("/v2/")[0]
    host, port = base[7:].rsplit(":", 1)
    body, _ = encode_body(np.zeros((1, 1, 32, 32), np.float32), binary=False)
    infer_raw = request(url[len(base) :] + "/infer", body)
    png = big_png()
    upload_raw = request("/v1/predict", png, b"Content-Type: image/png\r\n")
    print(f"server {url}; {len(png):,}-byte 1024x1024 16-bit PNG; load {os.getloadavg()[0]:.1f}")
    try:
        alone, during, tally, flood_s, sent = flood(
            host, int(port), infer_raw, upload_raw, args.uploads, args.uploaders, args.alone
        )
    finally:
        proc.terminate()
        code = proc.wait(30)
    a, d = np.asarray(alone), np.asarray(during)
    delay = d.max() - np.median(a)
    print(f"{sent} uploads from {args.uploaders} clients in {flood_s:.1f} s; answers read by "
          f"half of them: {dict(sorted(tally.items()))}")  # fmt: skip
    print(f"infer alone:        p50 {np.median(a):.2f} ms, p99 {np.percentile(a, 99):.2f} ms, "
          f"max {a.max():.2f} ms ({len(a)} requests)")  # fmt: skip
    print(f"infer during flood: p50 {np.median(d):.2f} ms, p99 {np.percentile(d, 99):.2f} ms, "
          f"max {d.max():.2f} ms ({len(d)} requests)")  # fmt: skip
    verdict = "met" if delay <= 100 else "MISSED"
    print(f"largest delay: {delay:.1f} ms (target <= 100 ms: {verdict}); server exit {code}")
    return 0 if delay <= 100 and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
