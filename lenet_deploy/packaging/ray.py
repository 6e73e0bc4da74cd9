"""``package --format ray``: the model and a Ray Serve config file for it.

    OUT/lenet/1/model.onnx        the export, byte for byte (Ray runs it in the replicas' own
                                  runtime, so there is no engine version to convert for)
    OUT/serve_config.yaml         Ray Serve's config: ``serve run OUT/serve_config.yaml``, or
                                  ``serve deploy`` to a running cluster; its one application
                                  is ``lenet_deploy.integrations.ray:app_builder`` with the
                                  RaySettings as ``args``
    OUT/lenet-deploy-package.json what was written, from what, with which settings

The config names the model by its absolute path under OUT: Ray Serve's config files take only
remote URIs as a ``working_dir``, so a relative path would be resolved wherever each replica
happens to start. On a cluster, put OUT at the same path on every node (or bake it into the
image) and the same ``applications`` list is what KubeRay's RayService takes as
``serveConfigV2``. The config is JSON, which is YAML.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from ..artifacts.layout import file_sha256
from ..errors import PackageError
from ..integrations.ray_settings import RAY_VERSION, RaySettings

SERVE_CONFIG = "serve_config.yaml"
MODEL_PATH = "lenet/1/model.onnx"
IMPORT_PATH = "lenet_deploy.integrations.ray:app_builder"


def serve_config(settings: RaySettings, model: Path, port: int = 8000) -> dict:
    """Ray Serve's config document for ``settings`` serving the model file ``model``."""
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": "0.0.0.0", "port": port},
        "applications": [
            {
                "name": "lenet",
                "route_prefix": "/",
                "import_path": IMPORT_PATH,
                "args": replace(settings, model=str(model)).to_dict(),
            }
        ],
    }


def write_ray(stage: Path, model: Path, sha256: str, settings: RaySettings, out: Path) -> list[str]:
    """Write the model and serve_config.yaml into ``stage``, which becomes ``out``; returns
    the files."""
    target = stage / MODEL_PATH
    target.parent.mkdir(parents=True)
    shutil.copyfile(model, target)
    if file_sha256(target) != sha256:
        raise PackageError(f"{model} changed while it was being copied; run package again")
    header = (
        f"# Ray Serve {RAY_VERSION} config (JSON is YAML), written by lenet-deploy package.\n"
        f"# serve run {out.resolve() / SERVE_CONFIG}   (needs pip install 'lenet-deploy[ray]')\n"
    )
    config = serve_config(settings, out.resolve() / MODEL_PATH)
    text = header + json.dumps(config, indent=2) + "\n"
    (stage / SERVE_CONFIG).write_text(text, encoding="utf-8")
    return [MODEL_PATH, SERVE_CONFIG]
