"""``/v1/predict`` under load and on odd images: a few decodes at a time, as many waiting
(503 beyond, at once), JPEGs must be whole, and the side rule (both sides >= 2 pixels, no
aspect limit)."""

import concurrent.futures
import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from lenet_deploy.errors import ImageError
from lenet_deploy.serve.image_predict import decode_upload

from .harness import running_app
from .test_ui import MAX_BODY_BYTES, MAX_PIXELS, png, predict


def _jpeg(pixels: np.ndarray, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90, **options)
    return buf.getvalue()


def _noise(side=512):
    return (np.random.default_rng(0).random((side, side)) * 255).astype(np.uint8)


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpeg_cut_short_and_closed_with_an_end_marker_is_refused(progressive):
    whole = _jpeg(_noise(), progressive=progressive)
    decode_upload(whole)  # a complete one decodes
    for fraction in (0.3, 0.7, 0.95):
        forged = whole[: int(len(whole) * fraction)] + b"\xff\xd9"
        with pytest.raises(ImageError, match="incomplete or corrupt JPEG"):
            decode_upload(forged)


def test_a_jpeg_cut_short_is_refused():
    whole = _jpeg(_noise())
    with pytest.raises(ImageError, match="truncated|incomplete"):
        decode_upload(whole[: len(whole) // 2])


def _strip(height, width):
    strip = np.full((height, width), 255, np.uint8)
    strip[:, width // 2 : width // 2 + max(1, width // 64)] = 0
    return png(strip)


@pytest.mark.parametrize("shape", [(1, 1_048_576), (1_048_576, 1)])
def test_an_image_one_pixel_thin_is_refused_by_the_side_rule(shape):
    with pytest.raises(ImageError, match=r"expected an image \(H, W"):
        decode_upload(_strip(*shape))


@pytest.mark.parametrize("shape", [(2, 524_288), (524_288, 2), (16, 65_536)])
def test_no_aspect_ratio_limit_within_the_pixel_limit(shape):
    pixels, _ = decode_upload(_strip(*shape))
    assert pixels.shape == (1, 32, 32) and 0 <= pixels.min() and pixels.max() <= 1


def test_predict_decodes_a_few_at_a_time_and_refuses_more_at_once(digits):
    from starlette.applications import Starlette

    from lenet_deploy.serve.ui import ui_routes

    release, started = threading.Event(), threading.Semaphore(0)

    def predict_image(data, include_input=False):
        started.release()
        release.wait(30)
        return {"label": 0, "probabilities": [0.1] * 10, "no_digit": False}

    routes = ui_routes(
        predict_image=predict_image, info=dict, max_body_bytes=MAX_BODY_BYTES,
        max_pixels=MAX_PIXELS, concurrency=2,
    )  # fmt: skip
    image = png(255 - (digits.x_test[0, 0] * 255).astype(np.uint8))
    with running_app(Starlette(routes=routes)) as url:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            busy = [pool.submit(predict, url, image) for _ in range(4)]  # 2 decode, 2 wait
            assert started.acquire(timeout=20) and started.acquire(timeout=20)
            time.sleep(0.5)  # the other two are in and waiting
            assert not started.acquire(timeout=0.2)  # only two decode at once
            status, answer = predict(url, image)  # a fifth: refused at once
            assert (
                status == 503 and "busy: 2 images are being decoded and 2 wait" in (answer["error"])
            )
            release.set()
            assert [f.result()[0] for f in busy] == [200] * 4
        assert predict(url, image)[0] == 200  # the slots are free again
