import io

import numpy as np
import pytest
from PIL import Image

from lenet_deploy.errors import ImageError
from lenet_deploy.images.recipe import (
    BOX,
    ImageBatch,
    decode_image_bytes,
    load_images,
    prepare_image,
)

MNIST = None


def mnist_digit(index: int = 0) -> np.ndarray:
    """A real MNIST digit (28x28 uint8, bright on black) and, padded, the model input it is."""
    global MNIST
    if MNIST is None:
        from lenet_deploy.data.datasets import load_mnist5k_arrays

        MNIST = load_mnist5k_arrays()[0][:20]
    return MNIST[index]


def reference(index: int = 0) -> np.ndarray:
    from lenet_deploy.data.datasets import pad_mnist

    return pad_mnist(mnist_digit(index)[None])[0]


def close_to(pixels: np.ndarray, want: np.ndarray, tol: float = 0.06) -> bool:
    return float(np.abs(pixels - want).mean()) < tol


def test_mnist_digit_is_a_fixed_point_of_the_recipe():
    for i in range(5):
        pixels, found = prepare_image(mnist_digit(i))
        assert found and pixels.shape == (1, 32, 32) and pixels.dtype == np.float32
        assert close_to(pixels, reference(i), 0.03)


def test_geometry_fits_20x20_and_centres_the_mass():
    img = np.zeros((300, 120), np.uint8)  # a tall bar off-centre in a non-square picture
    img[40:200, 10:40] = 255
    pixels, found = prepare_image(img)
    rows, cols = np.flatnonzero(pixels[0].any(1)), np.flatnonzero(pixels[0].any(0))
    assert found and rows[-1] - rows[0] + 1 == BOX  # longer side fitted to 20
    assert 3 <= cols[-1] - cols[0] + 1 <= 6  # aspect kept (30/160 of 20)
    yy, xx = np.indices((32, 32))
    mass = pixels[0].sum()
    assert (
        abs((yy * pixels[0]).sum() / mass - 16) < 1 and abs((xx * pixels[0]).sum() / mass - 16) < 1
    )


def test_polarity_comes_from_the_background():
    digit = mnist_digit(1)
    dark_on_light, found = prepare_image(255 - digit)
    assert found and close_to(dark_on_light, reference(1))


def test_coloured_ink_on_tinted_paper_with_vignetting_and_jpeg():
    digit = Image.fromarray(mnist_digit(2)).resize((140, 140), Image.Resampling.BILINEAR)
    ink = np.asarray(digit, np.float32)[..., None] / 255
    paper, pen = np.float32([0.95, 0.9, 0.7]), np.float32([0.1, 0.2, 0.6])
    yy, xx = np.mgrid[0:140, 0:140]
    shade = 1 - 0.4 * (((yy - 70) ** 2 + (xx - 70) ** 2) / 70**2 / 2)[..., None]
    rgb = ((paper * (1 - ink) + pen * ink) * shade * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=40)
    pixels, found = decode_image_bytes(buf.getvalue())
    assert found and close_to(pixels, reference(2), 0.07)


def test_transparent_canvas_png_is_strokes_on_background():
    alpha = np.asarray(Image.fromarray(mnist_digit(3)).resize((280, 280)), np.uint8)
    rgba = np.zeros((280, 280, 4), np.uint8)  # black strokes; transparent pixels are black too
    rgba[..., 3] = alpha
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG")
    pixels, found = decode_image_bytes(buf.getvalue())
    assert found and close_to(pixels, reference(3))
    blank = io.BytesIO()
    Image.new("RGBA", (280, 280), (0, 0, 0, 0)).save(blank, format="PNG")
    assert decode_image_bytes(blank.getvalue())[1] is False


@pytest.mark.parametrize("kind", ["uint16-12bit", "float-0-1", "float-wide", "rgb", "la", "pil-l"])
def test_depths_and_channels(kind):
    digit = mnist_digit(4).astype(np.float32) / 255
    image = {
        "uint16-12bit": (digit * 4095).astype(np.uint16),  # a 12-bit scan: not dim
        "float-0-1": digit,
        "float-wide": digit * 1000 - 20,
        "rgb": np.repeat((digit * 255).astype(np.uint8)[..., None], 3, axis=2),
        "la": np.stack([np.zeros_like(digit), digit], axis=2),  # ink only in the alpha channel
        "pil-l": Image.fromarray((digit * 255).astype(np.uint8)),
    }[kind]
    pixels, found = prepare_image(image)
    assert found and close_to(pixels, reference(4), 0.03)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((50, 50), np.uint8),
        np.full((40, 60), 200, np.uint8),
        np.full((40, 40), 0.5, np.float32),
        np.random.default_rng(0).integers(0, 256, (64, 64)).astype(np.uint8),
        np.clip(220 + np.random.default_rng(1).normal(0, 8, (90, 90)), 0, 255).astype(np.uint8),
        np.random.default_rng(2).random((30, 30, 3)),
    ],
    ids=["black", "grey", "float-uniform", "uniform-noise", "paper-grain", "colour-noise"],
)
def test_no_digit_is_reported_never_a_picture(image):
    pixels, found = prepare_image(image)
    assert found is False and not pixels.any()


def test_load_images_batch_and_flags(tmp_path):
    batch = np.stack([mnist_digit(0), np.zeros((28, 28), np.uint8), mnist_digit(1)])
    np.save(tmp_path / "batch.npy", batch)
    out = load_images(tmp_path / "batch.npy")
    assert isinstance(out, ImageBatch) and out.pixels.shape == (3, 1, 32, 32)
    assert out.pixels.dtype == np.float32 and list(out.has_digit) == [True, False, True]
    assert close_to(out.pixels[2], reference(1), 0.03)
    Image.fromarray(255 - mnist_digit(0)).save(tmp_path / "ink.png")
    png = load_images(tmp_path / "ink.png")
    assert png.pixels.shape == (1, 1, 32, 32) and png.has_digit.tolist() == [True]


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
    with pytest.raises(ImageError, match="dtype <U1|expected numbers"):
        load_images(tmp_path / "s.npy")
    np.save(tmp_path / "nan.npy", np.full((28, 28), np.nan))
    with pytest.raises(ImageError, match="NaN"):
        load_images(tmp_path / "nan.npy")
    np.save(tmp_path / "v.npy", np.zeros(10))
    with pytest.raises(ImageError, match="shape"):
        load_images(tmp_path / "v.npy")
    with pytest.raises(ImageError, match="no such file"):
        load_images(tmp_path / "missing.png")


def test_colour_arrays_are_read_as_pictures(tmp_path, digits):
    """What ``np.asarray(img)`` gives for an RGB/RGBA picture is one picture, not H images."""
    from lenet_deploy.images.recipe import count_images

    grey = np.round(255 * (1 - digits.x_test[0, 0])).astype(np.uint8)  # dark ink on white
    reference, found = prepare_image(grey)
    assert found
    rgb = np.stack([grey] * 3, axis=-1)
    rgba = np.concatenate([rgb, np.full((*grey.shape, 1), 255, np.uint8)], axis=-1)
    cases = {
        "rgb.npy": (rgb, 1),
        "rgba.npy": (rgba, 1),
        "many_rgb.npy": (np.stack([rgb, rgb]), 2),
        "many_rgba.npy": (np.stack([rgba] * 3), 3),
        "channel_last.npy": (grey[None, ..., None].repeat(2, axis=0), 2),
    }
    for name, (array, n) in cases.items():
        np.save(tmp_path / name, array)
        assert count_images(tmp_path / name) == n, name
        out = load_images(tmp_path / name)
        assert out.pixels.shape == (n, 1, 32, 32) and out.has_digit.all(), name
        np.testing.assert_allclose(out.pixels[0], reference, atol=1e-5, err_msg=name)
    np.save(tmp_path / "five.npy", np.zeros((2, 28, 28, 5), np.uint8))
    with pytest.raises(ImageError, match=r"colour \(H, W, 3\|4\)"):
        load_images(tmp_path / "five.npy")
