"""The page and /v1/predict over real HTTP: ``lenet-deploy serve`` on loopback (ui_server)."""

from __future__ import annotations

import http.client
import io
import json
import re
import struct
import threading
import urllib.error
import urllib.parse
import urllib.request
import zlib

import numpy as np
import pytest
from conftest import run_cli, start_server, stop_server

from lenet_deploy.serve.image_predict import decode_upload, softmax
from lenet_deploy.serve.settings import ServeSettings

from .harness import running_app

#: The served limits: the session server runs with the default settings.
MAX_BODY_BYTES = ServeSettings().max_body_bytes
MAX_PIXELS = ServeSettings().max_image_pixels

TIMEOUT = 30


def request(url, data=None, headers=None, method=None):
    """(status, headers, body bytes) of one request; error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def predict(url, data, content_type="image/png"):
    status, _, body = request(f"{url}/v1/predict", data, {"Content-Type": content_type})
    return status, json.loads(body)


def png(image, mode="L"):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, mode).save(buf, format="PNG")
    return buf.getvalue()


def ink_on_transparent(pixels):
    """A (32, 32) bright-on-dark digit as the page sends it: black ink, alpha = ink."""
    rgba = np.zeros((*pixels.shape, 4), np.uint8)
    rgba[..., 3] = np.round(pixels * 255).astype(np.uint8)
    return png(rgba, "RGBA")


def multipart(field, filename, data, boundary="lenetXYZ--boundary"):
    disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f'multipart/form-data; boundary="{boundary}"'


@pytest.fixture(scope="module")
def digit(digits, exported_dir):
    """A test digit (32, 32) and the probabilities ort-cpu gives it as a picture: its 8-bit
    quantised ink on white paper, through the image recipe."""
    from lenet_deploy.images.recipe import prepare_image
    from lenet_deploy.runtimes import load_runtime

    pixels = digits.x_test[0, 0]
    on_paper = 255 - np.round(pixels * 255).astype(np.uint8)
    model_input, has_digit = prepare_image(on_paper)
    assert has_digit
    with load_runtime("ort-cpu", exported_dir) as rt:
        expected = softmax(rt.predict(model_input[None]))[0]
    return pixels, expected


@pytest.mark.slow
def test_transparent_canvas_png_is_classified_like_the_pixels(ui_server, digit):
    pixels, expected = digit
    status, answer = predict(ui_server, ink_on_transparent(pixels))
    assert status == 200, answer
    assert answer["no_digit"] is False
    assert answer["label"] == int(expected.argmax())
    np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-6)


def test_the_naive_grayscale_of_that_png_would_be_blank(digit):
    from PIL import Image

    naive = np.asarray(Image.open(io.BytesIO(ink_on_transparent(digit[0]))).convert("L"))
    assert digit[0].max() > 0.9 and naive.max() == 0  # ink and paper both black: blank


def test_opaque_png_jpeg_and_multipart_agree(ui_server, digit):
    from PIL import Image

    dark_on_light = np.round(255 - digit[0] * 255).astype(np.uint8)
    raw_status, raw = predict(ui_server, png(dark_on_light))
    body, content_type = multipart("file", "digit.png", png(dark_on_light))
    form_status, form = predict(ui_server, body, content_type)
    assert (raw_status, form_status) == (200, 200)
    assert form == raw
    assert raw["label"] == int(digit[1].argmax())

    big = Image.fromarray(dark_on_light).resize((256, 256), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=95)
    status, answer = predict(ui_server, buf.getvalue(), "image/jpeg")
    assert status == 200 and answer["no_digit"] is False and answer["label"] in range(10)


def test_blank_canvas_is_no_digit_not_a_guess(ui_server):
    status, answer = predict(ui_server, png(np.zeros((280, 280, 4), np.uint8), "RGBA"))
    assert status == 200
    assert answer["no_digit"] is True and answer["label"] is None
    assert answer["probabilities"] is None and answer["answer"] == "no digit"


@pytest.mark.slow
def test_predict_answers_with_the_cli_fields_and_the_input_on_request(
    ui_server, digit, tmp_path, exported_dir
):
    """/v1/predict and predict --json give the same record for the same picture."""
    from lenet_deploy.images.answer import FIELDS
    from lenet_deploy.images.recipe import decode_image_bytes

    data = ink_on_transparent(digit[0])
    status, answer = predict(ui_server, data)
    assert status == 200 and list(answer) == list(FIELDS)
    url = f"{ui_server}/v1/predict?input=1"
    status, _, body = request(url, data, {"Content-Type": "image/png"})
    with_input = json.loads(body)
    assert status == 200 and with_input.pop("input") is not None and with_input == answer
    pixels, _ = decode_image_bytes(data)
    np.testing.assert_allclose(json.loads(body)["input"], pixels[0], atol=5e-5)
    (tmp_path / "digit.png").write_bytes(data)
    proc = run_cli("predict", "--model", str(exported_dir), "--json", str(tmp_path / "digit.png"))
    record = json.loads(proc.stdout)["predictions"][0]
    assert list(record) == ["file", "index", *FIELDS]
    probabilities = record.pop("probabilities")
    np.testing.assert_allclose(probabilities, answer.pop("probabilities"), atol=2e-6)
    assert record["probability"] == pytest.approx(answer.pop("probability"), abs=2e-6)
    assert {k: record[k] for k in answer} == answer


def png_header_only(width, height):
    """A PNG that declares a size but has no pixel data: only a header check can size it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "content_type", "fragment"),
    [
        (b"not an image at all", "image/png", "not a PNG or JPEG image"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif", "not a PNG or JPEG image"),
        (png_header_only(2048, 1024), "image/png", "2048x1024 = 2,097,152 pixels; the limit"),
        (png_header_only(64, 64), "image/png", "unreadable image"),
        (multipart("note", None, b"x")[0], multipart("note", None, b"x")[1], "no file part"),
        (b"--x\r\n\r\n", "multipart/form-data", "without a boundary"),
    ],
    ids=["garbage", "gif", "too-many-pixels", "truncated-png", "no-file-part", "no-boundary"],
)
def test_bad_bytes_are_400_with_the_reason(ui_server, data, content_type, fragment):
    status, answer = predict(ui_server, data, content_type)
    assert status == 400
    assert fragment in answer["error"], answer


def test_empty_body_is_400(ui_server):
    status, answer = predict(ui_server, b"")
    assert status == 400 and "empty body" in answer["error"]


def raw_exchange(url, head: bytes, body_chunks=()):
    """Send a hand-made request, then read the response: (status, json)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        conn.connect()
        conn.sock.sendall(head)
        for chunk in body_chunks:
            conn.sock.sendall(chunk)
        resp = http.client.HTTPResponse(conn.sock, method="POST")
        resp.begin()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_declared_oversize_body_is_413_before_it_is_sent(ui_server):
    head = (
        "POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
        f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    ).encode()
    status, answer = raw_exchange(ui_server, head)  # no body follows: reading it would hang
    assert status == 413
    assert f"limit is {MAX_BODY_BYTES:,}" in answer["error"]


def test_chunked_oversize_body_is_cut_off_with_413(ui_server):
    head = (
        b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"\0" * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (MAX_BODY_BYTES // len(chunk) + 1)
    status, answer = raw_exchange(ui_server, head, chunks + [b"0\r\n\r\n"])
    assert status == 413 and f"over the limit of {MAX_BODY_BYTES:,}" in answer["error"]


def test_page_and_assets_are_self_contained(ui_server):
    status, headers, page = request(f"{ui_server}/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "connect-src 'self'" in csp
    # Scripts from here only; wasm may be compiled (onnxruntime-web), nothing may be eval'd.
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp and "'unsafe-eval'" not in csp
    html = page.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(assets) == ["data:,", "static/app.css", "static/app.js", "static/recipe.js"]
    for name, media in (
        ("app.js", "text/javascript"),
        ("recipe.js", "text/javascript"),
        ("app.css", "text/css"),
    ):
        status, headers, text = request(f"{ui_server}/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(media)
        # Nothing is fetched from elsewhere: no absolute URLs, no @import.
        assert not re.search(rb"https?:|//[a-z]|@import", text), name
    assert request(f"{ui_server}/static/../ui.py")[0] == 404
    assert request(f"{ui_server}/static/secret.txt")[0] == 404


@pytest.mark.slow
def test_info_reports_the_model_and_counts_requests(ui_server, exported_dir, digits):
    import hashlib

    status, _, body = request(f"{ui_server}/v1/info")
    before = json.loads(body)
    assert status == 200
    assert before["runtime"] == "ort-cpu"
    sha = hashlib.sha256((exported_dir / "lenet.onnx").read_bytes()).hexdigest()
    assert before["model_sha256"] == sha
    assert before["dataset"] == "digits" and type(before["test_accuracy"]) is float
    assert 0.5 < before["test_accuracy"] <= 1 and type(before["unsure_below"]) is float
    predict(ui_server, b"junk")
    predict(ui_server, png(np.zeros((28, 28), np.uint8)))  # no digit: the model is not asked
    predict(ui_server, ink_on_transparent(digits.x_test[0, 0]))
    after = json.loads(request(f"{ui_server}/v1/info")[2])
    counters = before["counters"]
    assert after["counters"]["predict_requests"] == counters["predict_requests"] + 3
    assert after["counters"]["predict_errors"] == counters["predict_errors"] + 1
    # The good image went through the server's batcher: its OIP counters saw one more image.
    assert after["counters"]["images"] == counters["images"] + 1
    assert after["counters"]["batches"] == counters["batches"] + 1


def test_predict_image_runs_off_the_event_loop(digit):
    from starlette.applications import Starlette

    from lenet_deploy.serve.ui import ui_routes

    seen = {}

    def predict_image(data, include_input=False):
        seen["thread"] = threading.get_ident()
        pixels, has_digit = decode_upload(data)
        return {"label": 0, "probabilities": [0.1] * 10, "no_digit": not has_digit}

    async def loop_thread(scope, receive, send):
        seen["loop"] = threading.get_ident()
        await app(scope, receive, send)

    app = Starlette(
        routes=ui_routes(
            predict_image=predict_image,
            info=dict,
            max_body_bytes=MAX_BODY_BYTES,
            max_pixels=MAX_PIXELS,
        )
    )
    with running_app(loop_thread) as url:
        status, answer = predict(url, ink_on_transparent(digit[0]))
    assert status == 200 and answer["label"] == 0
    assert seen["thread"] != seen["loop"]


@pytest.mark.slow
def test_no_ui_serves_the_oip_endpoints_only(exported_dir):
    proc, url = start_server(exported_dir, "--no-ui")
    try:
        base = url.split("/v2/", 1)[0]
        assert request(f"{base}/v2/health/live")[0] == 200
        assert request(f"{base}/")[0] == 404
        assert request(f"{base}/v1/predict", b"x", method="POST")[0] == 404
    finally:
        assert stop_server(proc) == 0
