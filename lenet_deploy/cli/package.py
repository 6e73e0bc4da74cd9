"""``lenet-deploy package``: a Triton model repository (and KServe manifests) for the export."""

from __future__ import annotations

import argparse

from ._common import positive_int as _positive
from .flags import add_json_arguments, add_model_argument, choice, emit_json, json_to_stdout


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(_positive(t.strip()) for t in text.split(",") if t.strip())


def register(subparsers) -> None:
    from ..artifacts.layout import DEFAULT_DIR
    from ..packaging.triton import TritonSettings

    d = TritonSettings()
    p = subparsers.add_parser(
        "package",
        help="write a Triton model repository (and KServe manifests) for the ONNX export",
        description="Copy the verified ONNX export into a Triton model repository "
        "(OUT/lenet/config.pbtxt, OUT/lenet/1/model.onnx, OUT/lenet/labels.txt), validated "
        "against Triton's own config schema. --format kserve puts the repository in "
        "OUT/model_repository and adds two InferenceService manifests. Written atomically: "
        "a failed run leaves an earlier package as it was.",
    )
    p.add_argument(
        "--format",
        type=choice("triton", "kserve", what="format"),
        default="triton",
        metavar="{triton,kserve}",
        help="default: triton",
    )
    add_model_argument(
        p, f"artifacts directory or .onnx file (default: {DEFAULT_DIR}/)", default=DEFAULT_DIR
    )
    p.add_argument(
        "--out", default="model_repository", help="output directory (default: model_repository)"
    )
    p.add_argument(
        "--max-batch",
        type=_positive,
        default=d.max_batch,
        help=f"max_batch_size (default: {d.max_batch})",
    )
    p.add_argument(
        "--instances",
        type=_positive,
        default=d.instances,
        help=f"model instances (default: {d.instances})",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default=d.device,
        help="KIND_CPU or KIND_GPU instances (default: cpu)",
    )
    p.add_argument(
        "--preferred-batch",
        type=_sizes,
        default=d.preferred_batch,
        help="dynamic batching preferred sizes, comma-separated (default: "
        f"{','.join(map(str, d.preferred_batch))})",
    )
    p.add_argument(
        "--max-queue-delay-us",
        type=int,
        default=d.max_queue_delay_us,
        help=f"dynamic batching queue delay in microseconds (default: {d.max_queue_delay_us})",
    )
    p.add_argument("--no-warmup", action="store_true", help="no model_warmup block")
    p.add_argument(
        "--tensorrt",
        action="store_true",
        help="GPU only: onnxruntime's TensorRT accelerator (FP32 unless --fp16)",
    )
    p.add_argument("--fp16", action="store_true", help="TensorRT in FP16")
    k = p.add_argument_group("kserve")
    k.add_argument(
        "--storage-uri",
        help="where OUT/model_repository will be uploaded "
        "(required with --format kserve), e.g. s3://bucket/lenet/model_repository",
    )
    k.add_argument("--name", default="lenet", help="InferenceService name prefix (default: lenet)")
    k.add_argument("--namespace", default=None, help="Kubernetes namespace (default: none)")
    k.add_argument(
        "--image",
        default="lenet-deploy-serve:0.1.0",
        help="the lenet-deploy serve image (default: lenet-deploy-serve:0.1.0)",
    )
    add_json_arguments(p, "the result")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import PackageError
    from ..packaging.kserve import KServeSettings
    from ..packaging.package import package
    from ..packaging.triton import TritonSettings

    triton = TritonSettings(
        max_batch=args.max_batch,
        instances=args.instances,
        device=args.device,
        preferred_batch=args.preferred_batch,
        max_queue_delay_us=args.max_queue_delay_us,
        warmup=not args.no_warmup,
        tensorrt=args.tensorrt,
        fp16=args.fp16,
    )
    kserve = None
    if args.format == "kserve":
        if not args.storage_uri:
            raise PackageError(
                "--format kserve needs --storage-uri (where OUT/model_repository "
                "is uploaded, e.g. s3://bucket/lenet/model_repository)"
            )
        kserve = KServeSettings(
            args.storage_uri, name=args.name, namespace=args.namespace, image=args.image
        )
    result = package(
        args.model, args.out, format=args.format, triton_settings=triton, kserve_settings=kserve
    )
    emit_json(args, result.to_dict())
    if json_to_stdout(args):
        return 0
    print(
        f"wrote {result.format} package {result.out}/ in {result.seconds:.2f} s "
        f"(model sha256 {result.model_sha256[:12]}…, config validated against Triton's schema)"
    )
    for name in result.files:
        print(f"  {result.out}/{name}")
    return 0
