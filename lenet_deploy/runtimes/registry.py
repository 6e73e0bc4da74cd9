"""Runtime names -> entries. Built-ins, ``register_runtime`` and installed plug-ins.

A built-in declares itself once, next to its class::

    @register_runtime("ort-cpu", artifact=ArtifactKind.ONNX, device="cpu", options=OrtCpuOptions)
    class OrtCpuRuntime(OrtRuntime):
        def _predict(self, x): ...

The modules in ``BUILTIN_MODULES`` are imported on first use, which runs those decorators.
A plug-in package exposes a factory in the entry-point group ``lenet_deploy.runtimes``::

    [project.entry-points."lenet_deploy.runtimes"]
    my-engine = "my_pkg.lenet:make_runtime"

The entry point's name is the runtime name; its object is either a ``RuntimeEntry`` or a
factory ``factory(artifact, **options) -> Runtime``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..artifacts.layout import DEFAULT_DIR, ArtifactKind
from ..errors import (
    DuplicateRuntimeError,
    LenetDeployError,
    RuntimeUnavailableError,
    UnknownRuntimeError,
    did_you_mean,
)
from .base import Runtime
from .options import describe, parse_options

ENTRY_POINT_GROUP = "lenet_deploy.runtimes"
#: Modules of this package that hold built-in runtimes, in display order. A new engine family
#: is one module here plus its name in this tuple.
BUILTIN_MODULES = ("pytorch", "ort", "openvino", "remote", "ort_web", "auto")
#: What users type for an engine -> the prefix of its runtime names ("did you mean ...?").
RUNTIME_SYNONYMS = {
    "onnxruntime": "ort", "onnx": "ort", "openvino": "ov", "pytorch": "torch",
    "triton": "oip-http", "kserve": "oip-http", "oip": "oip-http", "http": "oip-http",
}  # fmt: skip

#: Runtimes that serve one of the others (``auto``: the tuned winner, else ort-cpu): left out of
#: "every runtime" in verify and bench, which already cover what they serve; named, they run.
COMPOSITE = frozenset({"auto"})

Factory = Callable[..., Runtime]
#: Returns None when the runtime can run here, else the reason it cannot (with the fix).
Probe = Callable[[], "str | None"]


@dataclass(frozen=True)
class RuntimeEntry:
    """A registered runtime: its name (the only place it is written), what it loads, where it
    runs and which options it takes.

    With ``options`` (a frozen dataclass type) the factory is called as
    ``factory(artifact, options_instance, entry)``; without, as ``factory(artifact, **options)``.
    """

    name: str
    factory: Factory
    probe: Probe | None = None
    description: str = ""
    artifact: ArtifactKind = ArtifactKind.ONNX
    device: str = "cpu"
    options: type | None = None

    def accepts(self, option: str) -> bool:
        return self.options is not None and option in {f.name for f in fields(self.options)}

    def describe_options(self) -> str:
        return describe(self.options) if self.options is not None else "plug-in defined"

    def create(
        self,
        artifact: str | os.PathLike,
        options: Mapping[str, Any] | None = None,
        *,
        from_text: bool = False,
    ) -> Runtime:
        """Load ``artifact`` on this runtime; ``from_text`` converts "key=value" strings."""
        options = dict(options or {})
        if self.options is not None:
            parsed = parse_options(self.name, self.options, options, from_text=from_text)
            runtime = self.factory(artifact, parsed, self)
        else:
            runtime = self.factory(artifact, **options)
        if not isinstance(runtime, Runtime):
            raise LenetDeployError(
                f"runtime {self.name!r}: factory returned {type(runtime).__name__}, not a Runtime"
            )
        runtime.name = self.name
        return runtime


@dataclass(frozen=True)
class Availability:
    """Whether a registered runtime can run here, truthy when it can; ``reason`` is "ok" or
    why not, with the fix."""

    name: str
    available: bool
    reason: str
    description: str = ""

    def __bool__(self) -> bool:
        return self.available

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "available": self.available,
            "reason": self.reason,
            "description": self.description,
        }


_REGISTRY: dict[str, RuntimeEntry] = {}
_discovered = False


def register_runtime(
    name: str,
    factory: Factory | None = None,
    *,
    probe: Probe | None = None,
    description: str | None = None,
    artifact: ArtifactKind | str = ArtifactKind.ONNX,
    device: str = "cpu",
    options: type | None = None,
):
    """Register ``factory`` under ``name``; without ``factory``, a decorator for a class.

    ``probe()`` (optional) returns None when the runtime can run here, or the reason it cannot.
    ``description`` defaults to the first line of a class's own docstring (else empty). A name
    that is already registered raises DuplicateRuntimeError.
    """
    if not isinstance(name, str) or not name.strip():
        raise LenetDeployError(f"runtime name must be a non-empty string, got {name!r}")

    def add(target: Factory) -> Factory:
        if not callable(target):
            raise LenetDeployError(f"runtime {name!r}: factory must be callable, got {target!r}")
        if name in _entries():
            raise DuplicateRuntimeError(
                f"runtime {name!r} is already registered "
                f"({_REGISTRY[name].description or 'no description'}); choose another name"
            )
        kind = ArtifactKind(artifact)
        text = _summary(target) if description is None else description
        _REGISTRY[name] = RuntimeEntry(name, target, probe, text, kind, device, options)
        return target

    if factory is None:
        return add
    add(factory)
    return _REGISTRY[name]


def _summary(target: Factory) -> str:
    """The first line of a class's own docstring (not one it inherits), else ""."""
    doc = vars(target).get("__doc__") if isinstance(target, type) else None
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


def unregister_runtime(name: str) -> None:
    """Remove a runtime (for apps and tests that register temporary ones)."""
    _entries()
    _REGISTRY.pop(name, None)


def runtime_names() -> list[str]:
    return list(_entries())


def get_entry(name: str) -> RuntimeEntry:
    entries = _entries()
    if name not in entries:
        hint = did_you_mean(name, entries, RUNTIME_SYNONYMS)
        raise UnknownRuntimeError(
            f"unknown runtime {name!r}{hint}; known runtimes: {', '.join(entries) or 'none'}"
        )
    return entries[name]


def load_runtime(name: str, artifact: str | os.PathLike = DEFAULT_DIR, **options: Any) -> Runtime:
    """Load the model in ``artifact`` (artifacts directory, the runtime's own file, or a URL for
    a remote runtime) on ``name``.

    Raises UnknownRuntimeError (listing the known names), OptionsError (listing the valid
    options), RuntimeUnavailableError (with the reason and the fix) or ArtifactError /
    CheckpointError for a missing or unreadable model.
    """
    return get_entry(name).create(artifact, options)


def available_runtimes() -> list[Availability]:
    """Every registered runtime with whether it can run here and, if not, why."""
    result = []
    for entry in _entries().values():
        try:
            reason = entry.probe() if entry.probe else None
        except Exception as exc:  # a broken probe means "not available", with its reason
            reason = f"availability check failed: {type(exc).__name__}: {exc}"
        result.append(Availability(entry.name, reason is None, reason or "ok", entry.description))
    return result


def _entries() -> dict[str, RuntimeEntry]:
    global _discovered
    if not _discovered:
        # Set first: importing a built-in runs its decorator, which comes back here.
        _discovered = True
        for module in BUILTIN_MODULES:
            importlib.import_module(f"{__package__}.{module}")
        _discover_plugins()
    return _REGISTRY


#: What ``register_runtime`` takes from a plug-in's ``RuntimeEntry`` besides its factory.
_ENTRY_FIELDS = ("probe", "description", "artifact", "device", "options")


def _discover_plugins() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must not break the built-ins
            reason = f"plug-in failed to import: {type(exc).__name__}: {exc}"
            register_runtime(
                ep.name,
                _broken(ep.name, exc),
                probe=lambda r=reason: r,
                description=f"plug-in {ep.value}",
            )
            continue
        if isinstance(obj, RuntimeEntry):
            # the plug-in's entry as it declared it, under the entry point's name
            kept = {key: getattr(obj, key) for key in _ENTRY_FIELDS}
            register_runtime(ep.name, obj.factory, **kept)
        else:
            register_runtime(ep.name, obj, description=f"plug-in {ep.value}")


def _broken(name: str, exc: Exception) -> Factory:
    def factory(*_a: Any, **_k: Any) -> Runtime:
        raise RuntimeUnavailableError(f"{name}: plug-in failed to import ({exc})")

    return factory
