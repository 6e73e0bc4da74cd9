"""tuned.json: regimes, and refusing a result measured elsewhere (fast: no engine runs)."""

from __future__ import annotations

import json

import pytest

from lenet_deploy.bench.peak import Peak, measure_peaks, peak_fractions
from lenet_deploy.bench.tuned import (
    FORMAT,
    Winner,
    check_tuned,
    fingerprint,
    read_tuned,
    regime_table,
)
from lenet_deploy.errors import ArtifactError, RuntimeUnavailableError
from lenet_deploy.spec import FLOPS_PER_IMAGE


def winner(size, label="ort-cpu fp32 t1", threads=1):
    return Winner(size, "ort-cpu", "fp32", "lenet.onnx", {"threads": threads}, label, 1.0, 1.0,
                  0.99)  # fmt: skip


def test_each_batch_size_goes_to_the_nearest_regime_on_a_log_scale():
    table = regime_table([winner(1), winner(64), winner(256)], 512)
    assert table[0] == table[1] == table[7] == 0  # 7 is nearer 1 than 64 (log2 2.8 vs 3.2)
    assert table[9] == 1 and table[64] == 1 and table[127] == 1
    assert table[129] == 2 and table[512] == 2
    assert table[8] == 0  # a tie goes to the smaller regime


def _tuned(tmp_path, **machine):
    (tmp_path / "lenet.onnx").write_bytes(b"model bytes")
    from lenet_deploy.artifacts.layout import file_sha256

    data = {
        "format": FORMAT,
        "machine": {**fingerprint(), **machine},
        "files": {"lenet.onnx": file_sha256(tmp_path / "lenet.onnx")},
        "winners": [winner(1).to_dict()],
    }
    (tmp_path / "tuned.json").write_text(json.dumps(data))
    return read_tuned(tmp_path)


def test_a_result_from_this_machine_is_accepted(tmp_path):
    (w,) = check_tuned(_tuned(tmp_path), tmp_path)
    assert w == winner(1)


@pytest.mark.parametrize(
    ("machine", "fragment"),
    [
        ({"cpu": "Intel Xeon Platinum 8480+"}, "CPU 'Intel Xeon Platinum 8480+'"),
        ({"usable_cpus": 64}, "usable CPU count 64"),
        ({"cpu_flags": ["amx_bf16", "avx2"]}, "other features"),
    ],
)
def test_a_result_from_another_machine_is_refused_with_the_command(tmp_path, machine, fragment):
    data = _tuned(tmp_path, **machine)
    with pytest.raises(RuntimeUnavailableError) as exc:
        check_tuned(data, tmp_path)
    assert fragment in str(exc.value)
    assert f"lenet-deploy tune --model {tmp_path}" in str(exc.value)


def test_other_versions_or_changed_files_are_refused(tmp_path):
    data = _tuned(tmp_path)
    data["machine"]["versions"]["onnxruntime"] = "1.0.0"
    with pytest.raises(RuntimeUnavailableError, match="onnxruntime 1.0.0"):
        check_tuned(data, tmp_path)
    data = _tuned(tmp_path)
    (tmp_path / "lenet.onnx").write_bytes(b"re-exported")
    with pytest.raises(RuntimeUnavailableError, match="changed since"):
        check_tuned(data, tmp_path)


def test_a_damaged_file_is_an_artifact_error(tmp_path):
    assert read_tuned(tmp_path) is None
    (tmp_path / "tuned.json").write_text('{"winners": [{"batch_size": 1}]}')
    with pytest.raises(ArtifactError, match="not a tuning result"):
        read_tuned(tmp_path)


def test_peaks_are_measured_and_fractions_follow_the_flop_count():
    peaks = measure_peaks(size=128, repeats=1)
    assert peaks["fp32"].gflops > 0 and peaks["fp32"].engine
    fake = {"fp32": Peak("fp32", 100.0, "x"), "bf16": Peak("bf16", 400.0, "y")}
    ips = 50e9 / FLOPS_PER_IMAGE  # 50 GFLOP/s
    assert peak_fractions(ips, fake) == pytest.approx({"fp32": 0.5, "bf16": 0.125})
