import csv
import dataclasses
import json

import numpy as np
import pytest
from conftest import PLUGIN_NAME, assert_one_line_error, run_cli

from lenet_deploy import runtimes as runtimes_pkg
from lenet_deploy.bench import reports as bench_output
from lenet_deploy.bench import runner as bench_module
from lenet_deploy.bench.runner import (
    BenchResult,
    BenchSettings,
    Measurement,
    benchmark,
    resolve_runtimes,
)
from lenet_deploy.errors import LenetDeployError, RuntimeUnavailableError
from lenet_deploy.runtimes import Runtime, available_runtimes, load_runtime
from lenet_deploy.spec import FLOPS_PER_IMAGE


def synthetic(samples, batch=4, phases=None):
    return Measurement(
        "fake",
        batch,
        "cpu",
        2,
        12.5,
        3.0,
        np.asarray(samples, float),
        peak_rss_mb=100.0,
        phases_ms=phases or {},
    )


def test_statistics_from_known_samples():
    m = synthetic(np.arange(1, 101))  # 1..100 ms
    assert m.iterations == 100
    assert m.p50_ms == pytest.approx(50.5)
    assert m.p90_ms == pytest.approx(90.1)
    assert m.p99_ms == pytest.approx(99.01)
    assert m.iqr_ms == pytest.approx(75.25 - 25.75)
    assert (m.min_ms, m.max_ms, m.mean_ms) == (1, 100, pytest.approx(50.5))
    assert m.throughput_ips == pytest.approx(4 / 0.0505)
    assert m.gflops == pytest.approx(4 / 0.0505 * FLOPS_PER_IMAGE / 1e9)
    assert FLOPS_PER_IMAGE == 833_040
    assert m.noisy  # IQR 49.5 / median 50.5


def test_quiet_samples_are_not_noisy():
    m = synthetic([10.0] * 50 + [10.5] * 50)
    assert m.iqr_ms == pytest.approx(0.5) and not m.noisy
    result = BenchResult([m, synthetic([1, 2, 3, 4])], {}, BenchSettings())
    assert len(result.warnings) == 1 and "IQR/median" in result.warnings[0]


def test_records_carry_every_field():
    phases = {
        "h2d": np.array([1.0, 2.0, 3.0]),
        "compute": np.array([4.0, 5.0, 6.0]),
        "d2h": np.array([0.5, 0.5, 0.5]),
    }
    rec = synthetic([1, 2, 3], phases=phases).to_dict()
    assert set(bench_output.COLUMNS) <= set(rec)
    assert rec["h2d_p50_ms"] == 2.0 and rec["compute_p50_ms"] == 5.0 and rec["d2h_p50_ms"] == 0.5
    assert rec["compute_ips"] == pytest.approx(4 / 5e-3)  # batch 4 per 5 ms of compute alone
    assert synthetic([1, 2, 3]).to_dict()["compute_p50_ms"] is None
    assert synthetic([1, 2, 3]).to_dict()["compute_ips"] is None


class Sleepy(Runtime):
    """A plug-in style runtime whose cost we know: it counts calls."""

    name = "sleepy"
    timed_phases = False

    def __init__(self):
        self.calls = 0

    def _predict(self, x):
        self.calls += 1
        return np.zeros((len(x), 10), np.float32)


def test_benchmark_accepts_runtime_objects_and_interleaves():
    rt = Sleepy()
    result = benchmark(
        [rt], settings=BenchSettings(batch_sizes=(1, 3), warmup=2, iterations=10, rounds=5)
    )
    assert [(m.runtime, m.batch_size) for m in result.measurements] == [
        ("sleepy", 1),
        ("sleepy", 3),
    ]
    for m in result.measurements:
        assert m.iterations == 10 and m.load_ms == 0.0 and m.first_inference_ms > 0
    # 2 batch sizes x (1 first + 2 warm-up + 10 timed)
    assert rt.calls == 2 * 13
    assert not rt._closed  # the app's runtime is not closed by the benchmark


def test_benchmark_registered_runtimes_same_threads(exported_dir):
    progress = []
    result = benchmark(
        ["ort-cpu", PLUGIN_NAME, "torch-cpu"],
        exported_dir,
        BenchSettings(batch_sizes=(1, 8), warmup=1, iterations=6, rounds=3, threads=1),
        progress=lambda done, total: progress.append((done, total)),
    )
    assert len(result.measurements) == 6
    assert progress[-1] == (18, 18)
    threads = {m.runtime: m.threads for m in result.measurements}
    assert threads["ort-cpu"] == 1 and threads["torch-cpu"] == 1
    assert result.environment["cores"] >= 1 and result.environment["onnxruntime"]
    for m in result.measurements:
        assert m.load_ms > 0 and m.iterations == 6 and m.peak_rss_mb > 10


def test_ort_cpu_threads_per_batch_size_are_recorded(exported_dir, monkeypatch):
    """ort-cpu picks a 2-thread session for small batches unless --threads fixes the count."""
    from lenet_deploy.cli.bench_format import bench_table
    from lenet_deploy.runtimes import ort_loader

    monkeypatch.setattr(ort_loader, "usable_cpus", lambda: 4)  # the policy needs > 1 CPU
    settings = BenchSettings(batch_sizes=(1, 8, 9), warmup=0, iterations=2, rounds=1)
    chosen = benchmark(["ort-cpu"], exported_dir, settings)
    assert [m.threads for m in chosen.measurements] == [2, 2, "default"]
    assert [r["threads"] for r in chosen.records()] == [2, 2, "default"]
    rows = bench_table(chosen).splitlines()[2:5]
    assert [row.split()[2] for row in rows] == ["2", "2", "default"]
    fixed = benchmark(["ort-cpu"], exported_dir, dataclasses.replace(settings, threads=3))
    assert [m.threads for m in fixed.measurements] == [3, 3, 3]


def test_named_unavailable_runtime_is_refused():
    rows = {a.name: a for a in available_runtimes()}
    missing = [n for n in ("ort-cuda", "torch-cuda") if not rows[n]]
    if not missing:
        pytest.skip("all CUDA runtimes available")
    with pytest.raises(RuntimeUnavailableError, match=f"^{missing[0]}: "):
        resolve_runtimes([missing[0]])
    chosen, skipped = resolve_runtimes(None)
    assert "ort-cpu" in chosen and missing[0] in skipped and missing[0] not in chosen


@pytest.mark.slow
def test_output_files_parse_and_carry_every_field(tmp_path):
    result = BenchResult(
        [synthetic([1, 2, 3]), synthetic([2, 3, 4], batch=8)],
        {"cpu": "test", "usable_cpus": 2},
        BenchSettings(),
        skipped={"ort-cuda": "no GPU"},
    )
    bench_output.write_json(result, tmp_path / "b.json")
    payload = json.loads((tmp_path / "b.json").read_text())
    assert payload["skipped"] == {"ort-cuda": "no GPU"} and payload["environment"]["cpu"] == "test"
    assert set(bench_output.COLUMNS) <= set(payload["measurements"][0])
    bench_output.write_csv(result, tmp_path / "b.csv")
    rows = list(csv.DictReader((tmp_path / "b.csv").open()))
    assert len(rows) == 2
    assert list(rows[0]) == bench_output.COLUMNS + bench_output.PROVENANCE_COLUMNS
    assert float(rows[1]["p50_ms"]) == 3.0 and rows[1]["batch_size"] == "8"
    bench_output.write_markdown(result, tmp_path / "b.md")
    md = (tmp_path / "b.md").read_text().splitlines()
    table = [line for line in md if line.startswith("| fake")]
    assert len(table) == 2 and "- ort-cuda: no GPU" in md
    bench_output.write_plot(result, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_cli_smoke(exported_dir, tmp_path):
    out = tmp_path / "bench.json"
    proc = run_cli(
        "bench",
        "--model",
        str(exported_dir),
        "--runtime",
        "ort-cpu",
        "--runtime",
        "torch-cpu",
        "--batch-sizes",
        "1,4",
        "--iterations",
        "5",
        "--warmup",
        "1",
        "--json",
        str(out),
        "--csv",
        str(tmp_path / "b.csv"),
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["runtime", "batch", "threads", "p50"]
    peak_at = next(i for i, line in enumerate(lines) if i and line.startswith("runtime"))
    assert sum(line.startswith(("ort-cpu", "torch-cpu")) for line in lines[:peak_at]) == 4
    # the second table: GFLOP/s and the fraction of the matmul peaks measured in this run
    assert lines[peak_at].split()[:3] == ["runtime", "batch", "GFLOP/s"]
    assert any(line.startswith("matmul peak here: fp32") for line in lines)
    payload = json.loads(out.read_text())
    assert {(m["runtime"], m["batch_size"]) for m in payload["measurements"]} == {
        ("ort-cpu", 1),
        ("ort-cpu", 4),
        ("torch-cpu", 1),
        ("torch-cpu", 4),
    }
    assert all(m["iterations"] == 5 for m in payload["measurements"])


@pytest.mark.slow
def test_cli_named_unavailable_runtime(exported_dir, tmp_path):
    rows = {a.name: a for a in available_runtimes()}
    if rows["ort-cuda"]:
        pytest.skip("ort-cuda works here")
    out = tmp_path / "b.json"
    proc = run_cli(
        "bench", "--model", str(exported_dir), "--runtime", "ort-cuda", "--json", str(out)
    )
    assert_one_line_error(proc, "ort-cuda:")
    assert proc.returncode == 2 and proc.stdout == "" and not out.exists()


@pytest.mark.slow
def test_cli_bad_arguments(exported_dir, tmp_path):
    proc = run_cli("bench", "--model", str(exported_dir), "--batch-sizes", "1,0")
    assert proc.returncode == 2 and "batch sizes must be >= 1" in proc.stderr
    proc = run_cli("bench", "--model", str(tmp_path / "nope"))
    assert_one_line_error(proc, "not found")
    proc = run_cli("bench", "--model", str(exported_dir), "--runtime", "nope")
    assert_one_line_error(proc, "unknown runtime 'nope'")


def test_runtime_object_after_close_is_not_used(exported_dir):
    rt = load_runtime("ort-cpu", exported_dir)
    rt.close()
    with pytest.raises(LenetDeployError, match="after close"):
        benchmark([rt], settings=BenchSettings(batch_sizes=(1,), warmup=0, iterations=1))


class Staged(Sleepy):
    """A device-style runtime on a fake clock: each phase advances it by a known amount."""

    name = "staged"
    timed_phases = True
    cost_ms = {"run": 0.5, "upload": 1.0, "compute": 4.0, "download": 2.0}

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.phases = []
        self.validated = []

    def _tick(self, phase):
        self.phases.append(phase)
        self.clock.now += self.cost_ms[phase] / 1e3

    def _predict(self, x):
        self._tick("run")
        return super()._predict(x)

    def upload(self, x, *, validated=False):
        self.validated.append(validated)
        self._tick("upload")
        return super().upload(x, validated=validated)

    def compute(self, staged):
        self._tick("compute")
        return super().compute(staged)

    def download(self, result):
        self._tick("download")
        return result


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_phases_are_timed_with_one_clock_and_validation_outside(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(bench_module, "_clock", clock)
    rt = Staged(clock)
    checks = []
    original = runtimes_pkg.validate_batch

    def counting(x, *args, **kwargs):
        # a slow check: were it timed inside a phase, the phase would grow by this much
        checks.append(len(x))
        clock.now += 1.0
        return original(x, *args, **kwargs)

    monkeypatch.setattr(runtimes_pkg, "validate_batch", counting)
    result = benchmark(
        [rt], settings=BenchSettings(batch_sizes=(2,), warmup=0, iterations=4, rounds=2)
    )
    (m,) = result.measurements
    # the first call, then per iteration: predict end to end, then the three phases
    assert rt.phases == ["run"] + ["run", "upload", "compute", "run", "download"] * 4
    assert rt.validated == [True] * 4 and checks == [2]  # validated once, before any clock
    assert set(m.phases_ms) == {"h2d", "compute", "d2h"}
    for phase, cost in {"h2d": 1.0, "compute": 4.5, "d2h": 2.0}.items():
        np.testing.assert_allclose(m.phases_ms[phase], [cost] * 4)
    np.testing.assert_allclose(m.samples_ms, [0.5] * 4)  # end to end is predict's own time
    assert m.to_dict()["compute_p50_ms"] == pytest.approx(4.5)
    assert m.compute_ips == pytest.approx(2 / 4.5e-3)


def test_options_and_skipped_are_carried(exported_dir):
    result = benchmark(
        ["ov-cpu"],
        exported_dir,
        BenchSettings(batch_sizes=(1,), warmup=0, iterations=2, rounds=1, threads=1),
        options={"ov-cpu": {"performance_hint": "THROUGHPUT"}},
        skipped={"ort-cuda": "no GPU"},
    )
    assert result.skipped == {"ort-cuda": "no GPU"} and result.to_dict()["skipped"] == {
        "ort-cuda": "no GPU"
    }
    assert result.measurements[0].threads == 1 and result.environment["openvino"]
