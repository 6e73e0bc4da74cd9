"""``package --format ray``: the model and a Ray Serve config file for it.

    OUT/lenet/1/model.onnx        the export, byte for byte (Ray runs it in the replicas' own
                                  runtime, so there is no engine version to convert for)
    OUT/serve_config.yaml         Ray Serve's config: ``serve run serve_config.yaml`` from OUT,
                                  or ``serve deploy`` to a running cluster; its one application
                                  is ``lenet_deploy.integrations.ray:app_builder`` with the
                                  RaySettings as ``args`` and OUT as the ``working_dir``
    OUT/lenet-deploy-package.json what was written, from what, with which settings

The config is JSON, which is YAML; the same ``applications`` list is what KubeRay's RayService
takes as ``serveConfigV2`` (with ``working_dir`` pointing at an uploaded zip of OUT).
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


def serve_config(settings: RaySettings, working_dir: str = ".", port: int = 8000) -> dict:
    """Ray Serve's config document for ``settings`` (its model path relative to OUT)."""
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": "0.0.0.0", "port": port},
        "applications": [
            {
                "name": "lenet",
                "route_prefix": "/",
                "import_path": IMPORT_PATH,
                "runtime_env": {"working_dir": working_dir},
                "args": replace(settings, model=MODEL_PATH).to_dict(),
            }
        ],
    }


def write_ray(stage: Path, model: Path, sha256: str, settings: RaySettings) -> list[str]:
    """Write the model and serve_config.yaml into ``stage``; returns the files."""
    target = stage / MODEL_PATH
    target.parent.mkdir(parents=True)
    shutil.copyfile(model, target)
    if file_sha256(target) != sha256:
        raise PackageError(f"{model} changed while it was being copied; run package again")
    header = (
        f"# Ray Serve {RAY_VERSION} config (JSON is YAML), written by lenet-deploy package.\n"
        f"# From this folder: serve run {SERVE_CONFIG}   (needs pip install 'lenet-deploy[ray]')\n"
    )
    text = header + json.dumps(serve_config(settings), indent=2) + "\n"
    (stage / SERVE_CONFIG).write_text(text, encoding="utf-8")
    return [MODEL_PATH, SERVE_CONFIG]
