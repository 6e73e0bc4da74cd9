"""The Open Inference Protocol v2 wire format for LeNet: requests in, responses out.

Decodes ``POST .../infer`` bodies -- JSON tensors, or the binary tensor extension (a JSON header
of ``Inference-Header-Content-Length`` bytes followed by raw little-endian tensor data) -- into
one validated float32 (N, 1, 32, 32) batch, and encodes logits back, with Triton's
classification extension (top-k ``"score:index:label"`` BYTES strings). Every refusal is an
``InferError`` carrying the HTTP status and a one-line message.

JSON bodies are read by simdjson_reader.py where pysimdjson is installed, else (and for
anything it does not read cleanly) by orjson, which words the errors. JSON floats keep full
precision both ways: float32 values are written as the shortest decimal
of their float64 widening, which parses back to the same float32.
"""

from __future__ import annotations

import functools
import json
import struct
from dataclasses import dataclass

import numpy as np

from .. import spec
from ..errors import LenetDeployError
from ..spec import CLASS_LABELS, IMAGE_SIZE, INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from . import simdjson_reader

IMAGE_ELEMENTS = IMAGE_SIZE * IMAGE_SIZE
IMAGE_BYTES = IMAGE_ELEMENTS * 4
_LITTLE_F32 = np.dtype("<f4")
# orjson is optional ([serve] installs it): it parses a 1,024-float request several times
# faster. It would write NaN as null where the stdlib refuses, but logits reaching the encoder
# are finite (Runtime.predict checks them).
try:
    from orjson import dumps as _dumps
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - the stdlib gives the same objects and the same text
    _loads = json.loads
    _encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode

    def _dumps(obj: object) -> bytes:
        return _encode(obj).encode()


class InferError(LenetDeployError):
    """A request the server refuses (infer, upload); ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RequestedOutput:
    binary: bool = False
    classification: int = 0  # top-k; 0 = the raw logits


@dataclass(frozen=True)
class InferRequest:
    """A decoded request: its ``id`` (echoed), its pixels and what it wants back."""

    id: str | None
    x: np.ndarray
    outputs: tuple[RequestedOutput, ...]


_DEFAULT_OUTPUTS = {False: (RequestedOutput(False),), True: (RequestedOutput(True),)}


def decode_request(body: bytes, header_length: int | None = None) -> InferRequest:
    """Decode an infer request body; ``header_length`` is the binary extension's header size."""
    if header_length is None:
        header, binary = body, None
    else:
        if header_length < 0 or header_length > len(body):
            raise InferError(
                f"Inference-Header-Content-Length is {header_length} but the body has "
                f"{len(body)} bytes"
            )
        header, binary = body[:header_length], memoryview(body)[header_length:]
    fast = binary is None and simdjson_reader.AVAILABLE
    obj = simdjson_reader.loads(header) if fast else None
    if obj is None:
        try:
            obj = _loads(header)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InferError(f"malformed JSON in the request: {exc}") from None
    if type(obj) is not dict:
        raise InferError("the request must be a JSON object with an 'inputs' list")
    request_id = obj.get("id")
    if request_id is not None and type(request_id) is not str:
        raise InferError("'id' must be a string")
    inputs = obj.get("inputs")
    if type(inputs) is not list or len(inputs) != 1 or type(inputs[0]) is not dict:
        raise InferError(f"'inputs' must be a list with exactly one tensor, {INPUT_NAME!r}")
    x = _decode_input(inputs[0], binary)
    return InferRequest(request_id, x, _decode_outputs(obj))


def _decode_input(tensor: dict, binary: memoryview | None) -> np.ndarray:
    name = tensor.get("name")
    if name != INPUT_NAME:
        raise InferError(f"unknown input {name!r}; this model has one input, {INPUT_NAME!r}")
    datatype = tensor.get("datatype")
    if datatype != "FP32":
        raise InferError(f"input {INPUT_NAME!r} has datatype FP32; got {datatype!r}")
    shape = tensor.get("shape")
    if (
        type(shape) is not list
        or len(shape) != 4
        or shape[1:] != [1, IMAGE_SIZE, IMAGE_SIZE]
        or type(shape[0]) is not int
        or shape[0] < 1
    ):
        raise InferError(
            f"input {INPUT_NAME!r} has shape [N, 1, {IMAGE_SIZE}, {IMAGE_SIZE}] with N >= 1; "
            f"got {shape!r}"
        )
    n = shape[0]
    params = tensor.get("parameters")
    size = params.get("binary_data_size") if type(params) is dict else None
    if size is not None:
        x = _binary_pixels(size, binary, n)
    else:
        if binary is not None and len(binary):
            raise InferError("binary data follows the header but no input has binary_data_size")
        x = _json_pixels(tensor.get("data"), n)
    flat = x.reshape(-1)
    if not spec.pixels_in_range(flat):  # the library's rule: Runtime.predict accepts the same
        lo, hi = flat[flat.argmin()], flat[flat.argmax()]  # NaN when there is one
        raise InferError(
            f"input {INPUT_NAME!r} takes pixels in [0, 1]; got values in [{lo:g}, {hi:g}]"
        )
    return x


def _binary_pixels(size: object, binary: memoryview | None, n: int) -> np.ndarray:
    if binary is None:
        raise InferError(
            "binary_data_size is set but the Inference-Header-Content-Length header is missing"
        )
    if type(size) is not int or size != len(binary):
        raise InferError(f"binary_data_size is {size!r} but {len(binary)} bytes follow the header")
    if size != n * IMAGE_BYTES:
        raise InferError(
            f"binary data for shape [{n}, 1, {IMAGE_SIZE}, {IMAGE_SIZE}] is {n * IMAGE_BYTES} "
            f"bytes; got {size}"
        )
    x = np.frombuffer(binary, _LITTLE_F32).reshape(n, 1, IMAGE_SIZE, IMAGE_SIZE)
    # The tensor starts right after a header of any length; engines want aligned memory.
    return x if x.flags.aligned else x.copy()


def _json_pixels(data: object, n: int) -> np.ndarray:
    if type(data) is np.ndarray:  # numbers read straight from the JSON by simdjson
        return _float32_pixels(data, n)
    if type(data) is not list:
        raise InferError(f"input {INPUT_NAME!r} needs 'data' (a list of numbers)")
    count = n * IMAGE_ELEMENTS
    # A flat list of numbers packs straight into float32 with no look at each element's type
    # first; anything else (nesting, strings, a wrong count) takes the general path below,
    # which says what is wrong. An all-boolean list, which numpy would type as bool and so
    # refuse, starts with a boolean: it goes the general way too.
    if len(data) == count and type(data[0]) is not bool:
        x = np.empty((n, 1, IMAGE_SIZE, IMAGE_SIZE), np.float32)
        try:
            _float32_packer(count).pack_into(x, 0, *data)
            return x
        except (struct.error, OverflowError, TypeError):
            pass
    try:
        arr = np.array(data)
    except ValueError:  # ragged nesting: its numbers in document order, as Triton reads them
        arr = np.array(_flatten(data))
    if arr.dtype.kind not in "fiu":
        raise InferError(f"input {INPUT_NAME!r}: 'data' must hold numbers only (FP32)")
    return _float32_pixels(arr, n)


def _float32_pixels(arr: np.ndarray, n: int) -> np.ndarray:
    if arr.size != n * IMAGE_ELEMENTS:
        raise InferError(
            f"input {INPUT_NAME!r}: shape [{n}, 1, {IMAGE_SIZE}, {IMAGE_SIZE}] needs "
            f"{n * IMAGE_ELEMENTS} elements; got {arr.size}"
        )
    with np.errstate(over="ignore"):  # beyond float32 becomes inf, which the range check refuses
        return arr.astype(np.float32).reshape(n, 1, IMAGE_SIZE, IMAGE_SIZE)


def _flatten(data: list) -> list:
    """The leaves of nested lists, in document order (no recursion: JSON may nest deep)."""
    flat: list = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


@functools.lru_cache(maxsize=8)
def _float32_packer(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}f")  # IEEE single precision, rounded to nearest like astype


def _decode_outputs(obj: dict) -> tuple[RequestedOutput, ...]:
    params = obj.get("parameters")
    binary_default = bool(params.get("binary_data_output")) if type(params) is dict else False
    outputs = obj.get("outputs")
    if outputs is None:
        return _DEFAULT_OUTPUTS[binary_default]
    if type(outputs) is not list or not outputs:
        raise InferError("'outputs' must be a non-empty list")
    wanted = []
    for out in outputs:
        if type(out) is not dict or out.get("name") != OUTPUT_NAME:
            name = out.get("name") if type(out) is dict else out
            raise InferError(f"unknown output {name!r}; this model has one, {OUTPUT_NAME!r}")
        p = out.get("parameters") or {}
        if type(p) is not dict:
            raise InferError("an output's 'parameters' must be an object")
        k = p.get("classification", 0)
        if type(k) is not int or not 0 <= k <= NUM_CLASSES:
            raise InferError(f"classification must be an integer in 1..{NUM_CLASSES}; got {k!r}")
        wanted.append(RequestedOutput(bool(p.get("binary_data", binary_default)), k))
    return tuple(wanted)


def encode_response(
    request: InferRequest, logits: np.ndarray, model: str, version: str
) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header's length."""
    tensors, blobs = [], []
    for want in request.outputs:
        if want.classification:
            datatype, shape = "BYTES", [len(logits), want.classification]
            strings = classify(logits, want.classification)
            if want.binary:
                blob = b"".join(len(s).to_bytes(4, "little") + s for s in strings)
            else:
                data = [s.decode() for s in strings]
        else:
            datatype, shape = "FP32", list(logits.shape)
            if want.binary:
                blob = logits.astype(_LITTLE_F32, copy=False).tobytes()
            else:
                data = logits.ravel().tolist()
        tensor = {"name": OUTPUT_NAME, "datatype": datatype, "shape": shape}
        if want.binary:
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = data
        tensors.append(tensor)
    response = {"model_name": model, "model_version": version, "outputs": tensors}
    if request.id is not None:
        response["id"] = request.id
    header = _dumps(response)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def classify(logits: np.ndarray, k: int) -> list[bytes]:
    """Triton's classification strings, row-major: the top-k ``score:index:label`` per image."""
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return [
        f"{logits[row, i]:f}:{i}:{CLASS_LABELS[i]}".encode()
        for row in range(len(logits))
        for i in top[row]
    ]


def encode_error(message: str) -> bytes:
    return _dumps({"error": message})


def model_metadata(model: str, version: str, platform: str) -> dict:
    """The OIP model metadata: ``image`` FP32 [-1, 1, 32, 32] -> ``logits`` FP32 [-1, 10]."""
    return {
        "name": model,
        "versions": [version],
        "platform": platform,
        "inputs": [
            {"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, 1, IMAGE_SIZE, IMAGE_SIZE]}
        ],
        "outputs": [{"name": OUTPUT_NAME, "datatype": "FP32", "shape": [-1, NUM_CLASSES]}],
    }
