"""The ``auto`` runtime: the tuned winners per batch regime, refusals, and the fallback."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from lenet_deploy.bench.tuned import FORMAT, Winner, file_hashes, fingerprint
from lenet_deploy.errors import ArtifactError, RuntimeUnavailableError
from lenet_deploy.runtimes import load_runtime
from tests.conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.slow  # trains and exports a model (the artifacts fixture)


def write_tuned(directory, winners, **machine):
    data = {
        "format": FORMAT,
        "machine": {**fingerprint(), **machine},
        "files": file_hashes(directory, [w.file for w in winners] + ["lenet.onnx"]),
        "winners": [w.to_dict() for w in winners],
    }
    (directory / "tuned.json").write_text(json.dumps(data))


def test_without_tuning_auto_serves_ort_cpu_fp32_and_says_so(artifacts, digits):
    said = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())
    logger = logging.getLogger("lenet_deploy")
    logger.addHandler(handler)
    try:
        rt = load_runtime("auto", artifacts)
    finally:
        logger.removeHandler(handler)
    with rt, load_runtime("ort-cpu", artifacts) as ref:
        assert len(said) == 1 and "no " in said[0] and "lenet-deploy tune" in said[0]
        info = rt.info()
        assert info["tuned"] is None and "ort-cpu fp32" in info["note"]
        assert info["served"][0]["runtime"] == "ort-cpu" and rt.precision == "fp32"
        x = digits.x_test[:37]
        np.testing.assert_array_equal(rt.predict(x), ref.predict(x))


def test_each_regime_runs_on_its_winner(artifacts, digits):
    one = Winner(1, "ort-cpu", "fp32", "lenet.onnx", {"threads": 1}, "ort-cpu fp32 t1", 1e4,
                 0.1, 0.9)  # fmt: skip
    big = Winner(256, "ort-cpu", "fp32", "lenet.onnx", {"threads": 2}, "ort-cpu fp32 t2", 1e5,
                 2.0, 0.9)  # fmt: skip
    write_tuned(artifacts, [one, big])
    with load_runtime("auto", artifacts) as rt, load_runtime("ort-cpu", artifacts) as ref:
        assert rt.runtime_for(1).info()["threads"] == 1
        assert rt.runtime_for(200).info()["threads"] == 2
        assert rt.threads_for(3) == 1 and rt.threads_for(100) == 2
        for n in (1, 5, 64, 256, 700):  # 700: chunked into the regime of its pieces
            x = np.resize(digits.x_test, (n, 1, 32, 32)).astype(np.float32)
            np.testing.assert_allclose(rt.predict(x), ref.predict(x), atol=1e-5, rtol=1e-4)
        json.dumps(rt.info())  # what serve's /v1/info answers
        served = rt.info()["served"]
        assert [s["batch_sizes"] for s in served] == [[1], [256]]
        assert rt.info()["tuned"].endswith("tuned.json")


def test_a_result_from_another_cpu_is_refused(artifacts):
    one = Winner(1, "ort-cpu", "fp32", "lenet.onnx", {}, "ort-cpu fp32", 1.0, 1.0, 0.9)
    write_tuned(artifacts, [one], cpu="Intel Xeon (AMX)")
    with pytest.raises(RuntimeUnavailableError, match="lenet-deploy tune --model"):
        load_runtime("auto", artifacts)
    from PIL import Image

    picture = artifacts.parent / "digit.png"
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(picture)
    proc = run_cli("predict", "--runtime", "auto", "--model", str(artifacts), str(picture))
    assert proc.returncode == 2
    assert_one_line_error(proc, "Intel Xeon (AMX)", "lenet-deploy tune")


def test_auto_takes_a_directory(artifacts):
    with pytest.raises(ArtifactError, match="artifacts directory"):
        load_runtime("auto", artifacts / "lenet.pt")


def test_the_server_panel_says_which_variant_serves(artifacts):
    from types import SimpleNamespace

    from lenet_deploy.artifacts.layout import file_sha256
    from lenet_deploy.serve.ui import served_info

    metrics = SimpleNamespace(success_count=0, failures={}, inference_count=0, execution_count=0)
    with load_runtime("auto", artifacts) as rt:
        state = SimpleNamespace(
            runtime=rt, metrics=metrics, settings=SimpleNamespace(unsure_below=0.5)
        )
        info = served_info(state)
    assert info["runtime"] == "auto" and info["precision"] == "fp32"
    assert info["variants"][0]["runtime"] == "ort-cpu"
    assert info["model_sha256"] == file_sha256(artifacts / "lenet.onnx")
    json.dumps(info)
