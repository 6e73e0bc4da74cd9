"""Where train/export put their files, and how a model argument resolves to one (no heavy imports).

An artifacts directory (default ``artifacts/``) holds ``lenet.pt`` (checkpoint), ``lenet.onnx``
(exported model) and ``metrics.json``. Commands and ``load_runtime`` accept either that directory
or the specific file; a remote runtime takes a URL instead.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

from .errors import ArtifactError, ArtifactKindError

DEFAULT_DIR = "artifacts"
CHECKPOINT_NAME = "lenet.pt"
ONNX_NAME = "lenet.onnx"
METRICS_NAME = "metrics.json"
URL_SCHEMES = ("http://", "https://")


class ArtifactKind(str, enum.Enum):
    """What a runtime loads: a checkpoint, an ONNX file, or the URL of a served model."""

    CHECKPOINT = "checkpoint"
    ONNX = "onnx"
    URL = "url"


_NAMES = {ArtifactKind.CHECKPOINT: CHECKPOINT_NAME, ArtifactKind.ONNX: ONNX_NAME}
_SUFFIXES = {ArtifactKind.CHECKPOINT: (".pt", ".pth"), ArtifactKind.ONNX: (".onnx",)}
_HOW = {ArtifactKind.CHECKPOINT: "lenet-deploy train", ArtifactKind.ONNX: "lenet-deploy export"}


def is_url(artifact: object) -> bool:
    return isinstance(artifact, str) and artifact.startswith(URL_SCHEMES)


def resolve(artifact: str | os.PathLike, kind: str | ArtifactKind) -> Path:
    """Return the ``kind`` file ('checkpoint' or 'onnx') for a directory or file argument.

    Raises ArtifactError naming the path and the command that makes the missing file.
    """
    kind = ArtifactKind(kind)
    if kind is ArtifactKind.URL:
        raise ArtifactError("a URL is not a file; use resolve_url")
    path = Path(artifact)
    if path.is_dir():
        path = path / _NAMES[kind]
    elif path.suffix.lower() not in _SUFFIXES[kind] and path.exists():
        raise ArtifactError(
            f"{str(path)!r} is not a {kind.value} file (expected "
            f"{' or '.join(_SUFFIXES[kind])}); pass the artifacts directory or the "
            f"{_NAMES[kind]} file"
        )
    if not path.is_file():
        raise ArtifactError(f"{str(path)!r} not found; create it with '{_HOW[kind]}'")
    return path


def resolve_url(artifact: str | os.PathLike) -> str:
    """``artifact`` itself when it is an http(s) URL, else ArtifactError saying what to pass."""
    if not is_url(artifact):
        raise ArtifactKindError(
            f"{str(artifact)!r} is not a URL; this runtime loads a served model, pass e.g. "
            "http://127.0.0.1:8000/v2/models/lenet"
        )
    return str(artifact)


def artifact_for(kind: str | ArtifactKind, model: str | os.PathLike) -> str | Path:
    """What a runtime of ``kind`` loads when a command is given ``model``.

    A directory serves every file kind; a file serves its own kind and its folder the others; a
    URL serves only URL runtimes. Raises ArtifactKindError when ``model`` cannot serve ``kind``.
    """
    kind = ArtifactKind(kind)
    if kind is ArtifactKind.URL:
        return resolve_url(model)
    if is_url(model):
        raise ArtifactKindError(f"{model!r} is a URL; this runtime loads a {kind.value} file")
    path = Path(model)
    if path.is_dir():
        return path
    return path if path.suffix.lower() in _SUFFIXES[kind] else path.parent


def unloadable_model(runtime: str, path: Path, reason: str) -> ArtifactError:
    """The error for an ONNX file an engine cannot parse."""
    return ArtifactError(
        f"{runtime}: {str(path)!r} is not a loadable ONNX model ({reason}); "
        "re-create it with 'lenet-deploy export'"
    )


def not_a_lenet_export(runtime: str, path: Path, inputs: str) -> ArtifactError:
    """The error for an ONNX model whose signature is not LeNet's ``image`` -> ``logits``."""
    return ArtifactError(
        f"{runtime}: {str(path)!r} is not a LeNet export (inputs: {inputs}; expected "
        "image[batch, 1, 32, 32] -> logits); re-create it with 'lenet-deploy export'"
    )


def file_sha256(path: str | os.PathLike) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
