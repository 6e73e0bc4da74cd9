"""The project's small exception tree.

The CLI catches :class:`LenetDeployError`, prints its message on one line and exits non-zero.
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (colour codes removed), or its type name.

    Engines raise multi-paragraph errors; a one-line CLI error quotes only this much.
    """
    text = _ANSI.sub("", str(exc)).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:limit]


def did_you_mean(given: str, known, synonyms: dict[str, str] | None = None) -> str:
    """``" (did you mean 'ort-cpu'?)"`` for a misspelt name, or "" when nothing is close.

    Tried in order: the name with ``_``/spaces as ``-`` and lower-cased (``ort_cpu``), a
    ``synonyms`` entry (``onnxruntime`` -> ``ort``), names that start with it (``ort`` ->
    ``ort-cpu``, the CPU one first), then :func:`difflib.get_close_matches`.
    """
    import difflib

    names = [str(k) for k in known]
    norm = "-".join(str(given).strip().lower().replace("_", "-").split())
    norm = (synonyms or {}).get(norm, norm)
    if norm in names and norm != given:
        found = [norm]
    else:
        found = sorted(
            (n for n in names if n.startswith(norm + "-") or n.startswith(norm + ":")),
            key=lambda n: (not n.endswith("-cpu"), n),
        )
    found = found or difflib.get_close_matches(norm, names, n=2, cutoff=0.6)
    if not found:
        return ""
    return " (did you mean " + " or ".join(repr(n) for n in found[:2]) + "?)"


class LenetDeployError(Exception):
    """Base class: a problem the user can fix; its message says what to do."""


class DataError(LenetDeployError):
    """A dataset is missing, malformed or unknown."""


class CheckpointError(LenetDeployError):
    """A checkpoint is missing, not a checkpoint, or not a LeNet."""


class ArtifactError(LenetDeployError):
    """An output location cannot be written, or a model file cannot be read."""


class ArtifactKindError(ArtifactError):
    """A model argument cannot serve a runtime's kind (a folder given to a URL runtime)."""


class ExportError(LenetDeployError):
    """Export failed, or the exported file failed a gate. ``failures`` lists every failed check."""

    def __init__(self, message: str, failures: list[str] | None = None):
        super().__init__(message)
        self.failures = list(failures or [])


class RuntimeUnavailableError(LenetDeployError):
    """A runtime cannot run here (no GPU, provider failed to load...); the message names the fix."""


class UnknownRuntimeError(LenetDeployError, KeyError):
    """No runtime is registered under that name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class DuplicateRuntimeError(LenetDeployError, ValueError):
    """A runtime name was registered twice."""


class InputError(LenetDeployError, ValueError):
    """A batch given to ``Runtime.predict`` does not match the input contract."""


class ImageError(LenetDeployError):
    """An image file given to ``predict`` cannot be read or is not an image."""


class OptionsError(LenetDeployError, ValueError):
    """A runtime option is unknown or has the wrong type; the message lists the valid ones."""


class MissingDependencyError(LenetDeployError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class PackageError(LenetDeployError):
    """A deployment package (Triton repository, KServe manifests) cannot be built or is invalid."""


class LimitError(LenetDeployError):
    """An input is larger than a documented limit (``limits.LIMITS``), or a setting is out of
    its range."""


class ModelError(LenetDeployError):
    """A model is numerically broken: non-finite weights or outputs, a diverged training run,
    or outputs that are not float32 (N, 10) logits."""


class ParityError(ModelError):
    """A runtime computes something other than its reference (a load-time parity check failed).
    ``comparison`` is the ``verify.compare.Comparison`` with the numbers."""

    def __init__(self, message: str, comparison: object):
        super().__init__(message)
        self.comparison = comparison
