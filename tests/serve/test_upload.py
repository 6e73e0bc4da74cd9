import io

import numpy as np
import pytest

from lenet_deploy.errors import ImageError
from lenet_deploy.serve.codec import InferError
from lenet_deploy.serve.upload import check_image_header, image_bytes

# Bytes a naive split on blank lines or CRLFs would cut: the file part must survive exactly.
TRICKY = b"\x89PNG\r\n\x1a\n\r\n\r\n--not-the-boundary\r\n\x00\xff" * 3


def form(parts, boundary="b0undary"):
    body = b""
    for headers, content in parts:
        body += f"--{boundary}\r\n{headers}\r\n\r\n".encode() + content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def test_raw_bodies_pass_through_whatever_their_type():
    for content_type in ("", "image/png", "application/octet-stream", "text/plain"):
        assert image_bytes(TRICKY, content_type) is TRICKY


@pytest.mark.parametrize(
    "disposition",
    ['form-data; name="image"; filename="d.png"', 'form-data; name="file"'],
)
def test_the_file_part_is_returned_byte_for_byte(disposition):
    body = form(
        [
            ('Content-Disposition: form-data; name="comment"', b"not this"),
            (f"Content-Disposition: {disposition}\r\nContent-Type: image/png", TRICKY),
        ]
    )
    for boundary_param in (
        "boundary=b0undary",
        'boundary="b0undary"',
        "charset=x; boundary=b0undary",
    ):
        got = image_bytes(body, f"multipart/form-data; {boundary_param}")
        assert got == TRICKY


def test_multipart_without_a_file_or_boundary_is_refused():
    text_only = form([('Content-Disposition: form-data; name="comment"', b"x")])
    with pytest.raises(InferError, match="no file part") as err:
        image_bytes(text_only, "multipart/form-data; boundary=b0undary")
    assert err.value.status == 400
    with pytest.raises(InferError, match="without a boundary"):
        image_bytes(text_only, "multipart/form-data")


def encoded(size, fmt):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros(size[::-1], np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def test_header_check_reads_size_and_refuses_other_formats_and_big_images():
    assert check_image_header(encoded((40, 30), "PNG"), max_pixels=1200) == (40, 30)
    assert check_image_header(encoded((40, 30), "JPEG"), max_pixels=1200) == (40, 30)
    with pytest.raises(ImageError, match="40x30 = 1,200 pixels; the limit is 1,199"):
        check_image_header(encoded((40, 30), "PNG"), max_pixels=1199)
    with pytest.raises(ImageError, match="not a PNG or JPEG"):
        check_image_header(encoded((4, 4), "BMP"), max_pixels=100)
