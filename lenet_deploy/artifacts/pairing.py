"""Which checkpoint an ONNX file was exported from, so ``verify`` never compares strangers.

``export`` records the checkpoint's sha256 in the ONNX metadata (``source_checkpoint_sha256``).
Given one file, its partner is the file beside it whose sha256 matches that record; given both
(``--model X.onnx --reference Y.pt``), they must match. Anything else is refused with both names:
two unrelated networks "failing parity" is a wrong answer, not a finding.

Imports neither torch nor onnxruntime (the ONNX metadata is read with ``onnx``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtifactError, ArtifactKindError
from ..limits import LIMITS
from .layout import CHECKPOINT_NAME, ONNX_NAME, ArtifactKind, file_sha256

SHA_KEY = "source_checkpoint_sha256"
CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass(frozen=True)
class ModelPair:
    """An ONNX file and the checkpoint it was exported from; either may be absent."""

    onnx: Path | None
    checkpoint: Path | None
    given: Path

    def artifact_for(self, kind: ArtifactKind | str) -> Path:
        """The file a runtime of ``kind`` loads: the checkpoint or the ONNX file.

        Raises ArtifactKindError for a URL runtime (no file serves it) and ArtifactError when
        the file that kind needs was not given or found.
        """
        kind = ArtifactKind(kind)
        if kind is ArtifactKind.URL:
            raise ArtifactKindError(f"{str(self.given)!r} is not a URL; this runtime loads one")
        wants_checkpoint = kind is ArtifactKind.CHECKPOINT
        path = self.checkpoint if wants_checkpoint else self.onnx
        if path is not None:
            return path
        if self.given.is_dir():
            name = CHECKPOINT_NAME if wants_checkpoint else ONNX_NAME
            raise ArtifactError(
                f"{str(self.given)!r} has no {name}; create it with 'lenet-deploy train' and "
                "'lenet-deploy export'"
            )
        what = "checkpoint (.pt)" if wants_checkpoint else "ONNX file"
        raise ArtifactError(
            f"a {kind.value} runtime needs a {what} and only {str(self.given)!r} was given; "
            "pass both with --model X.onnx --reference Y.pt"
        )


def is_checkpoint_path(text: str | os.PathLike) -> bool:
    """Whether a ``--reference`` value names a checkpoint file rather than a runtime."""
    return Path(text).suffix.lower() in CHECKPOINT_SUFFIXES or Path(text).is_file()


def read_metadata(onnx_path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (the one reader of them); ArtifactError when it
    cannot be read."""
    import onnx

    try:
        proto = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError...: all mean "not readable"
        raise ArtifactError(
            f"{str(onnx_path)!r} is not a loadable ONNX model ({str(exc)[:120]})"
        ) from None
    return {p.key: p.value for p in proto.metadata_props}


def recorded_sha256(onnx_path: Path) -> str | None:
    return read_metadata(onnx_path).get(SHA_KEY) or None


def pair(model: str | os.PathLike, reference: str | os.PathLike | None = None) -> ModelPair:
    """Resolve ``model`` (artifacts directory, .onnx or .pt) and an optional reference checkpoint.

    Raises ArtifactError, naming both files, when the ONNX file records a different checkpoint.
    """
    model = Path(model)
    ref = Path(reference) if reference is not None else None
    if ref is not None and not ref.is_file():
        raise ArtifactError(f"reference checkpoint {str(ref)!r} not found")
    if not model.exists():
        raise ArtifactError(
            f"model {str(model)!r} not found; pass the artifacts directory written by "
            "'lenet-deploy train' and 'lenet-deploy export', or a .onnx/.pt file"
        )
    if model.is_dir():
        onnx = model / ONNX_NAME if (model / ONNX_NAME).is_file() else None
        checkpoint = ref or (
            model / CHECKPOINT_NAME if (model / CHECKPOINT_NAME).is_file() else None
        )
    elif model.suffix.lower() == ".onnx":
        onnx, checkpoint = model, ref or _find_partner(model)
    elif model.suffix.lower() in CHECKPOINT_SUFFIXES:
        if ref is not None:
            raise ArtifactError(
                f"--reference {str(ref)!r} pairs a checkpoint with an ONNX model, but --model "
                f"{str(model)!r} is a checkpoint too; pass --model X.onnx --reference Y.pt"
            )
        onnx, checkpoint = _find_onnx_for(model), model
    else:
        raise ArtifactError(
            f"{str(model)!r} is neither an artifacts directory nor a .onnx/.pt file"
        )
    if onnx is not None and checkpoint is not None:
        _check_match(onnx, checkpoint, explicit=ref is not None or not model.is_dir())
    return ModelPair(onnx, checkpoint, model)


def _check_match(onnx: Path, checkpoint: Path, explicit: bool) -> None:
    try:
        recorded = recorded_sha256(onnx)
    except ArtifactError:
        if explicit:
            raise
        return  # an unreadable file in a directory: the runtime that loads it says so

    if recorded is None:
        return  # exported elsewhere: nothing to check against, the user paired them explicitly
    actual = file_sha256(checkpoint)
    if actual != recorded:
        raise ArtifactError(
            f"{str(onnx)!r} was exported from a checkpoint with sha256 {recorded[:12]}..., but "
            f"{str(checkpoint)!r} has sha256 {actual[:12]}...: they are different models; pass "
            "the checkpoint it was exported from with --reference, or re-export"
        )


def _find_partner(onnx: Path) -> Path | None:
    """The checkpoint beside ``onnx`` whose sha256 is the one recorded in it."""
    recorded = recorded_sha256(onnx)
    found = sorted(p for p in onnx.parent.iterdir() if p.suffix.lower() in CHECKPOINT_SUFFIXES)
    candidates = found[: LIMITS.max_pair_candidates]
    if recorded is None:
        if not candidates:
            return None
        raise ArtifactError(
            f"{str(onnx)!r} records no source checkpoint, so {str(candidates[0])!r} cannot be "
            "trusted to be its reference; pass one with --reference Y.pt"
        )
    for path in candidates:
        if file_sha256(path) == recorded:
            return path
    if candidates:
        raise ArtifactError(
            f"no checkpoint beside {str(onnx)!r} matches the sha256 it records "
            f"({recorded[:12]}...; checked {', '.join(p.name for p in candidates[:4])}"
            f"{_cut(found, candidates)}); pass the one it was exported from with --reference Y.pt"
        )
    return None


def _find_onnx_for(checkpoint: Path) -> Path | None:
    sha = file_sha256(checkpoint)
    for path in sorted(checkpoint.parent.glob("*.onnx"))[: LIMITS.max_pair_candidates]:
        if recorded_sha256(path) == sha:
            return path
    return None


def _cut(found: list[Path], checked: list[Path]) -> str:
    if len(found) == len(checked):
        return ""
    return (
        f"; only the first {len(checked):,} of {len(found):,} by name (limit max_pair_candidates)"
    )
