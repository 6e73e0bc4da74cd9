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


def read_metrics(directory: str | os.PathLike) -> dict:
    """``metrics.json`` of an artifacts directory, checked against its ``lenet.pt``.

    ``train`` records the checkpoint's sha256 in metrics.json; a mismatch means the pair was
    not written by one run (an interrupted or concurrent ``train``) and raises ArtifactError.
    """
    import json

    folder = Path(directory)
    metrics_path, checkpoint = folder / METRICS_NAME, folder / CHECKPOINT_NAME
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        recorded = metrics.get("checkpoint_sha256") if isinstance(metrics, dict) else None
        actual = file_sha256(checkpoint) if recorded else None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {str(metrics_path)!r} ({exc})") from None
    if not isinstance(metrics, dict):
        raise ArtifactError(f"{str(metrics_path)!r} is not a metrics object")
    if recorded and recorded != actual:
        raise ArtifactError(
            f"{str(metrics_path)!r} does not belong to {str(checkpoint)!r} (checkpoint sha256 "
            "differs: written by an interrupted or concurrent train); re-run 'lenet-deploy train'"
        )
    return metrics


def file_sha256(path: str | os.PathLike) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
