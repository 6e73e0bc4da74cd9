"""``tune``: every candidate gated by accuracy, measured, and the winners usable by ``auto``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lenet_deploy.bench.machine import default_threads
from lenet_deploy.bench.tune import TuneSettings, candidates, thread_counts, tune
from lenet_deploy.runtimes import load_runtime
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
QUICK = TuneSettings(batch_sizes=(1, 16), threads=(1, 2), duration_s=0.05, rounds=1, warmup=1)


def test_thread_counts():
    assert thread_counts(1) == (1,)
    assert thread_counts(2) == (1, 2)
    assert thread_counts(6) == (1, 2, 4, 6)


def test_candidates_cover_runtimes_threads_and_hints(artifacts):
    found, skipped = candidates(artifacts, (1, 2))
    labels = {c.label for c in found}
    assert {"ort-cpu fp32 t1", "ort-cpu fp32 t2"} <= labels
    assert not any(c.runtime == "torch-cpu" and c.options.get("threads") == 1 for c in found)
    if any(c.runtime == "ov-cpu" for c in found):
        assert {"ov-cpu fp32 latency t1", "ov-cpu fp32 throughput t2"} <= labels
    assert all("cuda" not in c.runtime for c in found) or not skipped


def test_tune_gates_measures_and_auto_serves_the_winners(artifacts, monkeypatch, digits):
    from lenet_deploy.exporters import precision
    from lenet_deploy.exporters.precision import make_variants

    assert make_variants(artifacts / "lenet.onnx", ["fp16"])[0]
    # an fp16 file that passed its gate, then damaged: tune's own gate must reject it
    import onnx
    from onnx import numpy_helper

    path = artifacts / "lenet.fp16.onnx"
    proto = onnx.load(str(path))
    for init in proto.graph.initializer:
        values = numpy_helper.to_array(init)
        if values.ndim >= 2:
            init.CopyFrom(numpy_helper.from_array(np.zeros_like(values), init.name))
    onnx.save(proto, str(path))
    monkeypatch.setattr("lenet_deploy.exporters.variants.ENGINES",
                        {**__import__("lenet_deploy.exporters.variants", fromlist=["x"]).ENGINES,
                         "fp16": (("ort-cpu", {}),)})  # fmt: skip
    del precision  # only make_variants was needed
    result = tune(artifacts, QUICK)
    assert any(label.startswith("ort-cpu fp16") for label in result.rejected)
    assert all(not w.label.startswith("ort-cpu fp16") for w in result.winners)
    assert [w.batch_size for w in result.winners] == [1, 16]
    for w in result.winners:
        rows = {m.runtime: m for m in result.bench.measurements if m.batch_size == w.batch_size}
        fastest = min(m.p50_ms for m in rows.values())
        base = rows.get(f"ort-cpu fp32 t{default_threads()}")
        if w.label != (base.runtime if base else None):
            assert rows[w.label].p50_ms == fastest  # a challenger wins only by being fastest
            assert base is None or fastest < base.p50_ms * 0.97
        else:
            assert base.p50_ms * 0.97 <= fastest
    assert result.peaks["fp32"].gflops > 0
    (artifacts / "tuned.json").write_text(json.dumps(result.to_dict()))
    with load_runtime("auto", artifacts) as rt, load_runtime("ort-cpu", artifacts) as ref:
        assert rt.info()["tuned"]
        x = digits.x_test[:16]
        assert (rt.predict(x).argmax(1) == ref.predict(x).argmax(1)).mean() >= 0.99


def test_cli_tune_writes_tuned_json_and_the_plot(artifacts):
    proc = run_cli("tune", "--model", str(artifacts), "--batch-sizes", "1,8", "--threads", "1",
                   "--duration", "0.05", "--rounds", "1", "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "% fp32 peak" in proc.stdout and "matmul peak here: fp32" in proc.stdout
    assert "batch 1: " in proc.stdout and "batch 8: " in proc.stdout
    data = json.loads((artifacts / "tuned.json").read_text())
    assert data["machine"]["cpu_flags"] and data["winners"][0]["batch_size"] == 1
    assert (artifacts / "tune.png").stat().st_size > 1000
    served = run_cli("runtimes")
    assert "auto" in served.stdout
