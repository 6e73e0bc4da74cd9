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

import json
from dataclasses import dataclass

import numpy as np

from .. import spec
from ..spec import CLASS_LABELS, IMAGE_SIZE, INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from . import simdjson_reader
from .http_error import InferError
from .pixels import binary_pixels, json_pixels

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
    if header[:3] == b"\xef\xbb\xbf":  # simdjson would skip it, orjson refuses it
        raise InferError("the JSON starts with a UTF-8 byte order mark; send it without one")
    fast = binary is None and simdjson_reader.AVAILABLE
    obj = simdjson_reader.loads(header) if fast else None
    # simdjson reads only numbers into ``data``; a list from orjson may hold booleans, which
    # Python packs as 1.0 and 0.0: only then is every element's type looked at.
    booleans = obj is None and (b"true" in header or b"false" in header)
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
    x = _decode_input(inputs[0], binary, booleans)
    return InferRequest(request_id, x, _decode_outputs(obj))


def _decode_input(tensor: dict, binary: memoryview | None, booleans: bool) -> np.ndarray:
    name = tensor.get("name")
    if name != INPUT_NAME:
        raise InferError(f"unknown input {name!r}; this model has one input, {INPUT_NAME!r}")
    datatype = tensor.get("datatype")
    if datatype != "FP32":
        raise InferError(f"input {INPUT_NAME!r} has datatype FP32; got {datatype!r}")
    shape = tensor.get("shape")
    if (  # JSON integers: 32.0 and true compare equal to 32 and 1 in Python, so types first
        type(shape) is not list
        or len(shape) != 4
        or any(type(d) is not int for d in shape)
        or shape[1:] != [1, IMAGE_SIZE, IMAGE_SIZE]
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
        x = binary_pixels(size, binary, n)
    else:
        if binary is not None and len(binary):
            raise InferError("binary data follows the header but no input has binary_data_size")
        x = json_pixels(tensor.get("data"), n, booleans)
    flat = x.reshape(-1)
    if not spec.pixels_in_range(flat):  # the library's rule: Runtime.predict accepts the same
        lo, hi = flat[flat.argmin()], flat[flat.argmax()]  # NaN when there is one
        raise InferError(
            f"input {INPUT_NAME!r} takes pixels in [0, 1]; got values in [{lo:g}, {hi:g}]"
        )
    return x


def _decode_outputs(obj: dict) -> tuple[RequestedOutput, ...]:
    params = obj.get("parameters")
    binary_default = _flag(params, "binary_data_output", False) if type(params) is dict else False
    outputs = obj.get("outputs")
    if outputs is None:
        return _DEFAULT_OUTPUTS[binary_default]
    if type(outputs) is not list or not outputs:
        raise InferError("'outputs' must be a non-empty list")
    if len(outputs) > 1:  # each copy would be encoded in full: one request, any answer size
        raise InferError(f"'outputs' names {OUTPUT_NAME!r} {len(outputs)} times; name it once")
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
        wanted.append(RequestedOutput(_flag(p, "binary_data", binary_default), k))
    return tuple(wanted)


def _flag(params: dict, name: str, default: bool) -> bool:
    """A boolean parameter: JSON true or false only ("false" and 0 would read as the opposite
    or as a guess)."""
    value = params.get(name, default)
    if type(value) is not bool:
        raise InferError(f"parameter {name!r} must be true or false; got {value!r}")
    return value


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
