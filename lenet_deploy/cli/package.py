"""``lenet-deploy package``: a Triton model repository (and KServe manifests) for the export."""

from __future__ import annotations

import argparse

from ._common import positive_int as _positive
from .flags import (
    add_json_arguments,
    add_model_argument,
    add_runtime_argument,
    choice,
    emit_json,
    json_to_stdout,
    the_runtime,
)


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(_positive(t.strip()) for t in text.split(",") if t.strip())


def register(subparsers) -> None:
    from ..artifacts.layout import DEFAULT_DIR
    from ..integrations.ray_settings import RaySettings
    from ..packaging.kserve import EXAMPLE_IMAGE, KServeSettings
    from ..packaging.targets import DEFAULT_TRITON, TRITON_RELEASES
    from ..packaging.triton import TritonSettings

    d = TritonSettings()
    k_d = KServeSettings("s3://defaults", EXAMPLE_IMAGE)
    r_d = RaySettings()
    p = subparsers.add_parser(
        "package",
        help="write a Triton model repository (and KServe manifests) for the ONNX export",
        description="Copy the verified ONNX export into a Triton model repository "
        "(OUT/lenet/config.pbtxt, OUT/lenet/1/model.onnx, OUT/lenet/labels.txt), validated "
        "against Triton's own config schema, for one Triton release: the model is converted "
        "down to the IR version and opset that release's onnxruntime loads (with onnx's tools, "
        "then re-checked against the export) or refused with the lowest release that loads "
        "it. --format kserve puts the repository in OUT/model_repository and adds two "
        "InferenceService manifests. Written atomically: a failed run leaves an earlier "
        "package as it was.",
    )
    p.add_argument(
        "--format",
        type=choice("triton", "kserve", "ray", what="format"),
        metavar="{triton,kserve,ray}",
        default="triton",
        help="triton: a model repository; kserve: it plus InferenceService manifests; ray: the "
        "model plus a Ray Serve config for serve run / KubeRay (default: triton)",
    )
    add_model_argument(
        p, f"artifacts directory or .onnx file (default: {DEFAULT_DIR}/)", default=DEFAULT_DIR
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "int8", "fp16"),
        default="fp32",
        help="which variant beside --model's lenet.onnx to package (default: fp32; int8 and "
        "fp16 are made by 'lenet-deploy export --precision'; Triton's onnxruntime backend "
        "runs them)",
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
    p.add_argument(
        "--triton-version",
        default=DEFAULT_TRITON,
        metavar="YY.MM",
        help=f"the Triton release that will serve it, {TRITON_RELEASES[0].release}.."
        f"{TRITON_RELEASES[-1].release} (default: {DEFAULT_TRITON}, KServe's Triton)",
    )
    p.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="PYTHON",
        help="also run the packaged model in this interpreter's onnxruntime (a side venv "
        "with the release's onnxruntime and numpy) and compare it with the export; "
        "repeatable (default: none)",
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
        help="the pushed lenet-deploy serve image, with its registry (required with --format "
        f"kserve; the Dockerfile.gpu build with --device gpu), e.g. {EXAMPLE_IMAGE}",
    )
    k.add_argument(
        "--service-account",
        help="service account with the storage credentials (private buckets; default: none)",
    )
    k.add_argument("--cpu", default=k_d.cpu, help=f"CPU request (default: {k_d.cpu})")
    k.add_argument("--memory", default=k_d.memory, help=f"memory request (default: {k_d.memory})")
    k.add_argument("--cpu-limit", help="CPU limit (default: the request)")
    k.add_argument("--memory-limit", help="memory limit (default: the request)")
    r = p.add_argument_group("ray")
    r.add_argument(
        "--replicas",
        type=_positive,
        default=r_d.replicas,
        help=f"Ray Serve replicas (default: {r_d.replicas})",
    )
    add_runtime_argument(
        r, f"the runtime each replica loads (default: {r_d.runtime})", single=r_d.runtime
    )
    add_json_arguments(p, "the result")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import PackageError
    from ..packaging.kserve import EXAMPLE_IMAGE, KServeSettings
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
        if not args.image:
            raise PackageError(
                "--format kserve needs --image: the serve image pushed to a registry the "
                f"cluster pulls from, e.g. --image {EXAMPLE_IMAGE}"
            )
        kserve = KServeSettings(
            args.storage_uri,
            args.image,
            name=args.name,
            namespace=args.namespace,
            service_account=args.service_account,
            cpu=args.cpu,
            memory=args.memory,
            cpu_limit=args.cpu_limit,
            memory_limit=args.memory_limit,
        )
    model = args.model
    if args.precision != "fp32":
        from ..exporters.variants import current_variant

        model = current_variant(args.model, args.precision).model
    from ..integrations.ray_settings import RaySettings

    ray = RaySettings(runtime=the_runtime(args), replicas=args.replicas)
    result = package(
        model,
        args.out,
        format=args.format,
        triton_settings=triton,
        kserve_settings=kserve,
        triton_version=args.triton_version,
        check=tuple(args.check),
        ray_settings=ray,
    )
    emit_json(args, result.to_dict())
    if json_to_stdout(args):
        return 0
    if result.format == "ray":
        print(
            f"wrote ray package {result.out}/ in {result.seconds:.2f} s (Ray Serve "
            f"{result.target['version']}, {args.replicas} replica(s) of {the_runtime(args)}); "
            f"run it: serve run {result.out}/serve_config.yaml"
        )
        return _list(result)
    target, conv = result.target, result.conversion
    print(
        f"wrote {result.format} package {result.out}/ in {result.seconds:.2f} s for Triton "
        f"{target['release']} (onnxruntime {target['onnxruntime']}): model IR "
        f"{conv['ir_version']} opset {conv['opset']}"
        + (
            f", converted from IR {conv['source_ir_version']} opset {conv['source_opset']} "
            f"and matching the export (max |diff| {result.parity['max_abs_diff']:.1e})"
            if conv["converted"]
            else ", as exported"
        )
        + "; config validated against Triton's schema"
    )
    for check in result.engine_checks:
        print(
            f"  checked in onnxruntime {check['onnxruntime']} ({check['python']}): "
            f"{check['images']} images match the export (max |diff| {check['max_abs_diff']:.1e})"
        )
    return _list(result)


def _list(result) -> int:
    for name in result.files:
        print(f"  {result.out}/{name}")
    return 0
