"""Two KServe InferenceService manifests for the packaged model.

* ``inferenceservice-triton.yaml``: KServe's Triton runtime (``modelFormat: triton``) serving
  the model repository found at ``storageUri``.
* ``inferenceservice-serve.yaml``: a custom predictor running the ``lenet-deploy serve`` image
  (see the Dockerfile); KServe's storage initializer copies ``STORAGE_URI`` to /mnt/models.

Both speak the Open Inference Protocol (v2), so one client works against either. The files are
JSON, which is YAML, because PyYAML is not a dependency; ``kubectl apply -f`` takes them as is.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import PackageError

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


@dataclass(frozen=True)
class KServeSettings:
    """InferenceService settings. ``storage_uri`` is where the model repository is uploaded
    (required; e.g. ``s3://bucket/lenet/model_repository``); ``name`` prefixes both services
    (``NAME-triton``, ``NAME-serve``); ``image`` is the lenet-deploy serve image; requests and
    limits are ``cpu`` and ``memory`` (Kubernetes quantities), plus one GPU for ``--device gpu``.
    """

    storage_uri: str
    name: str = "lenet"
    namespace: str | None = None
    image: str = "lenet-deploy-serve:0.1.0"
    port: int = 8080
    cpu: str = "1"
    memory: str = "1Gi"

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
        if not self.image or any(c.isspace() for c in self.image):
            problems.append(f"image {self.image!r} must be a container image reference")
        if not 1 <= self.port <= 65535:
            problems.append(f"port {self.port} must be within 1..65535")
        for key in ("cpu", "memory"):
            if not _QUANTITY.match(getattr(self, key)):
                problems.append(f"{key} {getattr(self, key)!r} is not a Kubernetes quantity")
        if problems:
            raise PackageError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)


def triton_service(settings: KServeSettings, gpu: bool) -> dict:
    """The InferenceService that runs the repository on KServe's Triton runtime."""
    model = {
        "modelFormat": {"name": "triton"},
        "protocolVersion": "v2",
        "storageUri": settings.storage_uri,
        "resources": _resources(settings, gpu),
    }
    return _service(settings, "triton", {"model": model})


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
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ],
        "env": [{"name": "STORAGE_URI", "value": settings.storage_uri}],
        "ports": [{"containerPort": port, "protocol": "TCP"}],
        "readinessProbe": _probe("/v2/health/ready", port, 2),
        "livenessProbe": _probe("/v2/health/live", port, 10),
        "resources": _resources(settings, gpu),
    }
    return _service(settings, "serve", {"containers": [container]})


def write_manifests(directory: Path, settings: KServeSettings, triton_settings) -> list[str]:
    """Write both manifests into ``directory``; returns their names."""
    gpu = triton_settings.device == "gpu"
    docs = {
        TRITON_FILE: (triton_service(settings, gpu), "KServe's Triton runtime"),
        SERVE_FILE: (
            serve_service(settings, triton_settings.model_name, triton_settings.version, gpu),
            "the lenet-deploy serve image",
        ),
    }
    for name, (doc, what) in docs.items():
        header = (
            f"# InferenceService: {what}, model repository at {settings.storage_uri}\n"
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
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def _resources(settings: KServeSettings, gpu: bool) -> dict:
    amounts = {"cpu": settings.cpu, "memory": settings.memory}
    limits = {**amounts, "nvidia.com/gpu": "1"} if gpu else dict(amounts)
    return {"requests": amounts, "limits": limits}


def _probe(path: str, port: int, initial_delay_s: int) -> dict:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": initial_delay_s,
        "periodSeconds": 5,
        "timeoutSeconds": 2,
    }
