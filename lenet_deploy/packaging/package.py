"""``lenet-deploy package``: a deployment folder for Triton (and KServe), written atomically.

Everything is written into a staging directory beside ``out`` and renamed into place only
after the Triton config has been validated and the model copy checked, so a failed run leaves
an earlier package as it was. ``out`` may not contain the input model (replacing it would
delete the model being packaged).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..artifacts.atomic import atomic_directory
from ..errors import PackageError
from . import triton
from .kserve import KServeSettings, write_manifests

FORMATS = ("triton", "kserve")
#: Under ``--format kserve`` the Triton repository is this subfolder of ``out``.
KSERVE_REPOSITORY = "model_repository"


@dataclass(frozen=True)
class PackageResult:
    """What ``package`` wrote. ``files`` are relative to ``out``; ``seconds`` is wall time."""

    format: str
    out: Path
    model_source: Path
    model_sha256: str
    files: tuple[str, ...]
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "out": str(self.out),
            "model_source": str(self.model_source),
            "model_sha256": self.model_sha256,
            "files": list(self.files),
            "settings": self.settings,
            "seconds": round(self.seconds, 3),
        }


def package(
    model: str | os.PathLike,
    out: str | os.PathLike,
    *,
    format: str = "triton",
    triton_settings: triton.TritonSettings | None = None,
    kserve_settings: KServeSettings | None = None,
) -> PackageResult:
    """Package the ONNX export behind ``model`` (artifacts directory or .onnx) into ``out``.

    ``format`` "triton": ``out`` is a Triton model repository. "kserve": ``out`` holds that
    repository under ``model_repository/`` plus two InferenceService manifests (needs
    ``kserve_settings`` with a storage URI). Raises PackageError/ArtifactError with the fix.
    """
    start = time.perf_counter()
    if format not in FORMATS:
        raise PackageError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if format == "kserve" and kserve_settings is None:
        raise PackageError("--format kserve needs --storage-uri (where the repository is uploaded)")
    tset = triton_settings or triton.TritonSettings()
    source, sha256 = triton.verified_model(model)
    _refuse_overlap(Path(out), source, Path(model))
    settings = {"triton": tset.to_dict()}
    with atomic_directory(out, marker=triton.MANIFEST_NAME) as stage:
        if format == "triton":
            files = triton.write_repository(stage, source, sha256, tset)
        else:
            repo = stage / KSERVE_REPOSITORY
            repo.mkdir()
            files = [
                f"{KSERVE_REPOSITORY}/{f}"
                for f in triton.write_repository(repo, source, sha256, tset)
            ]
            files += write_manifests(stage, kserve_settings, tset)
            settings["kserve"] = kserve_settings.to_dict()
        result = PackageResult(
            format, Path(out), source, sha256, (*files, triton.MANIFEST_NAME), settings
        )
        _write_manifest(stage / triton.MANIFEST_NAME, result)
    return PackageResult(**{**result.__dict__, "seconds": time.perf_counter() - start})


def _refuse_overlap(out: Path, source: Path, given: Path) -> None:
    target = out.resolve()
    for path in {source.resolve(), given.resolve()}:
        if path == target or target in path.parents:
            raise PackageError(
                f"--out {str(out)!r} contains the input model {str(source)!r}; "
                "packaging would replace it: choose another --out"
            )


def _write_manifest(path: Path, result: PackageResult) -> None:
    from .. import __version__

    record = result.to_dict()
    record.pop("seconds")
    record["lenet_deploy_version"] = __version__
    record["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
