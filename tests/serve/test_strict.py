"""Strict types, read the same by both JSON readers (simdjson where installed, orjson): every
loosely-read payload of issue 25 gets 400 with the reason, and property-based documents get
the same answer from both."""

import contextlib
import json
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lenet_deploy.serve import pixels, simdjson_reader
from lenet_deploy.serve.codec import InferError, decode_request
from lenet_deploy.serve.infer import content_lengths

READERS = ["simdjson", "orjson"]
PIXELS = 1024


@contextlib.contextmanager
def reader(name: str):
    if name == "simdjson" and not simdjson_reader.AVAILABLE:
        pytest.skip("pysimdjson is not installed")
    with mock.patch.object(simdjson_reader, "AVAILABLE", name == "simdjson"):
        yield


def _doc(shape=(1, 1, 32, 32), data=None, params=None, outputs=None, **extra) -> dict:
    tensor = {"name": "image", "datatype": "FP32", "shape": list(shape)}
    tensor["data"] = [0.5] * PIXELS if data is None else data
    doc = {"inputs": [tensor], **extra}
    if params is not None:
        doc["parameters"] = params
    if outputs is not None:
        doc["outputs"] = outputs
    return doc


def _outcome(name: str, body: bytes):
    """("ok", pixels bytes, outputs, id) or ("refused", status, message) with one reader."""
    with reader(name):
        try:
            request = decode_request(body)
        except InferError as exc:
            return ("refused", exc.status, str(exc))
    return ("ok", request.x.tobytes(), request.outputs, request.id)


LOOSE = {  # issue 25's cases, each answered 200 before
    "shape dimension 32.0": _doc(shape=[1, 1, 32.0, 32]),
    "shape dimension true": _doc(shape=[1, True, 32, 32]),
    "batch size 1.0": _doc(shape=[1.0, 1, 32, 32]),
    "batch size true": _doc(shape=[True, 1, 32, 32]),
    "a number, then booleans": _doc(data=[0.0] + [True] * (PIXELS - 1)),
    "a boolean last": _doc(data=[0.5] * (PIXELS - 1) + [False]),
    "booleans nested": _doc(data=[[0.5] * (PIXELS // 2), [True] * (PIXELS // 2)]),
    "binary_data_output 'false'": _doc(params={"binary_data_output": "false"}),
    "binary_data_output 1": _doc(params={"binary_data_output": 1}),
    "binary_data 0": _doc(outputs=[{"name": "logits", "parameters": {"binary_data": 0}}]),
    "binary_data 'yes'": _doc(outputs=[{"name": "logits", "parameters": {"binary_data": "yes"}}]),
    "binary_data 'false'": _doc(
        outputs=[{"name": "logits", "parameters": {"binary_data": "false"}}]
    ),
    "logits named twice": _doc(outputs=[{"name": "logits"}, {"name": "logits"}]),
    "logits named 1000 times": _doc(outputs=[{"name": "logits"}] * 1000),
}
REASONS = {
    "shape": "has shape [N, 1, 32, 32]",
    "batch": "has shape [N, 1, 32, 32]",
    "a number": "'data' must hold numbers only",
    "a boolean": "'data' must hold numbers only",
    "booleans": "'data' must hold numbers only",
    "binary_data_output": "'binary_data_output' must be true or false",
    "binary_data": "'binary_data' must be true or false",
    "logits": "names 'logits'",
}


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize("case", sorted(LOOSE))
def test_each_loosely_read_payload_is_refused_with_the_reason(case, name):
    outcome = _outcome(name, json.dumps(LOOSE[case]).encode())
    reason = next(text for key, text in REASONS.items() if case.startswith(key))
    assert outcome[:2] == ("refused", 400) and reason in outcome[2], outcome


@pytest.mark.parametrize("name", READERS)
def test_a_byte_order_mark_is_refused(name):
    body = b"\xef\xbb\xbf" + json.dumps(_doc()).encode()
    assert _outcome(name, body)[:2] == ("refused", 400)
    assert "byte order mark" in _outcome(name, body)[2]


@pytest.mark.parametrize("name", READERS)
def test_a_lone_surrogate_in_the_id_is_refused(name):
    body = json.dumps(_doc(id="x")).encode().replace(b'"x"', b'"\\ud800"')
    assert _outcome(name, body)[:2] == ("refused", 400)


@pytest.mark.parametrize("name", READERS)
def test_the_strict_cases_still_accept_what_is_right(name):
    ok = _doc(params={"binary_data_output": False}, outputs=[{"name": "logits"}], id="a")
    outcome = _outcome(name, json.dumps(ok).encode())
    assert outcome[0] == "ok" and outcome[3] == "a"
    nested = _doc(data=[[[0.25] * 32] * 32])
    assert _outcome(name, json.dumps(nested).encode())[0] == "ok"


@pytest.mark.parametrize(
    "value", [b" +4096", b"4_096", b"+4096", b"", b"4096 ", b"\xd9\xa4", b"-1"]
)
def test_length_headers_are_plain_ascii_digits(value):
    with pytest.raises(ValueError):
        content_lengths([(b"inference-header-content-length", value)])
    with pytest.raises(ValueError):
        content_lengths([(b"content-length", value)])
    assert content_lengths([(b"content-length", b"0042")]) == (42, None)


# Property-based: documents built from the shapes real clients send and the mistakes above,
# fed to both readers; they must agree on every one (same pixels or the same refusal).
_number = st.one_of(
    st.floats(0, 1, width=32), st.integers(0, 1), st.sampled_from([0.0, 1.0, 0.5, 1e-45])
)
_leaf = st.one_of(
    _number, _number, _number, st.booleans(), st.none(), st.text(max_size=2),
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**70), 2**70),
)  # fmt: skip
_flag_value = st.one_of(st.booleans(), st.integers(0, 1), st.sampled_from(["false", "yes", None]))


@st.composite
def documents(draw) -> bytes:
    kind = draw(st.sampled_from(["flat", "nested", "ragged", "short"]))
    n = draw(st.integers(1, 2))
    count = n * PIXELS - (draw(st.integers(1, 3)) if kind == "short" else 0)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))  # the bulk, from a seed
    leaves = [float(v) for v in rng.random(count, dtype=np.float32)]
    for i in range(draw(st.integers(0, 8))):  # integers where floats are expected
        leaves[i] = draw(st.integers(0, 1))
    for _ in range(draw(st.integers(0, 3))):  # a few odd leaves anywhere
        leaves[draw(st.integers(0, count - 1))] = draw(_leaf)
    if kind == "nested":
        data = [leaves[i : i + 32] for i in range(0, count, 32)]
    elif kind == "ragged":
        cut = draw(st.integers(1, count - 1))
        data = [leaves[:cut], [leaves[cut:]]]
    else:
        data = leaves
    dim = draw(st.sampled_from([32, 32, 32, 32.0, True, "32"]))
    shape = [draw(st.sampled_from([n, n, float(n), True])), 1, 32, dim]
    doc = _doc(shape=shape, data=data)
    if draw(st.booleans()):
        doc["parameters"] = {"binary_data_output": draw(_flag_value)}
    if draw(st.booleans()):
        params = {"binary_data": draw(_flag_value), "classification": draw(st.integers(0, 3))}
        doc["outputs"] = [{"name": "logits", "parameters": params}] * draw(st.integers(1, 2))
    text = json.dumps(doc, allow_nan=False)
    return (b"\xef\xbb\xbf" if draw(st.integers(0, 15)) == 0 else b"") + text.encode()


@pytest.mark.skipif(not simdjson_reader.AVAILABLE, reason="pysimdjson is not installed")
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(documents())
def test_both_readers_agree_on_every_document(body):
    simd, orj = _outcome("simdjson", body), _outcome("orjson", body)
    assert simd == orj
    if simd[0] == "ok":  # and what is accepted is exactly the numbers sent
        doc = json.loads(body.decode("utf-8-sig"))
        flat = np.array(pixels._flatten(doc["inputs"][0]["data"]), np.float64)
        np.testing.assert_array_equal(np.frombuffer(simd[1], np.float32), flat.astype(np.float32))
