"""The dev harness for the page and /v1/predict: ``ui_routes`` around ort-cpu, on uvicorn.

TEMPORARY (until the OIP server and the MNIST image recipe are merged): the app is built here
in-process instead of running ``lenet-deploy serve``, and ``decode_for_tests`` stands in for
``images.decode_image_bytes``. Swap both for the real ones; the tests themselves stay.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import socket
import threading
import time

import numpy as np

from lenet_deploy import images

MAX_BODY_BYTES = 256 * 1024
MAX_PIXELS = 1024 * 1024
INK_THRESHOLD = 0.3  # a pixel at least this bright (after inversion) counts as ink
MIN_INK_PIXELS = 4  # fewer ink pixels in the 32x32 input: "no digit found"


def decode_for_tests(data: bytes) -> tuple[np.ndarray, bool]:
    """TEMPORARY stand-in for ``images.decode_image_bytes``: PNG/JPEG bytes to (1, 32, 32)."""
    from PIL import Image

    from lenet_deploy.errors import ImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                # Transparent pixels are paper: a naive "L" conversion would make them black,
                # the same as the ink, and the drawing would vanish.
                paper = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(paper, img.convert("RGBA"))
            gray = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"unreadable image ({exc})") from None
    pixels = images.to_model_input(gray[None], "upload")[0]
    return pixels, int((pixels > INK_THRESHOLD).sum()) >= MIN_INK_PIXELS


def served_info(runtime, onnx_path) -> dict:
    """The panel's data: what ``lenet-deploy serve`` will report from the ONNX metadata."""
    from lenet_deploy.exporters.onnx import read_metadata

    meta = read_metadata(onnx_path)
    return {
        "runtime": runtime.name,
        "device": runtime.device,
        "model_sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "dataset": meta.get("dataset", ""),
        "test_accuracy": meta.get("test_accuracy", ""),
        "counters": {},
    }


@contextlib.contextmanager
def running_app(app):
    """Serve a Starlette ``app`` with uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # a free port, held from here on: no race with other tests
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start within 20 s")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
