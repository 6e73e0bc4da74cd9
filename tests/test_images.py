import numpy as np
import pytest
from PIL import Image

from lenet_deploy.errors import ImageError
from lenet_deploy.images import invert_if_light, load_images


def test_dark_on_light_png_is_inverted_and_resized(tmp_path, digits):
    digit = digits.x_test[0, 0, 2:30, 2:30]  # 28x28, bright on dark
    paper = Image.fromarray(((1 - digit) * 255).astype(np.uint8)).resize((56, 56))
    paper.convert("RGB").save(tmp_path / "ink.png")
    x = load_images(tmp_path / "ink.png")
    assert x.shape == (1, 1, 32, 32) and x.dtype == np.float32
    assert not x[0, 0, :2].any()  # zero padding, i.e. dark background after inversion
    # back to the original digit, up to resampling
    assert np.abs(x[0, 0, 2:30, 2:30] - digit).mean() < 0.05


def test_bright_on_dark_is_kept(digits):
    img = digits.x_test[1, 0]
    np.testing.assert_array_equal(invert_if_light(img), img)
    np.testing.assert_allclose(invert_if_light(1 - img), img, atol=1e-6)


def test_npy_shapes_and_dtypes(tmp_path, digits):
    np.save(tmp_path / "batch.npy", digits.x_test[:4])
    np.testing.assert_array_equal(load_images(tmp_path / "batch.npy"), digits.x_test[:4])
    np.save(tmp_path / "one.npy", (digits.x_test[0, 0] * 255).astype(np.uint8))
    np.testing.assert_allclose(load_images(tmp_path / "one.npy")[0], digits.x_test[0], atol=1 / 255)
    np.save(tmp_path / "mnist.npy", np.zeros((3, 28, 28), np.uint8))
    assert load_images(tmp_path / "mnist.npy").shape == (3, 1, 32, 32)


@pytest.mark.parametrize(
    "name,content,fragment",
    [
        ("a.png", b"not a png", "not an image Pillow can read"),
        ("a.jpg", "truncated", "unreadable image"),
        ("a.npy", b"garbage", "not a readable .npy"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path, name, content, fragment):
    path = tmp_path / name
    if content == "truncated":  # a real JPEG cut in half: the header reads, the pixels do not
        noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
        Image.fromarray(noise).save(path, quality=95)
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(ImageError) as err:
        load_images(path)
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_bad_npy_contents(tmp_path):
    np.save(tmp_path / "s.npy", np.array(["x"]))
    with pytest.raises(ImageError, match="dtype <U1"):
        load_images(tmp_path / "s.npy")
    np.save(tmp_path / "big.npy", np.full((28, 28), 255.0))
    with pytest.raises(ImageError, match="divide by 255"):
        load_images(tmp_path / "big.npy")
    np.save(tmp_path / "v.npy", np.zeros(10))
    with pytest.raises(ImageError, match="shape"):
        load_images(tmp_path / "v.npy")
    with pytest.raises(ImageError, match="no such file"):
        load_images(tmp_path / "missing.png")
