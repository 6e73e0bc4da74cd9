"""A Triton Inference Server model repository for the verified ONNX export.

Layout (``out`` is the repository; ``lenet`` is ``TritonSettings.model_name``)::

    out/lenet/config.pbtxt        platform onnxruntime_onnx, batching, instances, warm-up
    out/lenet/labels.txt          one class label per line (Triton's classification extension)
    out/lenet/1/model.onnx        the export, byte for byte; its sha256 is in config.pbtxt
    out/lenet-deploy-package.json what was written, from what, with which settings

The generated ``config.pbtxt`` is parsed with Triton's own schema (``model_config_pb2.py`` that
tritonclient ships, loaded by file path because importing ``tritonclient.grpc`` needs the grpc
extra), then checked against the model's signature, as Triton does when it loads the model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

from ..artifacts.layout import file_sha256
from ..errors import MissingDependencyError, PackageError, first_line
from ..spec import CHANNELS, CLASS_LABELS, IMAGE_SIZE, INPUT_NAME, NUM_CLASSES, OUTPUT_NAME

PLATFORM = "onnxruntime_onnx"
DEVICES = {"cpu": "KIND_CPU", "gpu": "KIND_GPU"}
INPUT_DIMS = [CHANNELS, IMAGE_SIZE, IMAGE_SIZE]  # without the batch dimension
OUTPUT_DIMS = [NUM_CLASSES]
LABELS_NAME = "labels.txt"
MANIFEST_NAME = "lenet-deploy-package.json"
TENSORRT_WORKSPACE_BYTES = 1 << 30


@dataclass(frozen=True)
class TritonSettings:
    """How Triton serves the model. Defaults: batches up to 256, one CPU instance, preferred
    batches 16 and 64 gathered for at most 100 microseconds, warm-up at batch 1 and the maximum.
    ``tensorrt`` (GPU only) adds onnxruntime's TensorRT accelerator, FP32 unless ``fp16``."""

    model_name: str = "lenet"
    max_batch: int = 256
    instances: int = 1
    device: str = "cpu"
    preferred_batch: tuple[int, ...] = (16, 64)
    max_queue_delay_us: int = 100
    warmup: bool = True
    tensorrt: bool = False
    fp16: bool = False
    version: int = 1

    def __post_init__(self) -> None:
        problems = []
        if not self.model_name or not all(c.isalnum() or c in "-_." for c in self.model_name):
            problems.append(f"model name {self.model_name!r} must be letters, digits, -, _ or .")
        if self.device not in DEVICES:
            problems.append(f"device {self.device!r} must be one of {', '.join(DEVICES)}")
        for name in ("max_batch", "instances", "version"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.max_queue_delay_us < 0:
            problems.append(f"max-queue-delay-us must be >= 0, got {self.max_queue_delay_us}")
        bad = [b for b in self.preferred_batch if not 1 <= b <= self.max_batch]
        if bad:
            problems.append(f"preferred batch sizes {bad} must be within 1..{self.max_batch}")
        if self.tensorrt and self.device != "gpu":
            problems.append("the TensorRT accelerator needs --device gpu")
        if self.fp16 and not self.tensorrt:
            problems.append("fp16 applies to the TensorRT accelerator; add --tensorrt")
        if problems:
            raise PackageError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)


def render_config(settings: TritonSettings, model_sha256: str, notes: tuple[str, ...] = ()) -> str:
    """``config.pbtxt`` text for ``settings``; the model's sha256 and ``notes`` (the target)
    are recorded as comments."""
    dims = ", ".join(str(d) for d in INPUT_DIMS)
    lines = [
        f"# lenet-deploy: {settings.version}/model.onnx sha256 {model_sha256}",
        *(f"# lenet-deploy: {note}" for note in notes),
        f'name: "{settings.model_name}"',
        f'platform: "{PLATFORM}"',
        f"max_batch_size: {settings.max_batch}",
        f'input [ {{ name: "{INPUT_NAME}" data_type: TYPE_FP32 dims: [ {dims} ] }} ]',
        f'output [ {{ name: "{OUTPUT_NAME}" data_type: TYPE_FP32 dims: [ {NUM_CLASSES} ] '
        f'label_filename: "{LABELS_NAME}" }} ]',
        "dynamic_batching {",
        f"  preferred_batch_size: [ {', '.join(str(b) for b in settings.preferred_batch)} ]",
        f"  max_queue_delay_microseconds: {settings.max_queue_delay_us}",
        "}",
        f"instance_group [ {{ count: {settings.instances} kind: {DEVICES[settings.device]} }} ]",
    ]
    if settings.warmup:
        lines.append("model_warmup [")
        sizes = sorted({1, settings.max_batch})
        for i, size in enumerate(sizes):
            lines += [
                f'  {{ name: "zeros_batch_{size}" batch_size: {size}',
                f'    inputs {{ key: "{INPUT_NAME}" value: {{ data_type: TYPE_FP32 '
                f"dims: [ {dims} ] zero_data: true }} }}",
                "  }" + ("," if i < len(sizes) - 1 else ""),
            ]
        lines.append("]")
    if settings.tensorrt:
        precision = "FP16" if settings.fp16 else "FP32"
        lines += [
            "optimization { execution_accelerators { gpu_execution_accelerator: [ {",
            '  name: "tensorrt"',
            f'  parameters {{ key: "precision_mode" value: "{precision}" }}',
            '  parameters { key: "max_workspace_size_bytes" '
            f'value: "{TENSORRT_WORKSPACE_BYTES}" }}',
            "} ] } }",
        ]
    return "\n".join(lines) + "\n"


_SCHEMA: dict[str, ModuleType] = {}


def triton_schema() -> ModuleType:
    """Triton's ``model_config_pb2`` module, loaded by file path from tritonclient (cached)."""
    loaded = sys.modules.get("tritonclient.grpc.model_config_pb2") or _SCHEMA.get("module")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("tritonclient")
    locations = list(spec.submodule_search_locations or []) if spec else []
    files = [Path(p) / "grpc" / "model_config_pb2.py" for p in locations]
    files = [f for f in files if f.is_file()]
    if not files:
        raise MissingDependencyError(
            "validating Triton configs needs tritonclient (its model_config_pb2.py), which is "
            "not installed: pip install 'lenet-deploy[triton]'"
        )
    module_spec = importlib.util.spec_from_file_location("_lenet_deploy_model_config_pb2", files[0])
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # protobuf too old for the generated code, or missing
        raise PackageError(
            f"cannot load Triton's schema {files[0]} ({first_line(exc)}); "
            "upgrade protobuf: pip install -U protobuf"
        ) from None
    _SCHEMA["module"] = module
    return module


def validate_config(text: str):
    """Parse ``text`` with Triton's schema and check it against LeNet's signature.

    Returns the ``ModelConfig`` message; raises PackageError naming the first problem:
    unknown fields and enum values (from the parser), batch dimensions in ``dims``, shapes,
    batch sizes beyond ``max_batch_size``, TensorRT on a CPU instance.
    """
    from google.protobuf import text_format

    schema = triton_schema()
    try:
        config = text_format.Parse(text, schema.ModelConfig())
    except text_format.ParseError as exc:
        raise PackageError(f"config.pbtxt does not match Triton's schema: {exc}") from None
    problems = _semantic_problems(config, schema)
    if problems:
        raise PackageError("config.pbtxt: " + "; ".join(problems))
    return config


def _semantic_problems(config, schema) -> list[str]:
    problems = []
    if config.platform != PLATFORM and config.backend != "onnxruntime":
        problems.append(f"platform {config.platform!r} is not {PLATFORM!r}")
    if config.max_batch_size < 1:
        problems.append("max_batch_size must be >= 1 (dynamic batching needs it)")
    fp32 = schema.DataType.Value("TYPE_FP32")
    for kind, tensors, name, dims in (
        ("input", config.input, INPUT_NAME, INPUT_DIMS),
        ("output", config.output, OUTPUT_NAME, OUTPUT_DIMS),
    ):
        got = {t.name: t for t in tensors}
        if list(got) != [name]:
            problems.append(f"{kind}s {list(got)} must be exactly [{name!r}]")
            continue
        tensor = got[name]
        if list(tensor.dims) != dims:
            batch = len(tensor.dims) == len(dims) + 1 and list(tensor.dims[1:]) == dims
            hint = " (includes the batch dimension; Triton adds it)" if batch else ""
            problems.append(f"{kind} {name!r} dims {list(tensor.dims)} must be {dims}{hint}")
        if tensor.data_type != fp32:
            problems.append(f"{kind} {name!r} must be TYPE_FP32")
    limit = config.max_batch_size
    sizes = list(config.dynamic_batching.preferred_batch_size)
    if any(not 1 <= s <= limit for s in sizes):
        problems.append(f"preferred_batch_size {sizes} must be within 1..{limit}")
    gpu = schema.ModelInstanceGroup.Kind.Value("KIND_GPU")
    for group in config.instance_group:
        if group.count < 1:
            problems.append(f"instance_group count {group.count} must be >= 1")
    accelerators = config.optimization.execution_accelerators.gpu_execution_accelerator
    if accelerators and any(g.kind != gpu for g in config.instance_group):
        problems.append("gpu_execution_accelerator needs KIND_GPU instances")
    for warm in config.model_warmup:
        if not 1 <= warm.batch_size <= limit:
            problems.append(f"warm-up {warm.name!r} batch_size {warm.batch_size} > {limit}")
        if INPUT_NAME not in warm.inputs or list(warm.inputs[INPUT_NAME].dims) != INPUT_DIMS:
            problems.append(f"warm-up {warm.name!r} needs input {INPUT_NAME!r} dims {INPUT_DIMS}")
    return problems


def verified_model(path: str | os.PathLike) -> tuple[Path, str]:
    """The ONNX file behind ``path`` (artifacts directory or file) and its sha256.

    Refuses a file that onnxruntime cannot load or whose signature is not LeNet's: Triton's
    onnxruntime backend would fail on it at load time, far from here.
    """
    from ..artifacts.layout import ArtifactKind, resolve
    from ..runtimes import load_runtime

    model = resolve(path, ArtifactKind.ONNX)
    with load_runtime("ort-cpu", model, threads=1):  # checks the file loads and its signature
        pass
    return model, file_sha256(model)


def write_repository(
    stage: Path, model: Path, sha256: str, settings: TritonSettings, notes: tuple[str, ...] = ()
) -> list[str]:
    """Write the repository into the (empty, staging) directory ``stage``; returns the files.

    ``config.pbtxt`` is validated before anything is written; the copied model's sha256 is
    checked after the copy. ``notes`` are comment lines for config.pbtxt.
    """
    config = render_config(settings, sha256, notes)
    validate_config(config)
    model_dir = stage / settings.model_name
    version_dir = model_dir / str(settings.version)
    version_dir.mkdir(parents=True)
    shutil.copyfile(model, version_dir / "model.onnx")
    if file_sha256(version_dir / "model.onnx") != sha256:
        raise PackageError(f"{model} changed while it was being copied; run package again")
    (model_dir / "config.pbtxt").write_text(config, encoding="utf-8")
    (model_dir / LABELS_NAME).write_text("\n".join(CLASS_LABELS) + "\n", encoding="utf-8")
    return [
        f"{settings.model_name}/config.pbtxt",
        f"{settings.model_name}/{LABELS_NAME}",
        f"{settings.model_name}/{settings.version}/model.onnx",
    ]
