"""``lenet-deploy package``: a deployment folder for Triton (and KServe), written atomically.

The model is written for one Triton release (``triton_version``, default 23.05: KServe's
Triton): taken down to the IR version and opset that release's onnxruntime loads
(convert.py), checked for parity against the export in this onnxruntime, and -- with
``check`` -- run in the target's own onnxruntime wheel from side environments
(engine_check.py). config.pbtxt, the manifests and the package JSON record the target.

Everything is written into a staging directory beside ``out`` and renamed into place only
after the Triton config has been validated and the model copy checked, so a failed run leaves
an earlier package as it was. ``out`` may not contain the input model (replacing it would
delete the model being packaged).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..artifacts.atomic import atomic_directory
from ..artifacts.layout import file_sha256
from ..errors import PackageError
from ..integrations.ray_settings import RAY_VERSION, RaySettings
from . import engine_check, triton
from .convert import Conversion, convert_for
from .kserve import KServeSettings, write_manifests
from .ray import write_ray
from .targets import DEFAULT_TRITON, TritonRelease, triton_release

FORMATS = ("triton", "kserve", "ray")
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
    source_sha256: str = ""
    target: dict = field(default_factory=dict)
    conversion: dict = field(default_factory=dict)
    parity: dict = field(default_factory=dict)
    engine_checks: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "out": str(self.out),
            "model_source": str(self.model_source),
            "source_sha256": self.source_sha256,
            "model_sha256": self.model_sha256,
            "target": self.target,
            "conversion": self.conversion,
            "parity": self.parity,
            "engine_checks": list(self.engine_checks),
            "files": list(self.files),
            "settings": self.settings,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class PreparedModel:
    """The model file to package for one release, and how it was checked."""

    path: Path
    sha256: str
    conversion: Conversion
    parity: dict
    engine_checks: tuple[dict, ...]


def prepare_model(
    source: Path, release: TritonRelease, work: Path, check: tuple[str, ...] = ()
) -> PreparedModel:
    """Write ``source`` as ``release`` loads it into ``work``, check parity with the export
    in this onnxruntime (when converted) and in each ``check`` interpreter's onnxruntime."""
    data, conversion = convert_for(source.read_bytes(), release, str(source))
    path = work / "model.onnx"
    path.write_bytes(data)
    sets = engine_check.parity_sets()
    reference = engine_check.run_local(source, sets)
    parity = {"converted": False}
    if conversion.converted:
        what = f"the model converted for Triton {release.release}"
        comparison = engine_check.check_parity(path, reference, sets, what)
        parity = {
            "converted": True,
            "passed": True,
            "max_abs_diff": max(s.max_abs_diff for s in comparison.sets),
            "images": sum(s.images for s in comparison.sets),
            "tolerance": comparison.tolerance.to_dict(),
        }
    checks = tuple(
        engine_check.check_with_engine(path, reference, sets, python, release).to_dict()
        for python in check
    )
    return PreparedModel(path, file_sha256(path), conversion, parity, checks)


def package(
    model: str | os.PathLike,
    out: str | os.PathLike,
    *,
    format: str = "triton",
    triton_settings: triton.TritonSettings | None = None,
    kserve_settings: KServeSettings | None = None,
    triton_version: str = DEFAULT_TRITON,
    check: tuple[str, ...] = (),
    ray_settings: RaySettings | None = None,
) -> PackageResult:
    """Package the ONNX export behind ``model`` (artifacts directory or .onnx) into ``out``.

    ``format`` "triton": ``out`` is a Triton model repository. "kserve": ``out`` holds that
    repository under ``model_repository/`` plus two InferenceService manifests (needs
    ``kserve_settings`` with a storage URI and an image). The model is written for Triton
    ``triton_version`` (YY.MM, default 23.05); ``check`` lists Python interpreters whose
    onnxruntime (the release's) must load it and agree with the export. "ray": ``out`` holds
    the export and a Ray Serve config for ``ray_settings`` (packaging/ray.py). Raises
    PackageError/ArtifactError with the fix.
    """
    start = time.perf_counter()
    if format not in FORMATS:
        raise PackageError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if format == "kserve" and kserve_settings is None:
        raise PackageError("--format kserve needs --storage-uri (where the repository is uploaded)")
    tset = triton_settings or triton.TritonSettings()
    release = triton_release(triton_version)
    source, source_sha = triton.verified_model(model)
    _refuse_overlap(Path(out), source, Path(model))
    if format == "ray":
        if check:
            raise PackageError(
                "--check runs a Triton release's onnxruntime; --format ray serves the export "
                "in the replicas' own runtime: drop --check"
            )
        return _package_ray(source, source_sha, Path(out), ray_settings or RaySettings(), start)
    settings = {"triton": tset.to_dict()}
    with (
        tempfile.TemporaryDirectory(prefix="lenet-package-") as work,
        atomic_directory(out, marker=triton.MANIFEST_NAME) as stage,
    ):
        prepared = prepare_model(source, release, Path(work), tuple(check))
        conv = prepared.conversion
        notes = (
            f"target tritonserver:{release.image_tag} (onnxruntime {release.onnxruntime}): "
            f"model IR {conv.ir_version} opset {conv.opset}",
            f"exported as IR {conv.source_ir_version} opset {conv.source_opset}, "
            f"sha256 {source_sha}",
        )
        repo = stage if format == "triton" else stage / KSERVE_REPOSITORY
        repo.mkdir(exist_ok=True)
        prefix = "" if format == "triton" else f"{KSERVE_REPOSITORY}/"
        files = [
            prefix + f
            for f in triton.write_repository(repo, prepared.path, prepared.sha256, tset, notes)
        ]
        if format == "kserve":
            files += write_manifests(stage, kserve_settings, tset, release)
            settings["kserve"] = kserve_settings.to_dict()
        result = PackageResult(
            format,
            Path(out),
            source,
            prepared.sha256,
            (*files, triton.MANIFEST_NAME),
            settings,
            source_sha256=source_sha,
            target=release.to_dict(),
            conversion=conv.to_dict(),
            parity=prepared.parity,
            engine_checks=prepared.engine_checks,
        )
        _write_manifest(stage / triton.MANIFEST_NAME, result)
    return PackageResult(**{**result.__dict__, "seconds": time.perf_counter() - start})


def _package_ray(
    source: Path, sha256: str, out: Path, settings: RaySettings, start: float
) -> PackageResult:
    with atomic_directory(out, marker=triton.MANIFEST_NAME) as stage:
        files = write_ray(stage, source, sha256, settings, out)
        result = PackageResult(
            "ray",
            out,
            source,
            sha256,
            (*files, triton.MANIFEST_NAME),
            {"ray": settings.to_dict()},
            source_sha256=sha256,
            target={"engine": "ray serve", "version": RAY_VERSION, "runtime": settings.runtime},
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
