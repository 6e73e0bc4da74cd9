"""Make the precision variants of an export (``variants.py`` says where they live).

* int8: static QDQ with onnxruntime's quantizer (``quant_pre_process``, then
  ``quantize_static``: per-channel int8 weights, uint8 activations, MinMax calibration on
  ``calibration_size`` images drawn with a fixed seed from the model's *training* split; never
  the test split, which judges it);
* fp16: ``onnxruntime.transformers.float16.convert_float_to_float16`` (the ONNX ecosystem's
  converter, shipped inside onnxruntime) with float32 input and output kept;
* bf16: nothing to convert; OpenVINO computes ``lenet.onnx`` in bf16 under its precision hint,
  so a descriptor records that and the gate's figures.

Each variant is run by the engines that compute it and judged against ``lenet.onnx`` on
onnxruntime by ``verify.compare`` under its precision's policy (accuracy within 0.2 points,
top-1 agreement >= 99.5%, on the held-out split and the edge inputs ``verify`` uses). A variant
that fails is not written; the refusal carries the figures.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts.atomic import atomic_write_bytes, atomic_write_text
from ..artifacts.layout import file_sha256, resolve
from ..errors import ExportError, LenetDeployError, first_line
from .variants import ENGINES, SOURCE_SHA_KEY, VARIANT_PRECISIONS, variant_path

DEFAULT_CALIBRATION_SIZE = 500
CALIBRATION_SEED = 0
_METHOD = {
    "int8": "onnxruntime.quantization.quantize_static: QDQ, per-channel int8 weights, uint8 "
    "activations, MinMax calibration (after quant_pre_process)",
    "fp16": "onnxruntime.transformers.float16.convert_float_to_float16 (float32 input/output)",
    "bf16": "OpenVINO INFERENCE_PRECISION_HINT=bf16 on lenet.onnx (no new file)",
}


@dataclass(frozen=True)
class VariantReport:
    """One variant: written (``path``) or refused (``failures``); truthy when written."""

    precision: str
    path: Path | None
    gated_on: tuple[str, ...]
    accuracy: float | None
    fp32_accuracy: float | None
    top1_agreement: float | None
    failures: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.path is not None

    def describe(self) -> str:
        figures = (
            f"accuracy {self.accuracy:.2%} vs fp32 {self.fp32_accuracy:.2%}, top-1 agreement "
            f"{self.top1_agreement:.2%}"
            if self.accuracy is not None
            else "not measured"
        )
        where = f" on {', '.join(self.gated_on)}" if self.gated_on else ""
        if self:
            return f"wrote {self.path} ({self.precision}{where}: {figures})"
        return f"{self.precision} not written ({figures}{where}): {'; '.join(self.failures)}"


def make_variants(
    onnx_path: str | os.PathLike,
    precisions: Sequence[str] = VARIANT_PRECISIONS,
    *,
    calibration_size: int = DEFAULT_CALIBRATION_SIZE,
    log: Callable[[str], None] | None = None,
) -> list[VariantReport]:
    """Make, gate and write each of ``precisions`` beside the fp32 export ``onnx_path``.

    Returns one report per precision (refused ones included); raises ExportError only when
    nothing can be judged (an unknown precision, no usable fp32 export or dataset).
    """
    from ..artifacts.pairing import read_metadata
    from ..runtimes import load_runtime
    from ..verify.parity import dataset_for, parity_inputs

    say = log or (lambda _m: None)
    unknown = [p for p in precisions if p not in VARIANT_PRECISIONS]
    if unknown:
        known = ", ".join(VARIANT_PRECISIONS)
        raise ExportError(f"unknown precision {unknown[0]!r}; variants: {known}")
    if not 1 <= calibration_size <= 100_000:
        raise ExportError(f"calibration size must be 1..100000 images, got {calibration_size}")
    base = resolve(onnx_path, "onnx")
    base_meta = read_metadata(base)
    ds = dataset_for(base_meta.get("dataset"), say)
    inputs = parity_inputs(ds.x_test, ds.y_test)
    with load_runtime("ort-cpu", base) as ref:
        want = {s.name: ref.predict(s.x) for s in inputs}
    context = {
        "base": base,
        "meta": base_meta,
        "sha": file_sha256(base),
        "dataset": ds,
        "inputs": inputs,
        "want": want,
        "calibration_size": min(calibration_size, len(ds.x_train)),
    }
    reports = []
    for precision in precisions:
        say(f"{precision}: making and gating the variant")
        try:
            report = _make_one(precision, context, say)
        except LenetDeployError as exc:
            report = VariantReport(precision, None, (), None, None, None, (first_line(exc),))
        reports.append(report)
    return reports


def calibration_images(x_train: np.ndarray, size: int) -> np.ndarray:
    """``size`` training images drawn without replacement with ``CALIBRATION_SEED``."""
    rng = np.random.default_rng(CALIBRATION_SEED)
    pick = np.sort(rng.choice(len(x_train), size=min(size, len(x_train)), replace=False))
    return np.ascontiguousarray(x_train[pick], dtype=np.float32)


def _make_one(precision: str, ctx: dict[str, Any], say) -> VariantReport:
    from .metadata import attach_metadata

    meta = {**ctx["meta"], "precision": precision, "variant_method": _METHOD[precision],
            "variant_of": ctx["base"].name, SOURCE_SHA_KEY: ctx["sha"]}  # fmt: skip
    if precision == "int8":
        meta.update(
            calibration=f"{ctx['dataset'].name} training split, {ctx['calibration_size']} "
            f"images drawn with seed {CALIBRATION_SEED}",
            calibration_size=str(ctx["calibration_size"]),
        )
    else:
        meta.update(calibration="none", calibration_size="0")
    with tempfile.TemporaryDirectory(prefix="lenet-variant-") as tmp:
        if precision == "bf16":
            candidate = ctx["base"]
        else:
            proto = _int8(ctx, Path(tmp)) if precision == "int8" else _fp16(ctx["base"])
            attach_metadata(proto, {k: str(v) for k, v in meta.items()})
            candidate = Path(tmp) / f"candidate.{precision}.onnx"
            candidate.write_bytes(proto.SerializeToString())
        engines, comparison = _gate(precision, candidate, ctx, say)
        fp32_acc, acc = comparison.reference_accuracy, comparison.accuracy
        figures = {
            "heldout_accuracy": f"{acc:.6f}",
            "fp32_heldout_accuracy": f"{fp32_acc:.6f}",
            "accuracy_delta_pp": f"{(acc - fp32_acc) * 100:+.2f}",
            "top1_agreement": f"{comparison.top1_agreement:.6f}",
            "gated_on": ", ".join(engines),
            "gate_images": str(comparison.images),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        figures_of = (engines, acc, fp32_acc, comparison.top1_agreement)
        if not comparison:
            return VariantReport(precision, None, *figures_of, tuple(comparison.failures))
        target = variant_path(ctx["base"].parent, precision)
        meta.update(figures)
        if precision == "bf16":
            atomic_write_text(target, json.dumps(meta, indent=2) + "\n")
        else:
            attach_metadata(proto, {k: str(v) for k, v in meta.items()})
            atomic_write_bytes(target, proto.SerializeToString())
    return VariantReport(precision, target, *figures_of)


def _gate(precision: str, candidate: Path, ctx: dict[str, Any], say):
    """Run ``candidate`` on every engine of ``precision`` that runs here; the comparison of the
    worst one (all must pass). The fp16 file, for GPUs, is gated on ort-cpu without a GPU."""
    from ..runtimes import available_runtimes, get_entry
    from ..verify.compare import compare, tolerance_for

    usable = {a.name for a in available_runtimes() if a}
    engines = [(n, o) for n, o in ENGINES[precision] if n in usable]
    if precision == "fp16" and not engines:
        engines = [("ort-cpu", {})]
    if not engines:
        names = ", ".join(n for n, _ in ENGINES[precision])
        raise LenetDeployError(f"no engine that computes {precision} can run here ({names})")
    labels = {s.name: s.labels for s in ctx["inputs"] if s.labels is not None}
    tolerance = tolerance_for(precision)
    results, names = [], []
    for name, options in engines:
        with get_entry(name).create(candidate, options) as runtime:
            if runtime.precision != precision:
                raise LenetDeployError(
                    f"{name} computes this model in {runtime.precision}, not {precision}, on "
                    "this machine (bf16 needs a CPU with AVX512-BF16 or AMX)"
                )
            got = {s.name: runtime.predict(s.x) for s in ctx["inputs"]}
        results.append(compare(got, ctx["want"], tolerance, labels=labels))
        names.append(f"{name}{''.join(f' {k}={v}' for k, v in options.items())}")
        say(f"  {names[-1]}: {'pass' if results[-1] else 'FAIL'}")
    failed = [r for r in results if not r]
    worst = failed[0] if failed else min(results, key=lambda r: (r.accuracy or 0, r.top1_agreement))
    return tuple(names), worst


def _int8(ctx: dict[str, Any], tmp: Path):
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ..spec import INPUT_NAME

    images = calibration_images(ctx["dataset"].x_train, ctx["calibration_size"])

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(images[i : i + 100] for i in range(0, len(images), 100))

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    pre, out = tmp / "pre.onnx", tmp / "int8.onnx"
    with _quiet():
        quant_pre_process(str(ctx["base"]), str(pre))
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    return onnx.load(str(out))


def _fp16(base: Path):
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with _quiet():
        return convert_float_to_float16(onnx.load(str(base)), keep_io_types=True)


@contextlib.contextmanager
def _quiet():
    """The quantizer logs advice at WARNING level on every call; only errors are shown."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
