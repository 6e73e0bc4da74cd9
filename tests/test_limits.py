import dataclasses
import gzip
import inspect
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lenet_deploy.limits import LIMITS, LimitError, check_number, check_size, check_tolerances


def test_the_limits_page_states_every_limit_with_its_value():
    page = (Path(__file__).resolve().parents[1] / "docs" / "limits.md").read_text()
    for name, value in LIMITS.describe():
        row = next((line for line in page.splitlines() if line.startswith(f"| `{name}`")), "")
        assert f"{value:,}" in row, (name, value, row)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 11.0, True, "3"])
def test_check_number_refuses_non_finite_and_out_of_range(value):
    with pytest.raises(LimitError, match="lr"):
        check_number("lr", value, 0.0, 10.0, low_inclusive=False)


def test_check_number_accepts_the_range_ends():
    check_number("lr", 10.0, 0.0, 10.0, low_inclusive=False)
    check_number("seed", 0, 0, 5, integer=True)
    with pytest.raises(LimitError, match=r"\(0, 10\]"):
        check_number("lr", 0.0, 0.0, 10.0, low_inclusive=False)


def test_check_size_names_the_limit_and_the_fix():
    check_size("x", 5, 5, "max_x", "do y")
    with pytest.raises(LimitError, match="6 exceeds the limit max_x = 5; do y"):
        check_size("x", 6, 5, "max_x", "do y")


def test_tolerances():
    check_tolerances(0.0, 1e-4)
    with pytest.raises(LimitError, match="rtol"):
        check_tolerances(1e-5, float("inf"))


def test_bench_cap_allows_the_gpu_batch_sizes_and_refuses_beyond():
    from lenet_deploy.bench.runner import BenchSettings
    from lenet_deploy.limits import check_bench_settings

    check_bench_settings(BenchSettings(batch_sizes=(1, 4096, LIMITS.max_bench_batch)))
    with pytest.raises(LimitError, match="max_bench_batch"):
        check_bench_settings(BenchSettings(batch_sizes=(LIMITS.max_bench_batch + 1,)))


def test_tolerances_none_keeps_the_policy_and_nan_is_refused_by_the_policy_too():
    from lenet_deploy.verify.compare import tolerance_for

    check_tolerances(None, None)
    with pytest.raises(LimitError, match="atol"):
        tolerance_for("fp32", atol=float("nan"))


# Every limit in LIMITS is enforced: for each, the code that reads it refuses one more than the
# limit (set small with dataclasses.replace where the reader takes ``limits=``, or patched into
# the reading module), with a message naming the limit. The table must cover every field.
def _config(**over):
    values = dict(epochs=1, batch_size=8, lr=0.01, weight_decay=0.0, seed=0, threads=1)
    return types.SimpleNamespace(**{**values, **over})


def _bench(**over):
    from lenet_deploy.bench.runner import BenchSettings

    return dataclasses.replace(BenchSettings(batch_sizes=(1,)), **over)


def _zip(tmp_path, members: int, size: int = 1) -> Path:
    path = tmp_path / "lenet.pt"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(members):
            archive.writestr(f"m{i}", b"x" * size)
    return path


def _npy(tmp_path, shape) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros(shape, np.uint8))
    return path


def _png(tmp_path, w: int, h: int) -> Path:
    from PIL import Image

    path = tmp_path / "x.png"
    Image.new("L", (w, h)).save(path)
    return path


def _idx(tmp_path, n: int) -> Path:
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + bytes(n))
    return path


def _gzip(tmp_path, size: int) -> Path:
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes(size))
    return path


def _serve(**over):
    from lenet_deploy.serve.settings import ServeSettings

    return ServeSettings(**over)


def _read_gzip(path, limit):
    from lenet_deploy.data.bounded import BoundedGzip
    from lenet_deploy.errors import DataError

    with BoundedGzip(path, limit, DataError) as fh:
        while fh.read(1 << 16):
            pass


def _partner_beyond_the_candidates(tmp_path) -> None:
    """An ONNX file whose checkpoint is the third by name of three beside it."""
    from onnx import helper

    from lenet_deploy.artifacts.layout import file_sha256
    from lenet_deploy.artifacts.pairing import SHA_KEY, pair
    from lenet_deploy.runtimes.ort_loader import identity_model

    for name in "abc":
        (tmp_path / f"{name}.pt").write_bytes(name.encode())
    model = helper.onnx.load_from_string(identity_model())
    helper.set_model_props(model, {SHA_KEY: file_sha256(tmp_path / "c.pt")})
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    pair(tmp_path / "m.onnx")


def _small(**fields):
    return dataclasses.replace(LIMITS, **fields)


def _refusals(tmp_path, monkeypatch):
    from lenet_deploy.artifacts import pairing
    from lenet_deploy.data import bounded, idx
    from lenet_deploy.images import classify
    from lenet_deploy.limits import check_bench_settings, check_concurrency, check_train_config

    def patched(module, **fields):
        monkeypatch.setattr(module, "LIMITS", _small(**fields))

    return {
        "max_images": lambda: (
            patched(classify, max_images=3),
            classify.check_files([_npy(tmp_path, (4, 32, 32))]),
        ),
        "max_bench_batch": lambda: check_bench_settings(
            _bench(batch_sizes=(LIMITS.max_bench_batch + 1,))
        ),
        "max_image_pixels": lambda: bounded.open_picture(
            _png(tmp_path, 5, 4), limits=_small(max_image_pixels=19)
        ),
        "max_npy_bytes": lambda: bounded.read_npy_header(
            _npy(tmp_path, (2, 3)), limits=_small(max_npy_bytes=5)
        ),
        "max_checkpoint_bytes": lambda: bounded.check_checkpoint_archive(
            _zip(tmp_path, 1), limits=_small(max_checkpoint_bytes=10)
        ),
        "max_checkpoint_member_bytes": lambda: bounded.check_checkpoint_archive(
            _zip(tmp_path, 1, size=11), limits=_small(max_checkpoint_member_bytes=10)
        ),
        "max_checkpoint_members": lambda: bounded.check_checkpoint_archive(
            _zip(tmp_path, 4), limits=_small(max_checkpoint_members=3)
        ),
        "max_gzip_inflated_bytes": lambda: _read_gzip(_gzip(tmp_path, 101), 100),
        "max_dataset_images": lambda: (
            patched(idx, max_dataset_images=3),
            idx.read_idx(_idx(tmp_path, 4)),
        ),
        "max_pair_candidates": lambda: (
            patched(pairing, max_pair_candidates=2),
            _partner_beyond_the_candidates(tmp_path),
        ),
        "max_body_bytes": lambda: _serve(max_body_bytes=LIMITS.max_body_bytes + 1),
        "max_seed": lambda: check_train_config(_config(seed=LIMITS.max_seed + 1)),
        "max_epochs": lambda: check_train_config(_config(epochs=LIMITS.max_epochs + 1)),
        "max_train_batch": lambda: check_train_config(
            _config(batch_size=LIMITS.max_train_batch + 1)
        ),
        "max_lr": lambda: check_train_config(_config(lr=LIMITS.max_lr * 2)),
        "max_duration_s": lambda: check_bench_settings(
            _bench(duration_s=LIMITS.max_duration_s * 2)
        ),
        "max_iterations": lambda: check_bench_settings(
            _bench(iterations=LIMITS.max_iterations + 1)
        ),
        "max_warmup": lambda: check_bench_settings(_bench(warmup=LIMITS.max_warmup + 1)),
        "max_concurrency": lambda: check_concurrency(1, LIMITS.max_concurrency + 1),
        "max_concurrency_levels": lambda: check_concurrency(LIMITS.max_concurrency_levels + 1, 2),
        "max_threads": lambda: check_train_config(_config(threads=LIMITS.max_threads + 1)),
        "max_rounds": lambda: check_bench_settings(_bench(rounds=LIMITS.max_rounds + 1)),
    }


# Limits that are defaults of a setting rather than a refusal of their own: each is the
# default of what the reader takes, and that setting's own refusal is tested where it lives
# (413 over the body limit, 503 over the queue, 400 over the pixel limit: tests/serve/).
DEFAULTS = {
    "serve_body_bytes": "max_body_bytes",
    "serve_max_queue": "max_queue",
    "serve_image_pixels": "max_image_pixels",
}
# engine_chunk is not a refusal: batches over it are split (test_engine_chunk_bounds_...).
SPLIT = {"engine_chunk"}
# A running server's connection limits: enforced on a live server by
# tests/serve/fastpath/test_connections.py (408s, 431, the cap under ulimit -n 256, reserved
# descriptors via the start-up line) and tests/serve/test_predict_limits.py; here each is
# checked to be the ServeSettings default, and a value of 0 refused.
CONNECTIONS = {
    "serve_header_timeout_s": "header_timeout_s",
    "serve_body_timeout_s": "body_timeout_s",
    "serve_read_gap_s": "read_gap_s",
    "serve_idle_timeout_s": "idle_timeout_s",
    "serve_max_header_bytes": "max_header_bytes",
    "serve_max_connections": "max_connections",
    "serve_predict_concurrency": "predict_concurrency",
    "serve_reserved_descriptors": None,  # serve.listen.descriptor_budget
}


@pytest.mark.parametrize("name", sorted(CONNECTIONS))
def test_connection_limits_are_the_server_defaults(name):
    from lenet_deploy.serve.listen import descriptor_budget
    from lenet_deploy.serve.settings import ServeSettings

    field = CONNECTIONS[name]
    if field is None:
        resource = pytest.importorskip("resource")
        cap, backlog, note = descriptor_budget(10**9)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]  # raised to the hard limit now
        assert cap <= soft - LIMITS.serve_reserved_descriptors and f"max connections {cap}" in note
        assert backlog <= max(LIMITS.serve_reserved_descriptors, soft // 8) // 2
        return
    assert getattr(ServeSettings(), field) == getattr(LIMITS, name)
    with pytest.raises(LimitError, match=field):
        ServeSettings(**{field: 0})


def test_every_limit_is_enforced_by_a_test_here(tmp_path, monkeypatch):
    names = {name for name, _ in LIMITS.describe()}
    covered = set(_refusals(tmp_path, monkeypatch)) | set(DEFAULTS) | SPLIT | set(CONNECTIONS)
    assert covered == names, sorted(names ^ covered)


@pytest.mark.parametrize("name", sorted(_refusals(Path("."), None)))
def test_a_value_over_each_limit_is_refused_naming_it(tmp_path, monkeypatch, name):
    from lenet_deploy.errors import LenetDeployError

    with pytest.raises(LenetDeployError, match=name):
        _refusals(tmp_path, monkeypatch)[name]()


def test_server_settings_default_to_the_limits_and_refuse_beyond_them():
    from lenet_deploy.serve.batcher import Batcher
    from lenet_deploy.serve.settings import ServeSettings

    settings = ServeSettings()
    assert settings.max_body_bytes == LIMITS.serve_body_bytes <= LIMITS.max_body_bytes
    assert settings.max_image_pixels == LIMITS.serve_image_pixels <= LIMITS.max_image_pixels
    assert settings.max_queue == LIMITS.serve_max_queue
    defaults = inspect.signature(Batcher).parameters
    assert defaults["max_queue"].default == settings.max_queue
    assert defaults["max_batch"].default == settings.max_batch
    ServeSettings(max_body_bytes=LIMITS.max_body_bytes)  # the limit itself is allowed
    for field, value in [
        ("max_body_bytes", LIMITS.max_body_bytes + 1),
        ("max_body_bytes", 0),
        ("max_image_pixels", LIMITS.max_image_pixels + 1),
        ("max_queue", 0),
        ("threads", LIMITS.max_threads + 1),
    ]:
        with pytest.raises(LimitError, match=field if field != "threads" else "max_threads"):
            ServeSettings(**{field: value})


def test_serve_refuses_a_body_limit_over_max_body_bytes_in_one_line(capsys):
    from lenet_deploy.cli import main

    mb = LIMITS.max_body_bytes // 2**20
    assert main(["serve", "--max-body-mb", str(mb + 1), "--model", "/nonexistent"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "max_body_bytes" in err
    assert f"give at most --max-body-mb {mb}" in err  # refused before the model is looked for


def test_runtime_thread_options_stop_at_max_threads():
    from lenet_deploy.errors import OptionsError
    from lenet_deploy.runtimes.options import ThreadOptions, parse_options

    parse_options("ort-cpu", ThreadOptions, {"threads": LIMITS.max_threads})
    with pytest.raises(OptionsError, match="limit max_threads"):
        parse_options("ort-cpu", ThreadOptions, {"threads": LIMITS.max_threads + 1})


def test_engine_chunk_bounds_every_engine_call():
    from lenet_deploy.runtimes.base import Runtime

    class Big(Runtime):
        chunk_size = 10**9  # an adapter asking for more is still capped
        seen: list = []

        def _predict(self, x):
            self.seen.append(len(x))
            return np.zeros((len(x), 10), np.float32)

    rt = Big()
    assert rt.predict(np.zeros((LIMITS.engine_chunk + 3, 1, 32, 32), np.float32)).shape[0] == (
        LIMITS.engine_chunk + 3
    )
    assert rt.seen == [LIMITS.engine_chunk, 3]
