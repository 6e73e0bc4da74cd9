"""``ov-cpu``: the exported ONNX file in OpenVINO on the CPU (optional extra ``[openvino]``).

OpenVINO reads the export with its dynamic batch. On a CPU with AVX512-BF16 or AMX it computes
in bf16 unless told otherwise, which moves logits by ~1e-2 and flips a few top-1 answers on
ambiguous inputs; so this runtime asks for f32 by default and offers ``precision="bf16"`` as an
explicit option, which ``verify`` then judges by the bf16 policy (``lenet_deploy.verify.compare``).
openvino is imported when the runtime is created or probed.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..artifacts.layout import (
    ArtifactKind,
    check_lenet_signature,
    engine_failed,
    resolve,
    unloadable_model,
)
from ..errors import RuntimeUnavailableError, first_line
from .base import CPU_CHUNK, KEEP_INPUT, Runtime
from .options import ThreadOptions
from .registry import RuntimeEntry, register_runtime

INSTALL_FIX = "install the extra: pip install 'lenet-deploy[openvino]'"
_HINT = {"fp32": "f32", "bf16": "bf16"}


@dataclass(frozen=True)
class OpenVinoOptions(ThreadOptions):
    """``precision``: "fp32" (default) or "bf16" (OpenVINO's INFERENCE_PRECISION_HINT);
    ``performance_hint``: "LATENCY" (default) or "THROUGHPUT"; ``threads``: inference threads
    (None: OpenVINO's own)."""

    precision: Literal["fp32", "bf16"] = "fp32"
    performance_hint: Literal["LATENCY", "THROUGHPUT"] = "LATENCY"

    def config(self) -> dict[str, Any]:
        """The OpenVINO compile properties these options stand for."""
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": _HINT[self.precision],
            "PERFORMANCE_HINT": self.performance_hint,
        }
        if self.threads is not None:
            config["INFERENCE_NUM_THREADS"] = self.threads
        return config


def probe() -> str | None:
    if importlib.util.find_spec("openvino") is None:
        return f"OpenVINO is not installed; {INSTALL_FIX}"
    return None


@register_runtime("ov-cpu", options=OpenVinoOptions, probe=probe)
class OpenVinoRuntime(Runtime):
    """OpenVINO on the CPU, f32 and latency hints (bf16 on request)

    One compiled model, and one infer request per thread, on the OpenVINO CPU plugin."""

    chunk_size = CPU_CHUNK

    def __init__(
        self, artifact: str | os.PathLike, options: OpenVinoOptions, entry: RuntimeEntry
    ) -> None:
        reason = probe()
        if reason:
            raise RuntimeUnavailableError(f"{entry.name}: {reason}")
        import openvino as ov

        self.name = entry.name
        self.path = resolve(artifact, ArtifactKind.ONNX)
        core = ov.Core()
        try:
            model = core.read_model(str(self.path))
        except Exception as exc:
            raise unloadable_model(self.name, self.path, first_line(exc)) from None
        _check_signature(model, self.name, self.path)
        self._compiled = core.compile_model(model, "CPU", options.config())
        self._tensor = ov.Tensor
        self._placeholder = ov.Tensor(np.zeros((1, 1, 32, 32), np.float32))
        # An infer request holds its input and output tensors: threads sharing one would read
        # each other's logits, so each thread gets its own.
        self._local = threading.local()
        self._ov_version = ov.__version__
        # What the plugin really computes in: a CPU without bf16 support keeps f32.
        hint = str(self._compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
        self.precision = "bf16" if "bf16" in hint or "bfloat16" in hint else "fp32"
        self._options = options

    def _predict(self, x: np.ndarray) -> np.ndarray:
        try:
            set_input, infer, output = self._local.request
        except AttributeError:
            set_input, infer, output = self._local.request = self._new_request()
        # A tensor sharing the validated batch's memory, set directly: infer(dict) runs
        # OpenVINO's Python data dispatcher and builds a result dict on every call. The output
        # tensor is reused by the next request, so it is copied out.
        try:
            set_input(self._tensor(x, shared_memory=True))
            infer()
        except Exception as exc:  # OpenVINO's own error types: the model failed, not the input
            raise engine_failed(self.name, "OpenVINO", self.path, exc) from None
        out = output(0).data.copy()
        if x.base is not None or len(x) > KEEP_INPUT:
            set_input(self._placeholder)
        return out

    def _new_request(self) -> tuple[Any, Any, Any]:
        request = self._compiled.create_infer_request()
        return request.set_input_tensor, request.infer, request.get_output_tensor

    def info(self) -> dict[str, Any]:
        compiled = self._compiled
        return {
            **super().info(),
            "engine": "openvino",
            "engine_version": self._ov_version,
            "threads": compiled.get_property("INFERENCE_NUM_THREADS"),
            "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
            "inference_precision": str(compiled.get_property("INFERENCE_PRECISION_HINT")),
        }

    def _close(self) -> None:
        del self._local, self._compiled, self._placeholder


def _check_signature(model, name: str, path) -> None:
    """ArtifactError unless the model takes ``image`` [?, 1, 32, 32] and gives float32
    ``logits`` [?, 10] (the check ort-* runtimes make, on OpenVINO's description)."""
    import openvino as ov

    def tensors(ports):
        return [
            (
                frozenset(p.get_names()),
                tuple(str(d) for d in p.get_partial_shape())
                if p.get_partial_shape().rank.is_static
                else (),
                p.get_element_type() == ov.Type.f32,
            )
            for p in ports
        ]

    check_lenet_signature(name, path, tensors(model.inputs), tensors(model.outputs))
