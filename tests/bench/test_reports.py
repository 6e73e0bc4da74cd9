"""Issue 21, item 4: every report option works for batch sweeps and load tests, or is refused
before anything runs; reports carry their provenance and say how each figure was computed."""

import csv
import json

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

from lenet_deploy.artifacts.layout import file_sha256
from lenet_deploy.bench import reports
from lenet_deploy.bench.loadtest import LoadResult
from lenet_deploy.bench.measurement import BenchResult, LoadTestReport, Measurement, provenance
from lenet_deploy.bench.runner import BenchSettings
from lenet_deploy.cli.bench_format import bench_table

ORIGIN = provenance([{"path": "artifacts/lenet.onnx", "sha256": "ab" * 32, "runtimes": ["x"]}])


def measurement(samples, batch=1, runtime="fake"):
    return Measurement(runtime, batch, "cpu", 2, 1.0, 1.0, np.asarray(samples, float))


def batch_report():
    steady = measurement(np.full(50, 2.0) + np.linspace(0, 0.01, 50), batch=8)
    # p50 0.24 ms, but a few very slow calls pull the mean (and batch/mean) far away
    outliers = measurement(np.r_[np.full(95, 0.24), np.full(5, 300.0)], batch=1)
    noisy = measurement(np.linspace(1, 3, 60), batch=64)
    return BenchResult([steady, outliers, noisy], {"cpu": "test"}, BenchSettings(), {}, ORIGIN)


def load_report():
    def level(concurrency, batch, spread):
        lat = np.linspace(1.0, 1.0 + spread, 100)
        return LoadResult(concurrency, True, batch, 100, 0, 0, 0.5, lat)

    results = [level(1, 4, 0.01), level(2, 4, 2.0), level(1, 8, 0.01), level(2, 8, 0.01)]
    return LoadTestReport(results, "http://h:1/v2/models/lenet", {"concurrency": [1, 2]}, ORIGIN)


@pytest.mark.parametrize("make", [batch_report, load_report], ids=["batch", "concurrency"])
def test_every_output_for_every_kind_of_run(make, tmp_path):
    report = make()
    reports.write_json(report, tmp_path / "r.json")
    payload = json.loads((tmp_path / "r.json").read_text())
    rows = payload["measurements"] if report.kind == "batch" else payload["results"]
    assert all({"p50_ms", "p90_ms", "p95_ms", "p99_ms", "noisy"} <= set(r) for r in rows)
    origin = payload["provenance"]
    assert origin["models"][0]["sha256"] == "ab" * 32 and origin["lenet_deploy"]
    assert origin["time"].endswith("+00:00") and origin["machine"]["cpu"]
    how = payload["how"].get("throughput_ips") or payload["how"]["images_per_s"]
    assert "batch size / mean latency" in how or "wall time x batch size" in how

    reports.write_csv(report, tmp_path / "r.csv")
    table = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert len(table) == len(rows) and all(r["models_sha256"] == "ab" * 32 for r in table)
    assert all(r["p95_ms"] and r["lenet_deploy"] and r["time"] for r in table)

    reports.write_markdown(report, tmp_path / "r.md")
    md = (tmp_path / "r.md").read_text()
    assert "p95 ms" in md and "sha256 abababababab" in md and "lenet-deploy " in md
    assert "* noisy: IQR / median > 0.1" in md  # one cell of each kind is noisy

    for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")):
        reports.write_plot(report, tmp_path / f"r.{fmt}")
        assert (tmp_path / f"r.{fmt}").read_bytes().startswith(magic), fmt


def test_noisy_cells_are_marked_in_the_table_and_the_plot(tmp_path):
    lines = bench_table(batch_report()).splitlines()
    cells = {line.split()[1]: line.split()[3] for line in lines[2:5]}
    assert cells["64"].endswith("*") and not cells["8"].endswith("*")
    reports.write_plot(batch_report(), tmp_path / "p.svg")
    assert "noisy (IQR/median" in (tmp_path / "p.svg").read_text()  # the note beside the rings


def test_throughput_next_to_p50_is_explained():
    text = bench_table(batch_report())
    row = next(line for line in text.splitlines() if line.split()[:2] == ["fake", "1"])
    assert row.split()[3] == "0.2400" and row.split()[9].endswith("†")  # 66 images/s from mean
    assert "images/s: batch size / mean ms" in text
    assert "at the median call it is 4,167 images/s" in text


def test_plot_format_follows_the_extension():
    assert reports.plot_format("a/b.SVG") == "svg"
    with pytest.raises(Exception, match=r"name a \.png, \.svg, \.pdf file"):
        reports.plot_format("b.jpg")


def test_outputs_are_checked_before_anything_runs(exported_dir, tmp_path):
    common = ("bench", "--model", str(exported_dir), "--runtime", "ort-cpu")
    proc = run_cli(*common, "--plot", str(tmp_path / "out.jpg"))
    assert_one_line_error(proc, "out.jpg", ".png, .svg, .pdf")
    assert proc.stdout == ""
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_cli(*common, "--csv", str(blocker / "c.csv"))
    assert_one_line_error(proc, "cannot write", "c.csv")
    assert proc.stdout == ""
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from lenet_deploy.cli import main\n"
        f"sys.exit(main({[*common, '--plot', str(tmp_path / 'p.png')]!r}))\n"
    )
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert_one_line_error(proc, "needs matplotlib", "lenet-deploy[plot]")
    assert proc.stdout == ""


def test_concurrency_runs_every_batch_size_and_writes_every_output(monkeypatch, tmp_path):
    """--concurrency 2 --batch-sizes 4,8 measures both sizes (nothing dropped)."""
    from lenet_deploy.bench import loadtest
    from lenet_deploy.cli import main

    seen = []

    def fake(url, levels, duration, max_requests, binary, batch_size):
        seen.append((url, tuple(levels), batch_size))
        lat = np.linspace(1, 1.01, 10)
        return [LoadResult(c, binary, batch_size, 10, 0, 0, duration, lat) for c in levels]

    monkeypatch.setattr(loadtest, "load_test", fake)
    outputs = {ext: tmp_path / f"l.{ext}" for ext in ("csv", "md", "svg", "json")}
    code = main(["bench", "--concurrency", "2", "--batch-sizes", "4,8", "--duration", "0.1",
                 "--model", "http://127.0.0.1:1/v2/models/lenet", "--csv", str(outputs["csv"]),
                 "--markdown", str(outputs["md"]), "--plot", str(outputs["svg"]),
                 "--json-file", str(outputs["json"])])  # fmt: skip
    assert code == 0
    assert [s[2] for s in seen] == [4, 8] and seen[0][1] == (2,)
    payload = json.loads(outputs["json"].read_text())
    assert [r["batch_size"] for r in payload["results"]] == [4, 8]
    assert payload["provenance"]["models"][0]["url"].endswith("/v2/models/lenet")
    assert len(list(csv.DictReader(outputs["csv"].open()))) == 2
    assert "| 2 | 8 |" in outputs["md"].read_text() and outputs["svg"].stat().st_size > 1000


def test_concurrency_refuses_batch_only_settings_before_running():
    proc = run_cli("bench", "--concurrency", "1", "--iterations", "5",
                   "--model", "http://127.0.0.1:1/v2/models/lenet")  # fmt: skip
    assert_one_line_error(proc, "--iterations", "not used by a --concurrency load test")


@pytest.mark.slow
def test_bench_json_carries_model_sha256_version_time_and_machine(exported_dir, tmp_path):
    args = ("--batch-sizes", "1", "--iterations", "3", "--warmup", "0", "--json")
    proc = run_cli("bench", "--model", str(exported_dir), "--runtime", "ort-cpu", *args)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)  # --json: stdout holds the JSON and nothing else
    model = payload["provenance"]["models"][0]
    assert model["sha256"] == file_sha256(exported_dir / "lenet.onnx")
    assert model["path"].endswith("lenet.onnx") and model["runtimes"] == ["ort-cpu"]
    assert payload["provenance"]["lenet_deploy"] and payload["provenance"]["time"]
    assert payload["provenance"]["machine"]["usable_cpus"] >= 1
