"""KServe manifests: the fields KServe requires, and consistency with the repository layout."""

from __future__ import annotations

import json
import re

import pytest

from lenet_deploy.errors import PackageError
from lenet_deploy.packaging import kserve
from lenet_deploy.packaging.kserve import KServeSettings
from lenet_deploy.packaging.targets import triton_release
from lenet_deploy.packaging.triton import TritonSettings

URI = "s3://bucket/lenet/model_repository"
IMAGE = "registry.example.com/team/lenet-deploy-serve:0.1.0"
RELEASE = triton_release("23.05")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def load_manifest(path):
    """JSON is YAML: strip the comment header and parse; with PyYAML present, both must agree."""
    text = path.read_text()
    doc = json.loads("\n".join(line for line in text.splitlines() if not line.startswith("#")))
    try:
        import yaml
    except ImportError:
        return doc
    assert yaml.safe_load(text) == doc
    return doc


def check_inference_service(doc):
    assert doc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert doc["kind"] == "InferenceService"
    name = doc["metadata"]["name"]
    assert DNS_1035.match(name) and len(name) <= 63
    predictor = doc["spec"]["predictor"]
    assert ("model" in predictor) != ("containers" in predictor)  # exactly one of them
    return predictor


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_manifests_have_the_fields_kserve_requires(tmp_path, device):
    settings = KServeSettings(URI, IMAGE, namespace="ml")
    tset = TritonSettings(device=device)
    assert kserve.write_manifests(tmp_path, settings, tset, RELEASE) == [
        kserve.TRITON_FILE,
        kserve.SERVE_FILE,
    ]
    triton_doc = load_manifest(tmp_path / kserve.TRITON_FILE)
    model = check_inference_service(triton_doc)["model"]
    assert triton_doc["metadata"] == {
        "name": "lenet-triton",
        "namespace": "ml",
        "labels": {
            "app.kubernetes.io/name": "lenet",
            "app.kubernetes.io/managed-by": "lenet-deploy",
        },
    }
    assert model["modelFormat"]["name"] == "triton"
    assert model["storageUri"] == URI and model["protocolVersion"] == "v2"
    # Pinned to the release the model was converted for, not whatever KServe's default is.
    assert model["runtimeVersion"] == "23.05-py3"
    gpus = model["resources"]["limits"].get("nvidia.com/gpu")
    assert gpus == ("1" if device == "gpu" else None)

    serve_doc = load_manifest(tmp_path / kserve.SERVE_FILE)
    (container,) = check_inference_service(serve_doc)["containers"]
    assert serve_doc["metadata"]["name"] == "lenet-serve"
    assert container["name"] == "kserve-container" and container["image"] == IMAGE
    port = container["ports"][0]["containerPort"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == port
        assert container[probe]["httpGet"]["path"].startswith("/v2/health/")
    args = container["args"]
    assert args[0] == "serve" and args[args.index("--port") + 1] == str(port)
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert args[args.index("--runtime") + 1] == ("ort-cuda" if device == "gpu" else "ort-cpu")
    # The storage initializer copies STORAGE_URI (the repository) to /mnt/models.
    assert {"name": "STORAGE_URI", "value": URI} in container["env"]
    assert args[args.index("--model") + 1] == "/mnt/models/lenet/1/model.onnx"
    assert all(isinstance(a, str) for a in args)
    # KServe assumes v1 for a custom container without PROTOCOL, and names the model after
    # the InferenceService: the server must answer /v2/models/lenet-serve/...
    assert {"name": "PROTOCOL", "value": "v2"} in container["env"]
    assert args[args.index("--model-name") + 1] == serve_doc["metadata"]["name"]
    assert "serviceAccountName" not in serve_doc["spec"]["predictor"]


def test_service_account_and_resources_are_options(tmp_path):
    settings = KServeSettings(
        URI, IMAGE, service_account="lenet-s3", cpu="500m", memory="512Mi", cpu_limit="2"
    )
    kserve.write_manifests(tmp_path, settings, TritonSettings(), RELEASE)
    for name in (kserve.TRITON_FILE, kserve.SERVE_FILE):
        predictor = load_manifest(tmp_path / name)["spec"]["predictor"]
        assert predictor["serviceAccountName"] == "lenet-s3"
        part = predictor.get("model") or predictor["containers"][0]
        assert part["resources"] == {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"cpu": "2", "memory": "512Mi"},
        }


@pytest.mark.parametrize(
    "image",
    ["lenet-deploy-serve:0.1.0", "team/lenet-deploy-serve:0.1.0", "", "/x/y", "reg.io/a b"],
)
def test_image_must_name_a_registry(image):
    with pytest.raises(PackageError, match="image"):
        KServeSettings(URI, image)


@pytest.mark.parametrize("image", [IMAGE, "localhost:5000/lenet:1", "docker.io/team/lenet:1"])
def test_images_with_a_registry_are_taken(image):
    assert KServeSettings(URI, image).image == image


def test_model_path_follows_the_repository_layout(tmp_path):
    tset = TritonSettings(model_name="digits", version=7)
    kserve.write_manifests(tmp_path, KServeSettings(URI, IMAGE, name="mnist"), tset, RELEASE)
    (container,) = load_manifest(tmp_path / kserve.SERVE_FILE)["spec"]["predictor"]["containers"]
    assert "/mnt/models/digits/7/model.onnx" in container["args"]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"storage_uri": "bucket/lenet"}, "storage URI"),
        ({"storage_uri": "ftp://host/x"}, "storage URI"),
        ({"storage_uri": "s3://"}, "storage URI"),
        ({"name": "LeNet"}, "name 'LeNet'"),
        ({"name": "9lenet"}, "start with a letter"),
        ({"name": "a" * 60}, "at most 56 characters"),
        ({"namespace": "My_NS"}, "namespace"),
        ({"image": "has space"}, "image"),
        ({"port": 0}, "port 0"),
        ({"cpu": "one"}, "cpu 'one'"),
        ({"memory": "1 GB"}, "memory"),
        ({"memory_limit": "lots"}, "memory-limit"),
        ({"service_account": "Bad_SA"}, "service account"),
    ],
)
def test_settings_refuse_what_kubernetes_would_reject(kwargs, fragment):
    with pytest.raises(PackageError) as info:
        KServeSettings(**{"storage_uri": URI, "image": IMAGE, **kwargs})
    assert fragment in str(info.value)
