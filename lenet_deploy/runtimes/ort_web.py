"""``ort-web``: the exported ONNX in onnxruntime-web, inside a headless Chromium driven from Python.

The runtime owns three things, all stopped by ``close()``: a loopback HTTP server for the page,
the model and onnxruntime-web's files (with the COOP/COEP headers multi-threaded wasm needs, and
``.wasm`` as application/wasm); a loopback WebSocket server; and one Debian Chromium, started
directly with its own temporary profile. Batches go to the page as binary WebSocket messages,
one call in flight at a time (page protocol: ``ort_web_static/page.html``).

onnxruntime-web is installed by npm from the repository's lockfile (``npm ci --prefix web``) and
never fetched at run time. Loading runs a parity check against Python onnxruntime on the same
export and refuses a backend that fails it (``ParityError``, with the numbers).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import numpy as np

from .._optional import missing_reason
from ..artifacts.layout import ArtifactKind, resolve
from ..errors import LenetDeployError, ParityError, RuntimeUnavailableError
from ..spec import NUM_CLASSES
from . import ort_web_files
from .base import Runtime
from .registry import RuntimeEntry, register_runtime

NAME = "ort-web"
#: The default ``dist`` is ``ort_web_files.default_dist()`` (one rule with the page's).
DIST_ENV, NPM_DIST = ort_web_files.ENV, ort_web_files.NPM_DIST
NPM_FIX = (f"run 'npm ci --prefix web' in the lenet-deploy repository (for a copy not installed "
           f"from it: set {DIST_ENV} to its {NPM_DIST}), or pass dist=PATH")  # fmt: skip
PAGE = Path(__file__).with_name("ort_web_static") / "page.html"
#: The onnxruntime-web build each backend loads unless ``build`` says otherwise. ort.min.js
#: runs WebGPU through its JS kernels; ort.webgpu.min.js is the native WebGPU EP.
DEFAULT_BUILD = {"wasm": "ort.wasm.min.js", "webgpu": "ort.min.js"}
Build = Literal["ort.wasm.min.js", "ort.min.js", "ort.webgpu.min.js", "ort.all.min.js"]
CHUNK = 256  # images per WebSocket message: larger batches go as several, in order
START_TIMEOUT_S = 60.0  # Chromium up, page loaded, model compiled
CALL_TIMEOUT_S = 60.0
#: The load check: this many test digits and uniform-noise images, against Python onnxruntime.
CHECK_DIGITS, CHECK_NOISE = 32, 32
_FLAGS = (
    "--headless", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-dev-shm-usage", "--enable-logging=stderr",
)  # fmt: skip
#: Headless Chromium offers WebGPU only through the SwiftShader software adapter, with these.
WEBGPU_FLAGS = ("--enable-unsafe-webgpu", "--enable-unsafe-swiftshader")
_TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
          ".wasm": "application/wasm", ".onnx": "application/octet-stream"}  # fmt: skip
#: Cross-origin isolation: what multi-threaded wasm (SharedArrayBuffer) needs.
_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy":
            "require-corp", "Cross-Origin-Resource-Policy": "same-origin"}  # fmt: skip


@dataclass(frozen=True)
class OrtWebOptions:
    """``ort-web``: ``backend`` (wasm, or webgpu where the browser offers an adapter), ``build``
    (the onnxruntime-web script; None: ort.wasm.min.js for wasm, ort.min.js for webgpu),
    ``threads`` (wasm threads), ``dist`` (onnxruntime-web's dist folder; None: see
    ``DIST_ENV``) and ``chromium`` (the browser: a path or a name on PATH)."""

    backend: Literal["wasm", "webgpu"] = "wasm"
    build: Build | None = None
    threads: int = 1
    dist: str | None = None
    chromium: str = "chromium"

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


def probe(options: OrtWebOptions = OrtWebOptions()) -> str | None:
    """None when ort-web can start with ``options``, else what is missing and how to get it."""
    if reason := missing_reason("websockets", "web", NAME):
        return f"{NAME}: {reason}"
    if shutil.which(options.chromium) is None:
        return (
            f"{NAME}: Chromium not found ({options.chromium!r} is not on PATH); install it "
            "(Debian: apt-get install chromium) or pass chromium=PATH"
        )
    build, dist = options.build or DEFAULT_BUILD[options.backend], _dist(options)
    for needed in (build, "ort-wasm-simd-threaded.wasm"):
        if not (dist / needed).is_file():
            return f"{NAME}: onnxruntime-web's {needed} is not in {dist}; {NPM_FIX}"
    return None


def _dist(options: OrtWebOptions) -> Path:
    return Path(options.dist) if options.dist else ort_web_files.default_dist()


def _file_server(routes: dict[str, Path]) -> http.server.ThreadingHTTPServer:
    class Files(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = routes.get(self.path.split("?", 1)[0])
            if path is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", _TYPES.get(path.suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(path.stat().st_size))
            for header, value in _HEADERS.items():
                self.send_header(header, value)
            self.end_headers()
            with path.open("rb") as f:
                shutil.copyfileobj(f, self.wfile)

        def log_message(self, *_args: Any) -> None:  # the page's requests: not the user's
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    server.daemon_threads = True
    return server


@register_runtime(
    NAME,
    artifact=ArtifactKind.ONNX,
    device="browser",
    options=OrtWebOptions,
    probe=probe,
    description="onnxruntime-web (wasm or WebGPU) in headless Chromium, over a WebSocket",
)
class OrtWebRuntime(Runtime):
    """An exported ONNX file in onnxruntime-web in one headless Chromium (``OrtWebOptions``).

    ``last_page_ms`` is the time the page spent in ``session.run`` for the last batch sent.
    """

    chunk_size = CHUNK
    last_page_ms: float | None = None
    _conn: Any = None

    def __init__(self, artifact: str | os.PathLike, options: OrtWebOptions, entry: RuntimeEntry):
        if reason := probe(options):
            raise RuntimeUnavailableError(reason)
        from websockets.sync.server import serve

        self.path = resolve(artifact, ArtifactKind.ONNX)
        self.options, self.device = options, f"browser:{options.backend}"
        self.build = options.build or DEFAULT_BUILD[options.backend]
        self._lock = threading.Lock()
        self._connected, self._gone = threading.Event(), threading.Event()
        self._profile = tempfile.mkdtemp(prefix="lenet-ort-web-")
        self._stop_browser = weakref.finalize(self, _stop, None, None, self._profile)
        routes = {f"/ort/{p.name}": p for p in _dist(options).iterdir() if p.is_file()}
        routes |= {"/": PAGE, "/model.onnx": self.path}
        self._http = _file_server(routes)
        self.url = origin = f"http://127.0.0.1:{self._http.server_address[1]}"  # the page's server
        self._ws = serve(self._accept, "127.0.0.1", 0, origins=[origin], compression=None,
                         max_size=None, ping_interval=None)  # fmt: skip
        threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True).start()
        threading.Thread(target=self._ws.serve_forever, daemon=True).start()
        try:
            self.page = self._start(origin)
            self._check_parity()
        except BaseException:
            self.close()
            raise

    def _accept(self, conn: Any) -> None:
        if self._connected.is_set():
            return  # one page per runtime; returning closes any other connection
        self._conn = conn
        self._connected.set()
        self._gone.wait()

    def _start(self, origin: str) -> dict[str, Any]:
        o = self.options
        flags = [*_FLAGS, f"--user-data-dir={self._profile}"]
        flags += list(WEBGPU_FLAGS) if o.backend == "webgpu" else ["--disable-gpu"]
        if os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        query = {"ws": self._ws.socket.getsockname()[1], "backend": o.backend,
                 "threads": o.threads, "build": self.build}  # fmt: skip
        log = open(os.path.join(self._profile, "chromium.log"), "wb")  # noqa: SIM115
        self._browser = subprocess.Popen(
            [shutil.which(o.chromium) or o.chromium, *flags, f"{origin}/?{urlencode(query)}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        self._stop_browser.detach()
        self._stop_browser = weakref.finalize(self, _stop, self._browser, log, self._profile)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._connected.wait(0.05):
            if self._browser.poll() is not None or time.monotonic() > deadline:
                raise RuntimeUnavailableError(f"{NAME}: Chromium opened no page{self._tail()}")
        try:
            hello = json.loads(self._conn.recv(timeout=max(deadline - time.monotonic(), 1.0)))
        except TimeoutError:
            late = f"{NAME}: the page did not load the model in {START_TIMEOUT_S:g} s"
            raise RuntimeUnavailableError(late + self._tail()) from None
        if not hello.get("ready"):
            fix = "; use backend=wasm" if o.backend == "webgpu" else ""
            raise RuntimeUnavailableError(
                f"{NAME}: {o.backend} ({self.build}) failed in the page: {hello.get('error')}{fix}"
            )
        return hello

    def _tail(self) -> str:
        log = Path(self._profile, "chromium.log")
        last = log.read_text(errors="replace").strip().rsplit("\n", 1)[-1] if log.is_file() else ""
        return f" (Chromium's last line: {last[:200]})" if last else ""

    def _check_parity(self) -> None:
        from ..data.datasets import load_digits_arrays, prepare_images
        from ..verify.compare import compare
        from .registry import load_runtime

        # a few bundled digits through the image recipe (the whole set takes seconds)
        digits = prepare_images(load_digits_arrays()[0][:CHECK_DIGITS])
        noise = np.random.default_rng(0).random((CHECK_NOISE, 1, 32, 32), dtype=np.float32)
        sets = {"digits": digits, "noise": noise}
        with load_runtime("ort-cpu", self.path) as reference:
            want = {k: reference.predict(v) for k, v in sets.items()}
        result = compare({k: self.predict(v) for k, v in sets.items()}, want, "fp32")
        if not result:
            raise ParityError(
                f"{NAME}: {self.options.backend} ({self.build}) computes something other than "
                f"onnxruntime on {self.path.name} ({'; '.join(result.failures)}); refused, use "
                "backend=wasm",
                result,
            )

    def _predict(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        with self._lock:
            if self._gone.is_set():
                raise LenetDeployError(f"{NAME}: a previous call failed; load the runtime again")
            try:
                self._conn.send(struct.pack("<I", n) + x.tobytes())  # one frame: fewer wakeups
                reply = self._conn.recv(timeout=CALL_TIMEOUT_S)
            except Exception as exc:  # closed connection, timeout: the page is gone or stuck
                self._gone.set()
                raise RuntimeUnavailableError(
                    f"{NAME}: the browser stopped answering ({type(exc).__name__}: {exc})"
                    f"{self._tail()}"
                ) from None
        if isinstance(reply, str):
            raise LenetDeployError(f"{NAME}: the page failed: {json.loads(reply).get('error')}")
        self.last_page_ms = struct.unpack_from("<d", reply)[0]
        return np.frombuffer(reply, np.float32, offset=8).reshape(n, NUM_CLASSES).copy()

    def info(self) -> dict[str, Any]:
        page = getattr(self, "page", {})
        return {
            **super().info(),
            "engine": "onnxruntime-web",
            "engine_version": page.get("version"),
            "backend": self.options.backend,
            "build": self.build,
            "threads": page.get("threads"),
            "cross_origin_isolated": page.get("isolated"),
            "adapter": page.get("adapter"),
            "browser": page.get("userAgent"),
        }

    def _close(self) -> None:
        self._gone.set()  # lets the WebSocket handler return
        self._stop_browser()
        for server in (self._ws, self._http):
            server.shutdown()
        self._http.server_close()


def _stop(browser: subprocess.Popen | None, log: Any, profile: str) -> None:
    """Chromium and every process it started (its own session), its log and its profile.

    Also run at exit for a runtime never closed. Nothing in the throwaway profile needs a
    graceful shutdown, which takes a second."""
    if browser is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(browser.pid, signal.SIGKILL)
        browser.wait(10)
    if log is not None:
        log.close()
    shutil.rmtree(profile, ignore_errors=True)
