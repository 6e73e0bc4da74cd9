"""One API over every runtime: ``load_runtime(name, artifact, **options) -> Runtime``.

    from lenet_deploy.runtimes import load_runtime

    with load_runtime("ort-cpu", "artifacts") as rt:
        logits = rt.predict(batch)          # float32 (N, 10) for (N, 1, 32, 32) pixels in [0, 1]

Importing this package imports neither torch nor onnxruntime; the ``ort-*`` runtimes never
import torch at all.
"""

from ..artifacts.layout import ArtifactKind
from .base import Runtime, validate_batch
from .registry import (
    BUILTIN_MODULES,
    ENTRY_POINT_GROUP,
    Availability,
    RuntimeEntry,
    available_runtimes,
    get_entry,
    load_runtime,
    register_runtime,
    runtime_names,
    unregister_runtime,
)

__all__ = [
    "BUILTIN_MODULES",
    "ENTRY_POINT_GROUP",
    "ArtifactKind",
    "Availability",
    "Runtime",
    "RuntimeEntry",
    "available_runtimes",
    "get_entry",
    "load_runtime",
    "register_runtime",
    "runtime_names",
    "unregister_runtime",
    "validate_batch",
]
