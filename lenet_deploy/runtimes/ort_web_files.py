"""Where onnxruntime-web's files are: one rule for the ``ort-web`` runtime and the page.

``$LENET_DEPLOY_ORT_WEB`` when set, else where ``npm ci --prefix web`` puts onnxruntime-web in
the source checkout (an editable install), else that folder under the current directory. No
heavy imports (the server reads it too).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "LENET_DEPLOY_ORT_WEB"
NPM_DIST = "web/node_modules/onnxruntime-web/dist"
REPO_DIST = Path(__file__).resolve().parents[2] / NPM_DIST


def named_dist() -> str | None:
    """The folder ``$LENET_DEPLOY_ORT_WEB`` names, or None."""
    return os.environ.get(ENV) or None


def default_dist() -> Path:
    """The folder to use when the user named none (see the module docstring)."""
    named = named_dist()
    if named:
        return Path(named)
    return next((p for p in (REPO_DIST, Path(NPM_DIST).resolve()) if p.is_dir()), REPO_DIST)
