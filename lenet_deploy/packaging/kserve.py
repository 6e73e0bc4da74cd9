"""Two KServe InferenceService manifests for the packaged model.

* ``inferenceservice-triton.yaml``: KServe's Triton runtime (``modelFormat: triton``) serving
  the model repository found at ``storageUri``, pinned with ``runtimeVersion`` to the Triton
  release the model was written for (targets.py).
* ``inferenceservice-serve.yaml``: a custom predictor running the ``lenet-deploy serve`` image
  (Dockerfile; Dockerfile.gpu for ``--device gpu``); KServe's storage initializer copies
  ``STORAGE_URI`` to /mnt/models. A custom container gets KServe's conventions spelled out:
  ``PROTOCOL=v2`` (KServe assumes v1 otherwise) and the model served under the
  InferenceService's name, which is the name KServe gives the model.

Both speak the Open Inference Protocol (v2), so one client works against either. The files are
JSON, which is YAML, because PyYAML is not a dependency; ``kubectl apply -f`` takes them as is.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import PackageError
from .targets import TritonRelease

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
TRITON_FILE = "inferenceservice-triton.yaml"
SERVE_FILE = "inferenceservice-serve.yaml"
#: KServe's storage initializer puts the storageUri contents here in every predictor pod.
MODEL_MOUNT = "/mnt/models"
#: Custom predictors must name their container this for KServe to route to it.
CONTAINER_NAME = "kserve-container"
STORAGE_SCHEMES = ("gs", "s3", "pvc", "http", "https", "hdfs", "webhdfs", "hf")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
_DNS_1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
EXAMPLE_IMAGE = "registry.example.com/team/lenet-deploy-serve:0.1.0"


def image_problem(image: str) -> str | None:
    """Why ``image`` is not a pullable reference with a registry host, or None.

    Docker's rule: the first path component names a registry when it has a '.' or ':' or is
    ``localhost``; otherwise the image is looked up on docker.io, where ours is not.
    """
    if not image or any(c.isspace() for c in image) or image != image.strip("/"):
        return f"image {image!r} is not a container image reference"
    host, _, rest = image.partition("/")
    if not rest or not ("." in host or ":" in host or host == "localhost"):
        return (
            f"image {image!r} names no registry, so the cluster would pull it from docker.io; "
            f"push the image and give its full name, e.g. --image {EXAMPLE_IMAGE}"
        )
    return None


@dataclass(frozen=True)
class KServeSettings:
    """InferenceService settings. ``storage_uri`` is where the model repository is uploaded
    (e.g. ``s3://bucket/lenet/model_repository``); ``image`` is the pushed lenet-deploy serve
    image with its registry (the GPU build for ``--device gpu``); ``name`` prefixes both
    services (``NAME-triton``, ``NAME-serve``); ``service_account`` holds the storage
    credentials of a private bucket. Requests are ``cpu`` and ``memory`` (Kubernetes
    quantities); limits default to the requests; ``--device gpu`` adds one GPU.
    """

    storage_uri: str
    image: str
    name: str = "lenet"
    namespace: str | None = None
    service_account: str | None = None
    port: int = 8080
    cpu: str = "1"
    memory: str = "1Gi"
    cpu_limit: str | None = None
    memory_limit: str | None = None

    def __post_init__(self) -> None:
        problems = []
        scheme = self.storage_uri.split("://", 1)[0] if "://" in self.storage_uri else ""
        if scheme not in STORAGE_SCHEMES or not self.storage_uri.split("://", 1)[1].strip("/"):
            problems.append(
                f"storage URI {self.storage_uri!r} must be <scheme>://<location> with scheme "
                f"one of {', '.join(STORAGE_SCHEMES)}"
            )
        longest = max(len("-triton"), len("-serve"))
        if not _DNS_1035.match(self.name) or len(self.name) + longest > 63:
            problems.append(
                f"name {self.name!r} must be lowercase letters, digits and '-', start with a "
                f"letter and be at most {63 - longest} characters"
            )
        if self.namespace is not None and not _DNS_1035.match(self.namespace):
            problems.append(f"namespace {self.namespace!r} is not a valid Kubernetes name")
        if image_problem(self.image):
            problems.append(image_problem(self.image))
        account = self.service_account
        if account is not None and (not _DNS_1123_SUBDOMAIN.match(account) or len(account) > 253):
            problems.append(f"service account {account!r} is not a valid Kubernetes name")
        if not 1 <= self.port <= 65535:
            problems.append(f"port {self.port} must be within 1..65535")
        for key in ("cpu", "memory", "cpu_limit", "memory_limit"):
            value = getattr(self, key)
            if value is not None and not _QUANTITY.match(value):
                problems.append(
                    f"{key.replace('_', '-')} {value!r} is not a Kubernetes quantity "
                    "(e.g. 500m, 2Gi)"
                )
        if problems:
            raise PackageError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)


def triton_service(settings: KServeSettings, gpu: bool, release: TritonRelease) -> dict:
    """The InferenceService that runs the repository on KServe's Triton runtime, pinned to
    ``release`` (``runtimeVersion`` is the tritonserver image tag)."""
    model = {
        "modelFormat": {"name": "triton"},
        "protocolVersion": "v2",
        "runtimeVersion": release.image_tag,
        "storageUri": settings.storage_uri,
        "resources": _resources(settings, gpu),
    }
    return _service(settings, "triton", {"model": model})


def serve_name(settings: KServeSettings) -> str:
    """The serve InferenceService's name, which is also the model name it serves."""
    return f"{settings.name}-serve"


def serve_service(settings: KServeSettings, model_name: str, version: int, gpu: bool) -> dict:
    """The InferenceService that runs ``lenet-deploy serve`` from the serve image."""
    port = settings.port
    container = {
        "name": CONTAINER_NAME,
        "image": settings.image,
        "args": [
            "serve",
            "--runtime",
            "ort-cuda" if gpu else "ort-cpu",
            "--model",
            f"{MODEL_MOUNT}/{model_name}/{version}/model.onnx",
            "--model-name",
            serve_name(settings),
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ],
        "env": [
            {"name": "STORAGE_URI", "value": settings.storage_uri},
            {"name": "PROTOCOL", "value": "v2"},
        ],
        "ports": [{"containerPort": port, "protocol": "TCP"}],
        "readinessProbe": _probe("/v2/health/ready", port, 2),
        "livenessProbe": _probe("/v2/health/live", port, 10),
        "resources": _resources(settings, gpu),
    }
    return _service(settings, "serve", {"containers": [container]})


def write_manifests(
    directory: Path, settings: KServeSettings, triton_settings, release: TritonRelease
) -> list[str]:
    """Write both manifests into ``directory``; returns their names."""
    gpu = triton_settings.device == "gpu"
    image = "Dockerfile.gpu (CUDA 13 + cuDNN 9)" if gpu else "Dockerfile"
    docs = {
        TRITON_FILE: (
            triton_service(settings, gpu, release),
            f"KServe's Triton runtime, tritonserver:{release.image_tag} "
            f"(onnxruntime {release.onnxruntime}); serves model {triton_settings.model_name!r}",
        ),
        SERVE_FILE: (
            serve_service(settings, triton_settings.model_name, triton_settings.version, gpu),
            f"the lenet-deploy serve image {settings.image} built from {image}; serves "
            f"model {serve_name(settings)!r}",
        ),
    }
    for name, (doc, what) in docs.items():
        header = (
            f"# InferenceService: {what}\n"
            f"# Model repository at {settings.storage_uri}\n"
            f"# Written by lenet-deploy package (JSON is YAML): kubectl apply -f {name}\n"
        )
        (directory / name).write_text(header + json.dumps(doc, indent=2) + "\n", "utf-8")
    return list(docs)


def _service(settings: KServeSettings, suffix: str, predictor: dict) -> dict:
    metadata = {
        "name": f"{settings.name}-{suffix}",
        "labels": {
            "app.kubernetes.io/name": settings.name,
            "app.kubernetes.io/managed-by": "lenet-deploy",
        },
    }
    if settings.namespace:
        metadata["namespace"] = settings.namespace
    if settings.service_account:
        predictor = {"serviceAccountName": settings.service_account, **predictor}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def _resources(settings: KServeSettings, gpu: bool) -> dict:
    requests = {"cpu": settings.cpu, "memory": settings.memory}
    limits = {
        "cpu": settings.cpu_limit or settings.cpu,
        "memory": settings.memory_limit or settings.memory,
    }
    if gpu:
        limits["nvidia.com/gpu"] = "1"
    return {"requests": requests, "limits": limits}


def _probe(path: str, port: int, initial_delay_s: int) -> dict:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": initial_delay_s,
        "periodSeconds": 5,
        "timeoutSeconds": 2,
    }
