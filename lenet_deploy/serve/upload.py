"""The request side of ``POST /v1/predict``: a bounded body, the image inside it, its header.

Everything here refuses before it allocates: the declared length is checked before a byte is
read, the stream is capped while it is read, and an image's pixel count is read from its header
before anything decodes it.
"""

from __future__ import annotations

import io

from ..errors import ImageError
from .codec import InferError

#: The formats the endpoint accepts (Pillow's names); anything else is refused from its header.
IMAGE_FORMATS = ("PNG", "JPEG")


async def read_body(request, max_bytes: int) -> bytes:
    """The body of a Starlette ``request``, at most ``max_bytes``, else InferError 413/400."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise InferError(f"invalid Content-Length {declared[:40]!r}")
        if int(declared) > max_bytes:
            raise InferError(_too_large(int(declared), max_bytes), status=413)
    from .infer import read_body_limited

    body = await read_body_limited(request.receive, max_bytes)
    if body is None:
        raise InferError(f"body is over the limit of {max_bytes:,} bytes", status=413)
    if not body:
        raise InferError("empty body; send PNG or JPEG bytes, or a multipart 'file' field")
    return body


def _too_large(size: int, limit: int) -> str:
    return f"body is {size:,} bytes; the limit is {limit:,}"


def image_bytes(body: bytes, content_type: str) -> bytes:
    """The image in a body: the body itself, or the file part of a multipart/form-data body."""
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() != "multipart/form-data":
        return body
    boundary = _param(params, "boundary")
    if not boundary:
        raise InferError("multipart/form-data without a boundary parameter")
    for part in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if part.startswith(b"--"):  # the closing delimiter: no more parts
            break
        head, sep, content = part.partition(b"\r\n\r\n")
        disposition = _header(head, "content-disposition")
        if sep and ("filename=" in disposition or _param(disposition, "name") == "file"):
            # The CRLF before the next delimiter belongs to the delimiter, not to the file.
            return content[:-2] if content.endswith(b"\r\n") else content
    raise InferError("multipart body has no file part; send the image in a 'file' field")


def _header(head: bytes, name: str) -> str:
    for line in head.decode("latin-1").split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return ""


def _param(header_params: str, name: str) -> str:
    for item in header_params.split(";"):
        key, eq, value = item.partition("=")
        if eq and key.strip().lower() == name:
            return value.strip().strip('"')
    return ""


def check_image_header(data: bytes, max_pixels: int) -> tuple[int, int]:
    """(width, height) of a PNG/JPEG from its header alone; ImageError if not one or too big."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            width, height = img.size
    except UnidentifiedImageError:
        raise ImageError(f"not a {' or '.join(IMAGE_FORMATS)} image") from None
    except Image.DecompressionBombError:
        raise ImageError(f"image has far more pixels than the limit of {max_pixels:,}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"unreadable image header ({exc})") from None
    if width * height > max_pixels:
        raise ImageError(
            f"image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}"
        )
    return width, height
