"""Triton config: every option combination parses with Triton's own schema and means what the
settings say; malformed configs are refused with the problem named."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys

import pytest

from lenet_deploy.errors import PackageError
from lenet_deploy.packaging import triton
from lenet_deploy.packaging.triton import TritonSettings, render_config, validate_config

SHA = "0" * 64


def _combinations():
    for device, instances, max_batch, preferred, delay, warmup in itertools.product(
        ("cpu", "gpu"), (1, 3), (1, 8, 256), ((), (1,), (16, 64)), (0, 100), (True, False)
    ):
        if any(b > max_batch for b in preferred):
            continue
        accelerators = [(False, False)] + ([(True, False), (True, True)] if device == "gpu" else [])
        for tensorrt, fp16 in accelerators:
            yield TritonSettings(
                max_batch=max_batch,
                instances=instances,
                device=device,
                preferred_batch=preferred,
                max_queue_delay_us=delay,
                warmup=warmup,
                tensorrt=tensorrt,
                fp16=fp16,
            )


VARIANTS = list(_combinations())


@pytest.mark.slow
def test_every_variant_is_valid_triton_config_with_the_requested_values():
    schema = triton.triton_schema()
    kinds = {"cpu": "KIND_CPU", "gpu": "KIND_GPU"}
    for s in VARIANTS:
        config = validate_config(render_config(s, SHA))
        assert config.name == "lenet" and config.platform == "onnxruntime_onnx"
        assert config.max_batch_size == s.max_batch
        assert list(config.input[0].dims) == [1, 32, 32]  # no batch dimension
        assert list(config.output[0].dims) == [10]
        assert config.output[0].label_filename == "labels.txt"
        assert tuple(config.dynamic_batching.preferred_batch_size) == s.preferred_batch
        assert config.dynamic_batching.max_queue_delay_microseconds == s.max_queue_delay_us
        (group,) = config.instance_group
        assert group.count == s.instances
        assert schema.ModelInstanceGroup.Kind.Name(group.kind) == kinds[s.device]
        warm = sorted(w.batch_size for w in config.model_warmup)
        assert warm == (sorted({1, s.max_batch}) if s.warmup else [])
        accel = config.optimization.execution_accelerators.gpu_execution_accelerator
        if s.tensorrt:
            (trt,) = accel
            assert trt.name == "tensorrt"
            assert trt.parameters["precision_mode"] == ("FP16" if s.fp16 else "FP32")
        else:
            assert not accel
    assert len(VARIANTS) == 224  # 56 CPU + 56 x 3 GPU (no accelerator, TensorRT FP32/FP16)


def test_sha256_is_recorded_in_the_config():
    text = render_config(TritonSettings(), "ab" * 32)
    assert f"1/model.onnx sha256 {'ab' * 32}" in text.splitlines()[0]


GOOD = render_config(TritonSettings(), SHA)


@pytest.mark.parametrize(
    "old, new, fragment",
    [
        ("max_batch_size: 256", "max_batch: 256", 'no field named "max_batch"'),
        ("kind: KIND_CPU", "kind: KIND_TPU", "KIND_TPU"),
        ("data_type: TYPE_FP32 dims: [ 1, 32", "data_type: FP32 dims: [ 1, 32", "FP32"),
        ("dims: [ 1, 32, 32 ] }", "dims: [ -1, 1, 32, 32 ] }", "includes the batch dimension"),
        ("dims: [ 10 ]", "dims: [ -1, 10 ]", "includes the batch dimension"),
        ("dims: [ 1, 32, 32 ] }", "dims: [ 3, 32, 32 ] }", "must be [1, 32, 32]"),
        ('name: "image" data', 'name: "input" data', "must be exactly ['image']"),
        ("preferred_batch_size: [ 16, 64 ]", "preferred_batch_size: [ 512 ]", "within 1..256"),
        ("max_batch_size: 256", "max_batch_size: 0", "max_batch_size must be >= 1"),
        ("count: 1", "count: 0", "count 0 must be >= 1"),
        ('platform: "onnxruntime_onnx"', 'platform: "tensorrt_plan"', "is not"),
        ('"zeros_batch_256" batch_size: 256', '"w" batch_size: 512', "batch_size 512 > 256"),
    ],
)
def test_malformed_configs_are_refused_naming_the_problem(old, new, fragment):
    assert old in GOOD
    with pytest.raises(PackageError) as info:
        validate_config(GOOD.replace(old, new, 1))
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_tensorrt_block_on_cpu_instances_is_refused():
    text = render_config(TritonSettings(device="gpu", tensorrt=True), SHA)
    with pytest.raises(PackageError, match="needs KIND_GPU"):
        validate_config(text.replace("KIND_GPU", "KIND_CPU"))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"tensorrt": True}, "needs --device gpu"),
        ({"device": "gpu", "fp16": True}, "add --tensorrt"),
        ({"device": "tpu"}, "device 'tpu'"),
        ({"max_batch": 8}, "preferred batch sizes [16, 64] must be within 1..8"),
        ({"instances": 0}, "instances must be >= 1"),
        ({"max_queue_delay_us": -1}, "max-queue-delay-us"),
        ({"model_name": "le net"}, "model name"),
    ],
)
def test_settings_refuse_inconsistent_options(kwargs, fragment):
    with pytest.raises(PackageError) as info:
        TritonSettings(**kwargs)
    assert fragment in str(info.value)


@pytest.mark.slow
def test_schema_is_loaded_without_importing_tritonclient_grpc():
    code = (
        "import sys\n"
        "from lenet_deploy.packaging.triton import TritonSettings, render_config, "
        "validate_config\n"
        "validate_config(render_config(TritonSettings(), '0' * 64))\n"
        "print('grpc' if any(m.startswith('tritonclient.grpc') for m in sys.modules) else 'ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_write_repository_copies_the_model_and_writes_labels(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not checked here")
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    stage = tmp_path / "stage"
    stage.mkdir()
    files = triton.write_repository(stage, model, sha, TritonSettings(version=3))
    assert files == ["lenet/config.pbtxt", "lenet/labels.txt", "lenet/3/model.onnx"]
    assert (stage / "lenet/3/model.onnx").read_bytes() == model.read_bytes()
    assert (stage / "lenet/labels.txt").read_text().split() == [str(d) for d in range(10)]
    assert sha in (stage / "lenet/config.pbtxt").read_text()


def test_verified_model_refuses_a_file_that_is_not_a_lenet_export(tmp_path):
    from lenet_deploy.errors import ArtifactError

    bad = tmp_path / "lenet.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ArtifactError, match="not a loadable ONNX model"):
        triton.verified_model(bad)
