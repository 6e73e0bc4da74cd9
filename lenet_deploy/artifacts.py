"""Where train/export put their files, and how a model argument resolves to one (no heavy imports).

An artifacts directory (default ``artifacts/``) holds ``lenet.pt`` (checkpoint), ``lenet.onnx``
(exported model) and ``metrics.json``. Commands and ``load_runtime`` accept either that directory
or the specific file.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ArtifactError

DEFAULT_DIR = "artifacts"
CHECKPOINT_NAME = "lenet.pt"
ONNX_NAME = "lenet.onnx"
METRICS_NAME = "metrics.json"

_NAMES = {"checkpoint": CHECKPOINT_NAME, "onnx": ONNX_NAME}
_SUFFIXES = {"checkpoint": (".pt", ".pth"), "onnx": (".onnx",)}
_HOW = {"checkpoint": "lenet-deploy train", "onnx": "lenet-deploy export"}


def resolve(artifact: str | os.PathLike, kind: str) -> Path:
    """Return the ``kind`` file ('checkpoint' or 'onnx') for a directory or file argument.

    Raises ArtifactError naming the path and the command that makes the missing file.
    """
    path = Path(artifact)
    if path.is_dir():
        path = path / _NAMES[kind]
    elif path.suffix.lower() not in _SUFFIXES[kind] and path.exists():
        raise ArtifactError(
            f"{str(path)!r} is not a {kind} file (expected {' or '.join(_SUFFIXES[kind])}); "
            f"pass the artifacts directory or the {_NAMES[kind]} file"
        )
    if not path.is_file():
        raise ArtifactError(f"{str(path)!r} not found; create it with '{_HOW[kind]}'")
    return path
