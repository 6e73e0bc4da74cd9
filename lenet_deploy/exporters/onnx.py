"""Export a trained LeNet to one self-contained ONNX file, gated by checker, shapes and parity.

The file is written only after every gate passes (temp file, then rename), so an existing good
model is never replaced by a bad one:

1. ``onnx.checker.check_model(full_check=True)``
2. shape inference gives ``logits`` = [batch, 10] with a symbolic batch dimension
3. onnxruntime (CPU) matches the torch model on real test images at batch sizes 1, 3, 7 and
   1000, judged by ``lenet_deploy.verify.compare`` under the fp32 policy (elementwise atol/rtol,
   identical top-1, no NaN/inf).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._optional import require
from ..artifacts.atomic import atomic_write_bytes, check_outputs, ensure_writable_dir
from ..artifacts.pairing import read_metadata
from ..errors import ExportError, first_line
from ..spec import INPUT_NAME, OUTPUT_NAME
from .gates import Gate, run_gates
from .metadata import attach_metadata, build_metadata

__all__ = ["ExportReport", "Gate", "export_onnx", "read_metadata", "run_gates"]

EXPORTERS = ("dynamo", "torchscript")
#: Supported opsets per exporter (inclusive). The dynamo exporter emits opset >= 18 only.
OPSET_RANGE = {"dynamo": (18, 23), "torchscript": (7, 20)}
DEFAULT_OPSET = 20
EXAMPLE_BATCH = 2  # >= 2 so the exporter keeps the batch dimension symbolic


@dataclass
class ExportReport:
    """What ``export_onnx`` did; truthy when every gate passed and the file was written."""

    path: Path | None
    exporter: str
    opset: int
    gates: list[Gate] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    export_seconds: float = 0.0
    total_seconds: float = 0.0
    size_bytes: int = 0

    @property
    def failures(self) -> list[str]:
        return [f"{g.name}: {g.detail}" for g in self.gates if not g.passed]

    def __bool__(self) -> bool:
        return bool(self.gates) and all(self.gates) and self.path is not None


def export_onnx(
    model_or_checkpoint: Any,
    path: str | os.PathLike,
    *,
    opset: int | None = None,
    exporter: str = "dynamo",
    verbose: bool = False,
    log: Callable[[str], None] | None = None,
    parity_images: np.ndarray | None = None,
    mean: float | None = None,
    std: float | None = None,
) -> ExportReport:
    """Export a LeNet (module, or checkpoint path) to ``path``; raise ExportError if a gate fails.

    ``opset`` defaults to ``DEFAULT_OPSET`` (20). ``exporter`` is ``"dynamo"`` (default) or
    ``"torchscript"``. ``log`` receives one line per stage; with ``verbose`` the exporter's own
    output is shown too. ``parity_images`` defaults to the default dataset's test split.
    ``mean``/``std`` bake a training ``Normalize(mean, std)`` into the graph, for a plain
    state_dict that records none (a lenet-deploy checkpoint carries its own).
    """
    say = log or (lambda _msg: None)
    start = time.perf_counter()
    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; use one of {', '.join(EXPORTERS)}")
    opset = DEFAULT_OPSET if opset is None else int(opset)
    low, high = OPSET_RANGE[exporter]
    if not low <= opset <= high:
        raise ExportError(
            f"opset {opset} is not supported by the {exporter} exporter; use --opset {low}..{high}"
        )
    target = Path(path)
    if target.is_dir():
        raise ExportError(f"output {str(target)!r} is a directory; pass a file path ending .onnx")
    ensure_writable_dir(target.parent)
    require("torch", "train", "ONNX export")
    if exporter == "dynamo":
        require("onnxscript", "train", "the dynamo exporter")
    source = model_or_checkpoint if isinstance(model_or_checkpoint, (str, os.PathLike)) else None
    check_outputs([(target, "onnx")], [source] if source else [])

    model, source_meta = _resolve_model(model_or_checkpoint)
    model = _with_normalization(model, source_meta, mean, std)
    t0 = time.perf_counter()
    proto = _export_proto(model, opset, exporter, verbose)
    export_seconds = time.perf_counter() - t0
    say(f"exported with the {exporter} exporter, opset {opset} ({export_seconds:.1f} s)")

    metadata = build_metadata(source_meta, float(model.mean), float(model.std), exporter, opset)
    attach_metadata(proto, metadata)
    if parity_images is None:
        from ..data.datasets import load_dataset

        parity_images = load_dataset().x_test
    gates = run_gates(proto, model, parity_images, log=say)
    report = ExportReport(None, exporter, opset, gates, metadata, export_seconds)
    if not all(gates):
        failed = [g.name for g in gates if not g]
        # the details are in .failures (the CLI prints one line each), not repeated here
        raise ExportError(
            f"exported model failed {len(failed)} of {len(gates)} gates ({', '.join(failed)}); "
            f"{str(target)!r} was not written",
            report.failures,
        )
    data = proto.SerializeToString()
    atomic_write_bytes(target, data)
    report.path, report.size_bytes = target, len(data)
    report.total_seconds = time.perf_counter() - start
    say(f"wrote {target} ({len(data) / 1024:.0f} KiB) in {report.total_seconds:.1f} s")
    return report


def _resolve_model(obj: Any):
    import torch

    from ..model.lenet import DeployableLeNet, LeNet, load_checkpoint
    from ..model.sanity import check_state_finite

    if isinstance(obj, LeNet):
        obj = DeployableLeNet(obj)
    if isinstance(obj, DeployableLeNet):
        check_state_finite(obj.state_dict(), "the model")  # also mean/std buffers
        if not float(obj.std) > 0:
            raise ExportError(f"the model's normalisation std is {float(obj.std)}; must be > 0")
        return obj.eval(), {"source": "in-memory model"}
    if isinstance(obj, torch.nn.Module):
        raise ExportError(f"expected a LeNet, got {type(obj).__name__}")
    model, meta = load_checkpoint(obj)
    meta["source"] = str(obj)
    return model, meta


def _with_normalization(model, source_meta: dict, mean: float | None, std: float | None):
    """The model with ``Normalize(mean, std)`` in front, when the user supplies one."""
    if mean is None and std is None:
        return model
    if mean is None or std is None:
        raise ExportError("give --mean and --std together (the Normalize you trained with)")
    if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
        raise ExportError(f"--std must be a positive number and --mean finite; got {mean}, {std}")
    if (float(model.mean), float(model.std)) != (0.0, 1.0):
        raise ExportError(
            f"{source_meta.get('source', 'the model')} already normalises its input "
            f"((x - {float(model.mean):.6g}) / {float(model.std):.6g}); --mean/--std would "
            "apply a second normalisation: leave them out"
        )
    from ..model.lenet import DeployableLeNet

    return DeployableLeNet(model.net, mean, std).eval()


@contextlib.contextmanager
def _quiet(verbose: bool):
    """Hide the exporter's progress chatter, warnings and log lines unless ``verbose``."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    sink = io.StringIO()
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with (
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _export_proto(model, opset: int, exporter: str, verbose: bool):
    import onnx
    import torch

    example = (torch.rand(EXAMPLE_BATCH, 1, 32, 32),)
    common = {
        "opset_version": opset,
        "input_names": [INPUT_NAME],
        "output_names": [OUTPUT_NAME],
        "verbose": verbose,
    }
    try:
        with _quiet(verbose), torch.no_grad():
            if exporter == "dynamo":
                batch = {"x": {0: torch.export.Dim("batch")}}
                program = torch.onnx.export(
                    model,
                    example,
                    None,
                    dynamo=True,
                    dynamic_shapes=batch,
                    external_data=False,
                    **common,
                )
                proto = program.model_proto
            else:
                buf = io.BytesIO()
                batch = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
                torch.onnx.export(model, example, buf, dynamo=False, dynamic_axes=batch, **common)
                proto = onnx.load_from_string(buf.getvalue())
    except Exception as exc:
        raise ExportError(f"the {exporter} exporter failed: {first_line(exc)}") from exc
    got = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if got != opset:
        raise ExportError(f"asked the {exporter} exporter for opset {opset} but it wrote {got}")
    return proto
