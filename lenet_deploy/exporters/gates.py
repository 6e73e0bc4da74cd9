"""The gates an exported ONNX model must pass before it is written: checker, shapes, parity.

Parity is judged by ``lenet_deploy.verify.compare`` (the same function and policy as ``verify``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .._optional import require
from ..errors import first_line
from ..spec import INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from ..verify.compare import Tolerance, compare, tolerance_for

PARITY_BATCHES = (1, 3, 7, 1000)


@dataclass(frozen=True)
class Gate:
    """One check of an exported file: its name, whether it passed and what it found; truthy
    on pass."""

    name: str
    passed: bool
    detail: str

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


def run_gates(
    proto,
    torch_model,
    images: np.ndarray,
    *,
    batches: Sequence[int] = PARITY_BATCHES,
    tolerance: Tolerance | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Gate]:
    """Run every gate on ``proto`` against ``torch_model``; returns all results (never raises).

    ``tolerance`` defaults to the fp32 policy of ``lenet_deploy.verify.compare``.
    """
    say = log or (lambda _msg: None)
    tolerance = tolerance or tolerance_for("fp32")
    gates = []
    for number, check in enumerate((_gate_checker, _gate_shapes, _gate_parity), start=1):
        try:
            gate = check(
                proto, torch_model=torch_model, images=images, batches=batches, tolerance=tolerance
            )
        except Exception as exc:  # a gate that crashes has failed; report it with the others
            name = check.__name__.removeprefix("_gate_")
            gate = Gate(name, False, f"{type(exc).__name__}: {first_line(exc)}")
        say(f"gate {number}/3 {gate.name}: {'pass' if gate.passed else 'FAIL'} ({gate.detail})")
        gates.append(gate)
    return gates


def _gate_checker(proto, **_) -> Gate:
    import onnx

    onnx.checker.check_model(proto, full_check=True)
    return Gate("checker", True, "onnx.checker full_check")


def _gate_shapes(proto, **_) -> Gate:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    outputs = {o.name: o for o in inferred.graph.output}
    if OUTPUT_NAME not in outputs:
        return Gate("shapes", False, f"no output named {OUTPUT_NAME!r}")
    dims = outputs[OUTPUT_NAME].type.tensor_type.shape.dim
    shape = [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in dims]
    ok = len(dims) == 2 and bool(dims[0].dim_param) and dims[1].dim_value == NUM_CLASSES
    return Gate("shapes", ok, f"{OUTPUT_NAME} = {shape}, expected [batch, {NUM_CLASSES}]")


def _gate_parity(proto, *, torch_model, images, batches, tolerance, **_) -> Gate:
    import onnxruntime as ort

    torch = require("torch", "train", "the export parity gate")

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got, want = {}, {}
    for batch in batches:
        # Real test images, repeated when the split is smaller than the batch.
        x = np.ascontiguousarray(np.resize(images, (batch, *images.shape[1:])), dtype=np.float32)
        got[f"batch {batch}"] = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        with torch.inference_mode():
            want[f"batch {batch}"] = torch_model(torch.from_numpy(x)).numpy()
    result = compare(got, want, tolerance)
    if not result:
        return Gate("parity", False, "; ".join(result.failures))
    batch_list = "/".join(str(b) for b in batches)
    return Gate(
        "parity",
        True,
        f"onnxruntime CPU == torch at batch {batch_list}, max |diff| {result.max_abs_diff:.2g} "
        f"(atol {tolerance.atol:g}, rtol {tolerance.rtol:g})",
    )
