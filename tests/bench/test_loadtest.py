"""The load tester without a server (against one: tests/runtimes/test_remote.py)."""

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

from lenet_deploy.bench.loadtest import LoadResult, decode_logits, encode_body, load_test, parse_url
from lenet_deploy.errors import LenetDeployError


def test_parse_url():
    t = parse_url("http://127.0.0.1:8123/v2/models/lenet/versions/2")
    assert (t.host, t.port, t.model_path) == ("127.0.0.1", 8123, "/v2/models/lenet/versions/2")
    for bad in ("https://h/v2/models/lenet", "http://h:1/v1/models/x", "http://h:1/v2/models/a/b"):
        with pytest.raises(LenetDeployError, match="model URL"):
            parse_url(bad)


def test_result_figures_come_from_the_samples():
    r = LoadResult(8, True, 2, 100, 1, 0, 0.5, np.arange(1, 101, dtype=float))
    d = r.to_dict()
    assert d["requests_per_s"] == 200 and d["images_per_s"] == 400
    assert d["p50_ms"] == pytest.approx(50.5) and d["p99_ms"] == pytest.approx(99.01)
    assert d["encoding"] == "binary" and d["errors"] == 1


def test_bodies_round_trip_through_the_response_decoder():
    x = np.random.default_rng(0).random((2, 1, 32, 32), dtype=np.float32)
    body, length = encode_body(x, binary=True)
    assert len(body) - length == x.nbytes
    json_body, none = encode_body(x, binary=False)
    assert none is None and b'"data":[' in json_body
    response = b'{"outputs":[{"name":"logits","datatype":"FP32","shape":[1,2],"data":[0.5,1.0]}]}'
    np.testing.assert_array_equal(decode_logits(response, None), [[0.5, 1.0]])


@pytest.mark.slow
def test_unreachable_server_is_one_clear_error():
    with pytest.raises(LenetDeployError, match="cannot reach 127.0.0.1:1"):
        load_test("http://127.0.0.1:1/v2/models/lenet", (1,), 0.2)
    proc = run_cli("bench", "--concurrency", "1", "--runtime", "oip-http",
                   "--model", "http://127.0.0.1:1/v2/models/lenet")  # fmt: skip
    assert_one_line_error(proc, "cannot reach")
