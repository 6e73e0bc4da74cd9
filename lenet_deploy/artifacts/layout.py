"""Where train/export put their files, and how a model argument resolves to one (no heavy imports).

An artifacts directory (default ``artifacts/``) holds ``lenet.pt`` (checkpoint), ``lenet.onnx``
(exported model) and ``metrics.json``. Commands and ``load_runtime`` accept either that directory
or the specific file; a remote runtime takes a URL instead.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

from ..errors import ArtifactError, ArtifactKindError

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


def engine_failed(runtime: str, engine: str, path: Path, exc: BaseException) -> ArtifactError:
    """The error for an ONNX model an engine loaded but then failed to run."""
    from ..errors import first_line

    return ArtifactError(
        f"{runtime}: {engine} failed to run {str(path)!r} ({first_line(exc)}); "
        "re-create it with 'lenet-deploy export'"
    )


#: One tensor of a model's signature as an engine reports it: its names, its dimensions as
#: text ("1", "32"; a symbol or "?" when dynamic) and whether its element type is float32.
Tensor = tuple[frozenset, tuple, bool]


def check_lenet_signature(runtime: str, path: Path, inputs: list, outputs: list) -> None:
    """ArtifactError unless the model takes one ``image`` [batch, 1, 32, 32] and gives float32
    ``logits`` [batch, 10] (a 5-class or float64 model would otherwise give wrong answers).

    ``inputs`` / ``outputs`` are :data:`Tensor` tuples, so every engine shares this check."""
    from ..spec import INPUT_NAME, NUM_CLASSES, OUTPUT_NAME

    in_ok = (
        len(inputs) == 1
        and INPUT_NAME in inputs[0][0]
        and tuple(inputs[0][1][1:]) == ("1", "32", "32")
        and len(inputs[0][1]) == 4
    )
    logits = [o for o in outputs if OUTPUT_NAME in o[0]]
    out_ok = bool(logits) and logits[0][2] and len(logits[0][1]) == 2
    if not (in_ok and out_ok and logits[0][1][1] == str(NUM_CLASSES)):

        def show(tensors):
            return ", ".join(
                f"{'/'.join(sorted(t[0]))}[{', '.join(t[1])}]{'' if t[2] else ' not float32'}"
                for t in tensors
            )

        raise ArtifactError(
            f"{runtime}: {str(path)!r} is not a LeNet export ({show(inputs)} -> "
            f"{show(outputs)}; expected {INPUT_NAME}[batch, 1, 32, 32] -> "
            f"{OUTPUT_NAME}[batch, {NUM_CLASSES}] float32); re-create it with 'lenet-deploy export'"
        )


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
