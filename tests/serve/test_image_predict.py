import numpy as np
import pytest

from lenet_deploy.errors import ImageError, LimitError
from lenet_deploy.images.answer import FIELDS, answer_for
from lenet_deploy.runtimes import load_runtime
from lenet_deploy.serve.image_predict import make_predict_image, softmax


@pytest.fixture(scope="module")
def runtime(exported_dir):
    with load_runtime("ort-cpu", exported_dir, threads=1) as rt:
        yield rt


def fixed_decode(pixels, has_digit=True):
    def decode(data):
        assert data == b"image bytes"
        return pixels, has_digit

    return decode


def test_probabilities_are_the_softmax_of_the_runtime_logits(runtime, digits):
    pixels = digits.x_test[3]
    answer = make_predict_image(runtime, fixed_decode(pixels))(b"image bytes")
    logits = runtime.predict(pixels[None]).astype(np.float64)[0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert list(answer) == list(FIELDS) and answer["no_digit"] is False
    assert answer["label"] == int(logits.argmax()) == int(digits.y_test[3])
    assert all(type(p) is float for p in answer["probabilities"])
    np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-6)
    assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    # The same record as the library's (and so predict --json's) for that image.
    assert answer == answer_for(expected, True).answer_dict()


def test_no_digit_gives_no_label_no_probabilities_and_skips_the_model(runtime):
    class Counting:
        calls = 0

        def predict(self, x):
            Counting.calls += 1
            return runtime.predict(x)

    blank = np.zeros((1, 32, 32), np.float32)
    answer = make_predict_image(Counting(), fixed_decode(blank, has_digit=False))(b"image bytes")
    assert answer == {"no_digit": True, "label": None, "probability": None, "unsure": False,
                      "candidates": None, "probabilities": None, "answer": "no digit"}  # fmt: skip
    assert Counting.calls == 0


def test_unsure_threshold_and_the_input_it_used(runtime, digits):
    pixels = digits.x_test[3]
    sure = make_predict_image(runtime, fixed_decode(pixels), unsure_below=0.0)
    doubt = make_predict_image(runtime, fixed_decode(pixels), unsure_below=1.0)
    a, b = sure(b"image bytes", True), doubt(b"image bytes")
    assert a["unsure"] is False and b["unsure"] is True and "input" not in b
    assert b["answer"] == f"unsure: {b['candidates'][0]} or {b['candidates'][1]}"
    np.testing.assert_allclose(a["input"], pixels[0], atol=5e-5)
    with pytest.raises(LimitError, match="unsure_below"):
        make_predict_image(runtime, fixed_decode(pixels), unsure_below=2)


def test_decode_errors_reach_the_caller(runtime):
    def decode(data):
        raise ImageError("not a PNG or JPEG image")

    with pytest.raises(ImageError, match="not a PNG"):
        make_predict_image(runtime, decode)(b"junk")


def test_softmax_is_stable_for_large_logits():
    out = softmax(np.array([[1000.0, 0.0, -1000.0], [3.0, 3.0, 3.0]], np.float32))
    np.testing.assert_allclose(out, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.slow
def test_decode_upload_is_the_library_recipe_on_a_canvas_png():
    import io

    from PIL import Image, ImageDraw

    from lenet_deploy.images import recipe as images
    from lenet_deploy.serve.image_predict import decode_upload

    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))  # a canvas export: transparent page
    ImageDraw.Draw(canvas).line([(140, 40), (140, 240)], fill=(20, 20, 20, 255), width=18)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    pixels, has_digit = decode_upload(buf.getvalue())
    expected, expected_digit = images.decode_image_bytes(buf.getvalue())
    assert has_digit is expected_digit is True
    np.testing.assert_array_equal(pixels, expected)
    assert pixels.shape == (1, 32, 32) and pixels.max() == pytest.approx(1.0)
    blank = io.BytesIO()
    Image.new("RGBA", (280, 280), (0, 0, 0, 0)).save(blank, format="PNG")
    assert decode_upload(blank.getvalue())[1] is False
    with pytest.raises(ImageError):
        decode_upload(b"not an image")
