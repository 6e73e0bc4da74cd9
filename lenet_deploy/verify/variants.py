"""``verify`` over the precision variants beside ``lenet.onnx``: each is run by the engines
that compute it and judged by its precision's policy (``compare.POLICY``), labelled
``RUNTIME [PRECISION]``. A stale variant (made from another ``lenet.onnx``) or one whose
engine cannot run here is reported as skipped with the reason, never compared as current."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import ArtifactError, RuntimeUnavailableError


def variant_parity(
    directory: Path,
    runtimes: Sequence[str] | None,
    reference: str,
    inputs,
    want,
    atol: float | None,
    rtol: float | None,
    say: Callable[[str], None],
) -> list:
    """A ``RuntimeParity`` per (variant, engine); ``runtimes`` (None: all) limits the engines."""
    from ..exporters.variants import list_variants
    from ..runtimes import get_entry
    from .parity import RuntimeParity, Status, judge

    results = []
    try:
        variants = list_variants(directory)
    except ArtifactError as exc:  # a damaged variant file fails verify, with the reason
        return [RuntimeParity("variants", reference, Status.FAILED, reason=str(exc))]
    for variant in variants:
        for name, options in variant.engines:
            if runtimes is not None and name not in runtimes:
                continue
            label = f"{name} [{variant.precision}]"
            if variant.stale:
                reason = f"{variant.path.name}: {variant.stale}"
                results.append(RuntimeParity(label, reference, Status.SKIPPED, reason=reason))
                continue
            try:
                runtime = get_entry(name).create(variant.model, options)
            except RuntimeUnavailableError as exc:
                say(f"{label}: skipped, cannot run here (reason in the report)")
                results.append(RuntimeParity(label, reference, Status.SKIPPED, reason=str(exc)))
                continue
            with runtime:
                results.append(judge(runtime, label, reference, inputs, want, atol, rtol, say))
    return results
