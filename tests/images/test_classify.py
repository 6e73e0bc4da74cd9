"""predict.py: files -> Prediction records, used by the CLI and (later) the server."""

import numpy as np
import pytest

from lenet_deploy.errors import ImageError, LimitError
from lenet_deploy.images.answer import FIELDS
from lenet_deploy.images.classify import Prediction, load_and_predict, predict_files
from lenet_deploy.runtimes import Runtime


class Fixed(Runtime):
    """Always answers class 7 with logit 10 (others 0)."""

    def __init__(self):
        self.calls = 0

    def _predict(self, x):
        self.calls += 1
        out = np.zeros((len(x), 10), np.float32)
        out[:, 7] = 10
        return out


def test_records_per_image(tmp_path, digits):
    np.save(tmp_path / "two.npy", digits.x_test[:2])
    np.save(tmp_path / "one.npy", digits.x_test[2:3])
    preds = predict_files(Fixed(), [tmp_path / "two.npy", tmp_path / "one.npy"])
    assert [(p.file.endswith("two.npy"), p.index, p.images_in_file) for p in preds] == [
        (True, 0, 2),
        (True, 1, 2),
        (False, 0, 1),
    ]
    p = preds[0]
    assert isinstance(p, Prediction) and p.label == 7
    assert p.probability == pytest.approx(np.exp(10) / (np.exp(10) + 9))
    record = p.to_dict()
    assert list(record) == ["file", "index", *FIELDS]
    assert record["no_digit"] is False and not p.no_digit
    assert record["unsure"] is False and record["answer"] == "7"
    assert record["candidates"][0] == 7 and record["candidates"][1] != 7
    assert sum(record["probabilities"]) == pytest.approx(1, abs=1e-5)
    with pytest.raises(AttributeError):
        p.label = 3  # frozen


def test_no_digit_images_get_no_label_and_are_not_classified(tmp_path, digits):
    from PIL import Image

    Image.new("RGBA", (120, 90), (0, 0, 0, 0)).save(tmp_path / "canvas.png")  # transparent page
    batch = np.concatenate([digits.x_test[:1], np.full((1, 1, 32, 32), 0.5, np.float32)])
    np.save(tmp_path / "mixed.npy", batch)  # a digit, then a uniform grey square
    rt = Fixed()
    blank, digit, grey = predict_files(rt, [tmp_path / "canvas.png", tmp_path / "mixed.npy"])
    assert rt.calls == 1  # only the image with a digit reached the model
    assert not digit.no_digit and digit.label == 7
    for p in (blank, grey):
        assert p.no_digit and p.label is None and p.probability is None
        assert p.to_dict() == {
            "file": p.file,
            "index": p.index,
            "no_digit": True,
            "label": None,
            "probability": None,
            "unsure": False,
            "candidates": None,
            "probabilities": None,
            "answer": "no digit",
        }
    assert predict_files(Fixed(), [tmp_path / "canvas.png"])[0].no_digit


def test_every_file_is_read_before_predicting(tmp_path, digits):
    np.save(tmp_path / "ok.npy", digits.x_test[:1])
    (tmp_path / "notes.txt").write_text("hello")
    rt = Fixed()
    with pytest.raises(ImageError, match="notes.txt"):
        predict_files(rt, [tmp_path / "ok.npy", tmp_path / "notes.txt"])
    assert rt.calls == 0


def test_load_and_predict_matches_the_labels(exported_dir, tmp_path, digits):
    np.save(tmp_path / "ten.npy", digits.x_test[:10])
    preds = load_and_predict("ort-cpu", exported_dir, [tmp_path / "ten.npy"])
    assert sum(p.label == y for p, y in zip(preds, digits.y_test[:10], strict=True)) >= 8


class Upright(Runtime):
    """Class = 9 if the image's centre column is lit above the middle (a vertical stroke), else
    0; records the batch sizes it sees."""

    def __init__(self):
        self.sizes = []

    def _predict(self, x):
        self.sizes.append(len(x))
        out = np.zeros((len(x), 10), np.float32)
        out[:, 9] = x[:, 0, 6, 16] * 10
        return out


def test_files_stream_in_chunks_with_indices_running_across_them(tmp_path, monkeypatch):
    import lenet_deploy.images.recipe as images
    from lenet_deploy.images.classify import check_files, iter_predictions

    x = np.zeros((10, 32, 32), np.float32)
    x[:, 14:18, 4:28] = 1.0  # horizontal strokes...
    x[7] = 0.0
    x[7, 4:28, 14:18] = 1.0  # ...but one vertical, in the second chunk
    x[5] = 0.0  # and one blank page: no digit, never sent to the runtime
    np.save(tmp_path / "ten.npy", x)
    counts = check_files([tmp_path / "ten.npy"])
    assert counts == [(str(tmp_path / "ten.npy"), 10)]
    rt = Upright()
    monkeypatch.setattr(
        "lenet_deploy.images.classify.iter_images", lambda path: images.iter_images(path, chunk=4)
    )
    preds = iter_predictions(rt, counts)
    first = next(preds)
    assert rt.sizes == [4]  # lazily: only the first chunk was read and predicted
    rest = list(preds)
    assert rt.sizes == [4, 3, 2]  # the blank image of the second chunk is not predicted
    assert [p.index for p in [first, *rest]] == list(range(10))
    assert {p.images_in_file for p in rest} == {10}
    assert [p.index for p in rest if p.no_digit] == [5]
    assert [p.index for p in rest if p.label == 9] == [7]


def test_the_total_over_all_files_is_checked_before_reading(tmp_path, monkeypatch):
    from lenet_deploy.errors import LimitError
    from lenet_deploy.images import classify as predict

    np.save(tmp_path / "a.npy", np.zeros((3, 32, 32), np.uint8))
    limits = predict.LIMITS
    monkeypatch.setattr(predict, "LIMITS", type(limits)(max_images=5))
    with pytest.raises(LimitError, match="max_images"):
        predict.check_files([tmp_path / "a.npy", tmp_path / "a.npy"])


class Torn(Runtime):
    """Logits that make 8 (45%) and 3 (35%) the two candidates."""

    def _predict(self, x):
        row = np.log(np.array([2, 2, 2, 35, 2, 2, 2, 2, 45, 6], np.float64) / 100)
        return np.tile(row.astype(np.float32), (len(x), 1))


def test_below_the_threshold_the_answer_is_unsure_between_two(tmp_path, digits):
    np.save(tmp_path / "one.npy", digits.x_test[:1])
    (p,) = predict_files(Torn(), [tmp_path / "one.npy"])
    assert p.unsure and p.label == 8 and p.candidates == (8, 3)
    assert p.answer == "unsure: 8 or 3"
    assert p.describe() == "unsure: 8 or 3 (45.0% / 35.0%)"
    assert p.to_dict()["probability"] == pytest.approx(0.45)
    (sure,) = predict_files(Torn(), [tmp_path / "one.npy"], unsure_below=0.4)
    assert not sure.unsure and sure.answer == "8" and sure.describe() == "8 (45.0%)"
    (never,) = predict_files(Torn(), [tmp_path / "one.npy"], unsure_below=0)
    assert not never.unsure
    for bad in (1.5, -0.1, float("nan"), "0.5"):
        with pytest.raises(LimitError, match="unsure_below"):
            predict_files(Torn(), [tmp_path / "one.npy"], unsure_below=bad)
