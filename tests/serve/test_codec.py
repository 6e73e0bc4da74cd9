"""The OIP v2 codec on its own: what it accepts, what it refuses (and with which status)."""

import json
import re

import numpy as np
import pytest

from lenet_deploy.bench.loadtest import decode_logits, encode_body
from lenet_deploy.serve import codec, simdjson_reader
from lenet_deploy.serve.codec import (
    InferError,
    RequestedOutput,
    classify,
    decode_request,
    encode_response,
)


def _json(x, **extra) -> bytes:
    tensor = {"name": "image", "shape": list(x.shape), "datatype": "FP32", "data": x.tolist()}
    return json.dumps({"inputs": [tensor], **extra}).encode()


@pytest.fixture(autouse=True, params=["simdjson", "orjson"])
def json_reader(request, monkeypatch):
    """Every test runs with JSON requests read by simdjson (when installed) and by orjson
    alone: the two must accept and refuse the same bodies with the same results."""
    if request.param == "simdjson":
        if not simdjson_reader.AVAILABLE:
            pytest.skip("pysimdjson is not installed (the [serve] extra installs it)")
    else:
        monkeypatch.setattr(simdjson_reader, "AVAILABLE", False)
    return request.param


@pytest.fixture
def image():
    return np.random.default_rng(0).random((2, 1, 32, 32), dtype=np.float32)


def test_json_nested_and_flat_data_decode_exactly(image):
    nested = decode_request(_json(image, id="r1"))
    assert nested.id == "r1" and nested.x.dtype == np.float32
    np.testing.assert_array_equal(nested.x, image)
    body, _ = encode_body(image, binary=False)  # flat list, as tritonclient sends it
    np.testing.assert_array_equal(decode_request(body).x, image)


@pytest.mark.parametrize("header_pad", [0, 1, 2, 3])  # tensor offsets of every alignment
def test_binary_decode_any_header_length(image, header_pad):
    body, length = encode_body(image, binary=True)
    header = body[:length] + b" " * header_pad
    x = decode_request(header + body[length:], len(header)).x
    np.testing.assert_array_equal(x, image)
    assert x.flags.aligned


def test_json_response_round_trips_float32_exactly():
    logits = np.random.default_rng(1).standard_normal((3, 10)).astype(np.float32) * 7
    request = decode_request(_json(np.zeros((3, 1, 32, 32), np.float32), id="abc"))
    body, header_length = encode_response(request, logits, "lenet", "1")
    assert header_length is None
    payload = json.loads(body)
    assert payload["id"] == "abc" and payload["model_name"] == "lenet"
    np.testing.assert_array_equal(decode_logits(body, None), logits)


def test_binary_response(image):
    body, length = encode_body(image, binary=True)
    logits = np.arange(20, dtype=np.float32).reshape(2, 10)
    out, header_length = encode_response(decode_request(body, length), logits, "lenet", "1")
    np.testing.assert_array_equal(decode_logits(out, header_length), logits)


def test_classification_strings_are_top_k_in_order():
    logits = np.array([[0.5, 3.0, -1.0, 2.0, 0, 0, 0, 0, 0, 0]], np.float32)
    assert classify(logits, 3) == [b"3.000000:1:1", b"2.000000:3:3", b"0.500000:0:0"]
    outputs = [{"name": "logits", "parameters": {"classification": 2, "binary_data": False}}]
    request = decode_request(_json(np.zeros((1, 1, 32, 32), np.float32), outputs=outputs))
    assert request.outputs == (RequestedOutput(False, 2),)
    body, _ = encode_response(request, logits, "lenet", "1")
    tensor = json.loads(body)["outputs"][0]
    assert tensor == {
        "name": "logits",
        "datatype": "BYTES",
        "shape": [1, 2],
        "data": ["3.000000:1:1", "2.000000:3:3"],
    }


def _tensor(**changes):
    tensor = {"name": "image", "shape": [1, 1, 32, 32], "datatype": "FP32", "data": [0.5] * 1024}
    tensor.update(changes)
    return json.dumps({"inputs": [tensor]}).encode()


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"inputs": []}).encode(), "exactly one tensor"),
        (_tensor(name="input"), "unknown input 'input'"),
        (_tensor(datatype="FP64"), "datatype FP32; got 'FP64'"),
        (_tensor(datatype="INT8"), "datatype FP32"),
        (_tensor(shape=[1, 32, 32]), "has shape [N, 1, 32, 32]"),
        (_tensor(shape=[0, 1, 32, 32]), "N >= 1"),
        (_tensor(shape=[2, 1, 32, 32]), "needs 2048 elements; got 1024"),
        (_tensor(data=[0.5] * 1000), "needs 1024 elements; got 1000"),
        (_tensor(data=["0.5"] * 1024), "numbers only"),
        (_tensor(data=[[0.5] * 1000, [0.5]]), "needs 1024 elements; got 1001"),
        (_tensor(data=[[0.5] * 1023, [{"a": 1}]]), "numbers only"),
        (_tensor(data=0.5), "needs 'data'"),
        (_tensor(data=None), "needs 'data'"),
        (_tensor(data=[2.0] * 1024), "pixels in [0, 1]; got values in [2, 2]"),
        (_tensor(data=[-0.5] + [0.5] * 1023), "pixels in [0, 1]"),
        # NaN is not JSON (RFC 8259): orjson refuses the body, the stdlib parser the pixels
        (
            _tensor(data=[float("nan")] * 1024),
            "pixels in [0, 1]" if codec._loads is json.loads else "malformed JSON",
        ),
        (json.dumps({"inputs": [json.loads(_tensor())["inputs"][0]], "id": 5}).encode(), "'id'"),
    ],
)
def test_json_refusals_are_400_with_a_reason(body, fragment):
    with pytest.raises(InferError) as info:
        decode_request(body)
    assert info.value.status == 400
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "outputs, fragment",
    [
        ([{"name": "probabilities"}], "unknown output 'probabilities'"),
        ([], "non-empty list"),
        ([{"name": "logits", "parameters": {"classification": 11}}], "1..10"),
        ([{"name": "logits", "parameters": {"classification": "3"}}], "1..10"),
    ],
)
def test_output_refusals(outputs, fragment):
    body = json.loads(_tensor())
    body["outputs"] = outputs
    with pytest.raises(InferError, match=fragment.replace("[", r"\[").replace(".", r"\.")):
        decode_request(json.dumps(body).encode())


def test_binary_refusals(image):
    body, length = encode_body(image, binary=True)
    with pytest.raises(InferError, match="follow the header"):
        decode_request(body[:-4], length)  # one float short
    with pytest.raises(InferError, match="body has"):
        decode_request(body, len(body) + 1)
    with pytest.raises(InferError, match="header is missing"):
        decode_request(body[:length])
    header = json.loads(body[:length])
    header["inputs"][0]["shape"] = [1, 1, 32, 32]  # says 1 image, carries 2
    new = json.dumps(header).encode()
    with pytest.raises(InferError, match="is 4096 bytes; got 8192"):
        decode_request(new + body[length:], len(new))


def test_flat_json_numbers_decode_as_numpy_would(image):
    """Flat lists take a fast path; it must give numpy's float32 rounding, ints included."""
    values = np.random.default_rng(2).random(2048)  # float64s that need rounding to float32
    values[:5] = [0.0, 1.0, 1e-45, 0.1, 0.30000000000000004]
    data = values.tolist()
    data[5:8] = [0, 1, 1]  # JSON integers
    body = _tensor(shape=[2, 1, 32, 32], data=data)
    x = decode_request(body).x
    want = np.array(data).astype(np.float32).reshape(2, 1, 32, 32)
    assert x.dtype == np.float32 and x.flags.writeable and x.flags.c_contiguous
    np.testing.assert_array_equal(x, want)
    np.testing.assert_array_equal(decode_request(_json(image)).x, image)  # nested: general path


@pytest.mark.parametrize(
    "data, fragment",
    [
        ([True] * 1024, "numbers only"),  # JSON booleans are not numbers
        ([0.5] * 1023 + ["0.5"], "numbers only"),  # a string after the first element
        ([0.5] * 1023 + [None], "numbers only"),
        ([0.5] * 1023 + [1e39], "pixels in [0, 1]"),  # too big for float32
        ([0.5] * 1023 + [2**80], "pixels in [0, 1]"),
        ([0.5] * 1023 + [[0.5, 0.5]], "needs 1024 elements; got 1025"),
    ],
)
def test_flat_json_refusals(data, fragment):
    with pytest.raises(InferError, match=re.escape(fragment)) as info:
        decode_request(_tensor(data=data))
    assert info.value.status == 400


def test_json_responses_are_compact_json(image):
    body, _ = encode_body(image, binary=False)
    request = decode_request(body)
    out, header_length = encode_response(request, np.ones((2, 10), np.float32), "lenet", "1")
    assert header_length is None and b" " not in out
    assert json.loads(out)["outputs"][0]["data"] == [1.0] * 20
    assert json.loads(codec.encode_error("bad 'x'")) == {"error": "bad 'x'"}


@pytest.mark.parametrize(
    "shape_data",
    [
        lambda v: v.tolist(),  # flat
        lambda v: v.reshape(2, 1, 32, 32).tolist(),  # nested as the shape
        lambda v: [v[:1].tolist(), v[1:1000].tolist(), [], [v[1000:].tolist()]],  # ragged
        lambda v: v[:-1].tolist() + [[v[-1].item()]],
    ],
)
def test_nested_data_is_read_in_document_order_as_triton_does(shape_data):
    values = np.random.default_rng(3).random(2048).astype(np.float32)
    body = _tensor(shape=[2, 1, 32, 32], data=shape_data(values))
    np.testing.assert_array_equal(decode_request(body).x.reshape(-1), values)


def test_duplicate_keys_count_once_the_last_as_in_orjson():
    good = json.loads(_tensor())["inputs"][0]
    body = b'{"inputs": [{"name": "x"}], "id": "a", "id": "b", "inputs": %s}' % (
        json.dumps([good]).encode()
    )
    request = decode_request(body)
    assert request.id == "b" and request.x.shape == (1, 1, 32, 32)


@pytest.mark.parametrize("json_reader", ["simdjson"], indirect=True)
def test_simdjson_reads_the_pixels_and_survives_a_parser_still_in_use(json_reader):
    body = _tensor(data=[0.25] * 1024)
    obj = simdjson_reader.loads(body)
    data = obj["inputs"][0]["data"]
    assert type(data) is np.ndarray and data.dtype == np.float64 and data.shape == (1024,)
    busy = simdjson_reader.Parser()
    held = busy.parse(b'{"a": [1]}')  # a live document: this parser cannot parse again
    simdjson_reader._local.parser = busy
    np.testing.assert_array_equal(decode_request(body).x, np.full((1, 1, 32, 32), 0.25))
    assert simdjson_reader._local.parser is not busy and held["a"].as_list() == [1]
