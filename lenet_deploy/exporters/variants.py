"""Precision variants of an export: where they live, what they say about themselves, which
engines compute them. Reading only (``precision.py`` makes them); no engine is imported.

Beside ``lenet.onnx`` (fp32) an artifacts directory may hold:

* ``lenet.int8.onnx``: static QDQ int8 (onnxruntime's quantizer), run by ``ort-cpu`` and
  ``ov-cpu`` (OpenVINO runs the QDQ pattern with int8 kernels);
* ``lenet.fp16.onnx``: float16 weights and compute with float32 input/output, for GPUs
  (``ort-cuda``);
* ``lenet.bf16.json``: no new file; a descriptor saying that OpenVINO computes ``lenet.onnx``
  in bf16 when given ``INFERENCE_PRECISION_HINT=bf16`` (``ov-cpu`` with ``precision=bf16``).

Every variant records (ONNX ``metadata_props``, or the JSON keys) its precision, how it was
made, the calibration data and size, the held-out accuracy, the delta to fp32 and the sha256
of the ``lenet.onnx`` it was made from; a variant whose source no longer matches is stale.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts.layout import ONNX_NAME, file_sha256
from ..errors import ArtifactError

#: Variant precisions in the order they are made and listed.
VARIANT_PRECISIONS = ("int8", "fp16", "bf16")
PRECISIONS = ("fp32", *VARIANT_PRECISIONS)
SOURCE_SHA_KEY = "variant_source_onnx_sha256"
#: The runtimes (and options) that compute each precision; the first is the one a variant's
#: export gate runs on when it can run here.
ENGINES: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "fp32": (
        ("ort-cpu", {}),
        ("ov-cpu", {}),
        ("torch-cpu", {}),
        ("ort-cuda", {}),
        ("torch-cuda", {}),
    ),  # fmt: skip
    "int8": (("ort-cpu", {}), ("ov-cpu", {})),
    "fp16": (("ort-cuda", {}),),
    "bf16": (("ov-cpu", {"precision": "bf16"}),),
}
#: What ``precision`` metadata value means which precision ("float32" is what export writes).
_FROM_METADATA = {"float32": "fp32", "fp32": "fp32", "int8": "int8", "fp16": "fp16"}


def variant_path(directory: str | os.PathLike, precision: str) -> Path:
    """The file of ``precision``'s variant in an artifacts directory (fp32: ``lenet.onnx``)."""
    folder = Path(directory)
    if precision == "fp32":
        return folder / ONNX_NAME
    stem = Path(ONNX_NAME).stem
    suffix = ".json" if precision == "bf16" else ".onnx"  # bf16: a descriptor, no new model
    return folder / f"{stem}.{precision}{suffix}"


def file_precision(metadata: dict[str, str]) -> str:
    """The precision an ONNX file's ``metadata_props`` record (fp32 when they say nothing)."""
    return _FROM_METADATA.get(str(metadata.get("precision", "float32")).lower(), "fp32")


@dataclass(frozen=True)
class Variant:
    """One precision variant found in an artifacts directory.

    ``model`` is the ONNX file a runtime loads (``lenet.onnx`` itself for bf16); ``engines``
    the (runtime, options) pairs that compute it; ``stale`` the reason it no longer belongs to
    ``lenet.onnx`` (None when it does)."""

    precision: str
    path: Path
    model: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    stale: str | None = None

    @property
    def engines(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        return ENGINES[self.precision]

    def summary(self) -> dict[str, Any]:
        """What ``info()`` and reports say about the variant being served."""
        keys = ("variant_method", "calibration", "heldout_accuracy", "accuracy_delta_pp")
        return {
            "precision": self.precision,
            "file": self.path.name,
            **{k: self.metadata[k] for k in keys if k in self.metadata},
        }


def read_descriptor(path: Path) -> dict[str, Any]:
    """The bf16 descriptor's keys; ArtifactError when it is not a descriptor object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {str(path)!r} ({exc}); re-create it with "
                            "'lenet-deploy export --precision bf16'") from None  # fmt: skip
    if not isinstance(data, dict) or data.get("precision") != "bf16":
        raise ArtifactError(f"{str(path)!r} is not a bf16 variant descriptor; re-create it "
                            "with 'lenet-deploy export --precision bf16'")  # fmt: skip
    return data


def load_variant(directory: str | os.PathLike, precision: str) -> Variant:
    """The ``precision`` variant of an artifacts directory; ArtifactError naming the command that
    makes it when it is missing. fp32 is ``lenet.onnx`` itself."""
    from ..artifacts.pairing import read_metadata

    folder = Path(directory)
    path = variant_path(folder, precision)
    if not path.is_file():
        raise ArtifactError(
            f"{str(path)!r} not found; make it with 'lenet-deploy export --precision {precision}'"
        )
    if precision == "fp32":
        return Variant("fp32", path, path, read_metadata(path))
    base = folder / ONNX_NAME
    if precision == "bf16":
        meta, model = read_descriptor(path), base
    else:
        try:
            meta = read_metadata(path)
        except Exception as exc:  # onnx's decode errors: the file is damaged
            raise ArtifactError(f"{str(path)!r} is not a loadable ONNX model ({exc})") from None
        model = path
    return Variant(precision, path, model, meta, _stale(meta, base))


def current_variant(model: str | os.PathLike, precision: str) -> Variant:
    """The ``precision`` variant beside ``model`` (an artifacts directory or its lenet.onnx);
    ArtifactError when it is missing or stale, naming the command that (re-)makes it."""
    folder = Path(model) if Path(model).is_dir() else Path(model).parent
    variant = load_variant(folder, precision)
    if variant.stale:
        raise ArtifactError(f"{variant.path}: {variant.stale}")
    return variant


def list_variants(directory: str | os.PathLike) -> list[Variant]:
    """Every reduced-precision variant present in an artifacts directory, stale ones included."""
    return [
        load_variant(directory, p)
        for p in VARIANT_PRECISIONS
        if variant_path(directory, p).is_file()
    ]


def _stale(meta: dict[str, Any], base: Path) -> str | None:
    recorded = meta.get(SOURCE_SHA_KEY)
    if not base.is_file():
        return f"{base.name} is missing: the variant has no fp32 model to belong to"
    if recorded != file_sha256(base):
        return (
            f"made from another {base.name} (sha256 differs): re-make it with "
            f"'lenet-deploy export --precision {meta.get('precision', '...')}'"
        )
    return None
