"""Soak test of `lenet-deploy serve`: mixed valid and invalid requests for a bounded time.

Starts the server in a subprocess on a free loopback port and runs, all at once:

* ``--clients`` keep-alive clients sending valid infer requests (JSON and binary, batch 1-4),
  every answer decoded and checked bit for bit against in-process ort-cpu;
* ``--bad-clients`` sending the payloads issue 25 lists (repeated outputs, booleans in data,
  float shapes, string flags, a BOM, a lying length header, 40 KB headers), each of which
  must get its 4xx, and then the connection still serves a valid request (or, for 431, a new
  one does);
* ``--quitters`` that send half a request, or a whole one, and close without reading;
* ``--slow`` clients that drip their headers a few bytes a second, until the server times
  them out (408);

then lets the clients go and reports requests, errors (answers other than the expected one),
wrong answers, p50/p99 of the valid requests, the server's RSS after a warm-up of the same
load and at the end, its open descriptors before any client and once the clients have left
(waiting up to 30 s for it to close what they left half-open), and the pending count from
``/metrics`` at the end. Exits 1 if any answer was wrong or unexpected.

    python benchmarks/serve_soak.py [--model artifacts] [--duration 60] [--clients 200]
        [--bad-clients 20] [--quitters 20] [--slow 20] [--json PATH] [-- serve options]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import time
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_load import start_server  # noqa: E402


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def pending(base: str) -> int:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        return int(float(re.search(rb"_pending_requests\{[^}]*\} (\S+)", r.read()).group(1)))


def request(path: str, body: bytes, extra: bytes = b"", header_length=None) -> bytes:
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n" % (path.encode(), len(body))
    if header_length is not None:
        head += b"Inference-Header-Content-Length: %d\r\n" % header_length
    return head + extra + b"\r\n" + body


def bad_requests(path: str, x: np.ndarray) -> list[tuple[str, bytes, int]]:
    """(what, raw request, expected status) for the payloads issue 25 lists."""
    good = {"name": "image", "datatype": "FP32", "shape": [1, 1, 32, 32],
            "data": x.ravel().tolist()}  # fmt: skip

    def doc(tensor=None, **top) -> bytes:
        return json.dumps({"inputs": [tensor or good], **top}).encode()

    data_bools = dict(good, data=[0.0] + [True] * 1023)
    return [
        ("logits named 1000 times", request(path, doc(outputs=[{"name": "logits"}] * 1000)), 400),
        ("booleans in data", request(path, doc(data_bools)), 400),
        ("shape 32.0", request(path, doc(dict(good, shape=[1, 1, 32.0, 32]))), 400),
        ("shape true", request(path, doc(dict(good, shape=[True, 1, 32, 32]))), 400),
        ("binary_data_output 'false'",
         request(path, doc(parameters={"binary_data_output": "false"})), 400),
        ("binary_data 0", request(path, doc(outputs=[{"name": "logits",
                                                      "parameters": {"binary_data": 0}}])), 400),
        ("BOM", request(path, b"\xef\xbb\xbf" + doc()), 400),
        ("length ' +4096'", request(path, doc(), b"Inference-Header-Content-Length:  +10\r\n"),
         400),
        ("2^31 images", request(path, doc(dict(good, shape=[2**31, 1, 32, 32]))), 400),
        ("40 KB header", request(path, doc(), b"X-Big: " + b"a" * 40_000 + b"\r\n"), 431),
    ]  # fmt: skip


async def read_response(reader) -> tuple[int, bytes, int | None]:
    from lenet_deploy.bench.loadtest import _parse_head  # the load generator's own reader

    status, length, header_length = _parse_head(await reader.readuntil(b"\r\n\r\n"))
    return status, await reader.readexactly(length), header_length


class Soak:
    def __init__(self, host, port, path, images, expected, deadline):
        self.host, self.port, self.path = host, port, path
        self.images, self.expected, self.deadline = images, expected, deadline
        self.latencies: list[float] = []
        self.counts = {"valid": 0, "invalid": 0, "quit": 0, "slow": 0, "unexpected": 0,
                       "wrong": 0, "reconnects": 0}  # fmt: skip
        self.unexpected: list[str] = []

    def note(self, what: str) -> None:
        self.counts["unexpected"] += 1
        if len(self.unexpected) < 20:
            self.unexpected.append(what)

    async def connect(self):
        return await asyncio.open_connection(self.host, self.port)

    def valid_request(self, rng) -> tuple[bytes, np.ndarray]:
        return self.pool[int(rng.integers(len(self.pool)))]

    def make_pool(self, size: int = 512) -> None:
        """Valid requests encoded before the clock starts, with the logits each must get."""
        from lenet_deploy.bench.loadtest import encode_body

        rng, self.pool = np.random.default_rng(0), []
        for _ in range(size):
            n = int(rng.integers(1, 5))
            i = int(rng.integers(0, len(self.images) - n))
            body, header_length = encode_body(self.images[i : i + n], bool(rng.integers(2)))
            raw = request(self.path, body, header_length=header_length)
            self.pool.append((raw, self.expected[i : i + n]))

    async def check_valid(self, reader, writer, rng) -> None:
        from lenet_deploy.bench.loadtest import decode_logits

        raw, want = self.valid_request(rng)
        t0 = time.perf_counter()
        writer.write(raw)
        status, body, header_length = await read_response(reader)
        self.latencies.append(time.perf_counter() - t0)
        self.counts["valid"] += 1
        if status != 200:
            self.note(f"valid request got {status}: {body[:100]!r}")
        elif not np.array_equal(decode_logits(body, header_length), want):
            self.counts["wrong"] += 1

    async def valid_client(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        reader, writer = await self.connect()
        while time.monotonic() < self.deadline:
            try:
                await self.check_valid(reader, writer, rng)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                self.note(f"valid client lost its connection: {exc!r}")
                writer.close()
                reader, writer = await self.connect()
        writer.close()

    async def bad_client(self, seed: int, cases) -> None:
        rng = np.random.default_rng(seed)
        while time.monotonic() < self.deadline:
            what, raw, want = cases[int(rng.integers(len(cases)))]
            reader, writer = await self.connect()
            try:
                writer.write(raw)
                status, body, _ = await read_response(reader)
                self.counts["invalid"] += 1
                if status != want:
                    self.note(f"{what}: got {status}, expected {want}: {body[:100]!r}")
                elif want != 431:  # the connection still serves
                    await self.check_valid(reader, writer, rng)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                self.note(f"{what}: connection lost: {exc!r}")
            writer.close()

    async def quitter(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        while time.monotonic() < self.deadline:
            raw, _ = self.valid_request(rng)
            _, writer = await self.connect()
            writer.write(raw[: int(rng.integers(1, len(raw) + 1))])  # half, or all of it
            await writer.drain()
            await asyncio.sleep(float(rng.random()) * 0.05)
            writer.close()  # without reading the answer
            self.counts["quit"] += 1

    async def slow_client(self, seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < self.deadline:
            reader, writer = await self.connect()
            writer.write(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
            head = b""
            try:
                while not head and time.monotonic() < self.deadline:
                    writer.write(b"X-Slow: %d\r\n" % rng.randrange(10))  # never a long gap
                    try:
                        head = await asyncio.wait_for(reader.read(200), 0.5)
                    except asyncio.TimeoutError:
                        continue
                    self.counts["slow"] += 1
                    if not head.startswith(b"HTTP/1.1 408"):
                        self.note(f"slow client got {head[:60]!r}, expected 408")
            except ConnectionError:
                self.counts["slow"] += 1
            finally:
                writer.close()


async def run(soak: Soak, clients: int, bad: int, quitters: int, slow: int, cases) -> None:
    tasks = [soak.valid_client(i) for i in range(clients)]
    tasks += [soak.bad_client(1000 + i, cases) for i in range(bad)]
    tasks += [soak.quitter(2000 + i) for i in range(quitters)]
    tasks += [soak.slow_client(3000 + i) for i in range(slow)]
    await asyncio.gather(*tasks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts", help="artifacts dir or .onnx file")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument(
        "--warmup", type=float, default=5.0,
        help="seconds of the same load before the 'before' RSS is read (not counted)",
    )  # fmt: skip
    parser.add_argument("--clients", type=int, default=200, help="valid keep-alive clients")
    parser.add_argument("--bad-clients", type=int, default=20)
    parser.add_argument("--quitters", type=int, default=20)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("server_args", nargs="*", help="extra 'serve' options, after --")
    args = parser.parse_args()

    from lenet_deploy.data.datasets import load_dataset
    from lenet_deploy.runtimes import load_runtime

    images = np.ascontiguousarray(load_dataset("digits").x_test[:256])
    with load_runtime("ort-cpu", args.model, threads=1) as rt:
        expected = rt.predict(images)
    proc, url = start_server(args.model, ["--no-ui", *args.server_args])
    base = url.split("/v2/")[0]
    host, port = base[7:].rsplit(":", 1)
    path = url[len(base) :] + "/infer"
    cases = bad_requests(path, images[0])
    print(f"server {url} (pid {proc.pid}); load {os.getloadavg()[0]:.1f}", flush=True)
    try:
        fds0 = open_fds(proc.pid)
        soak = Soak(host, int(port), path, images, expected, 0.0)
        soak.make_pool()
        mix = (args.clients, args.bad_clients, args.quitters, args.slow, cases)
        soak.deadline = time.monotonic() + args.warmup  # the same mix, not counted
        asyncio.run(run(soak, *mix))
        rss0, pool = rss_mib(proc.pid), soak.pool
        start = time.monotonic()
        soak = Soak(host, int(port), path, images, expected, start + args.duration)
        soak.pool = pool
        asyncio.run(run(soak, *mix))
        elapsed = time.monotonic() - start
        settle = time.monotonic()  # the server closes what the clients left half-open
        while open_fds(proc.pid) > fds0 and time.monotonic() - settle < 30:
            time.sleep(0.5)
        rss1, fds1, left = rss_mib(proc.pid), open_fds(proc.pid), pending(base)
    finally:
        proc.terminate()
        code = proc.wait(30)
    lat = np.asarray(soak.latencies) * 1e3
    c = soak.counts
    result = {
        "duration_s": round(elapsed, 1), **c,
        "valid_per_s": round(c["valid"] / elapsed, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
        "rss_mib_before": round(rss0, 1), "rss_mib_after": round(rss1, 1),
        "rss_growth_pct": round((rss1 - rss0) / rss0 * 100, 1),
        "fds_before": fds0, "fds_after": fds1, "fds_settle_s": round(time.monotonic() - settle, 1),
        "pending_at_end": left, "server_exit": code, "unexpected_examples": soak.unexpected,
    }  # fmt: skip
    print(
        f"{elapsed:.0f} s: {c['valid']} valid requests ({result['valid_per_s']}/s, p50 "
        f"{result['p50_ms']} ms, p99 {result['p99_ms']} ms), {c['invalid']} invalid, "
        f"{c['quit']} quitters, {c['slow']} slow clients timed out"
    )
    print(f"wrong answers: {c['wrong']}; unexpected answers: {c['unexpected']}")
    for line in soak.unexpected:
        print(f"  {line}")
    print(
        f"RSS {rss0:.1f} -> {rss1:.1f} MiB ({result['rss_growth_pct']:+.1f}%); open descriptors "
        f"{fds0} -> {fds1} ({result['fds_settle_s']} s after the clients left); pending at end "
        f"{left}; server exit status {code}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    ok = not c["wrong"] and not c["unexpected"] and fds1 <= fds0 and left == 0 and code == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
