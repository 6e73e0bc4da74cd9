"""Runtime names -> factories. Built-ins, ``register_runtime`` and installed plug-ins.

A plug-in package exposes a factory in the entry-point group ``lenet_deploy.runtimes``::

    [project.entry-points."lenet_deploy.runtimes"]
    my-engine = "my_pkg.lenet:make_runtime"

The entry point's name is the runtime name; its object is either a ``RuntimeEntry`` or a
factory ``factory(artifact, **options) -> Runtime``. Plug-ins are discovered on first use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..artifacts import DEFAULT_DIR
from ..errors import DuplicateRuntimeError, LenetDeployError, UnknownRuntimeError
from .base import Runtime

ENTRY_POINT_GROUP = "lenet_deploy.runtimes"

Factory = Callable[..., Runtime]
#: Returns None when the runtime can run here, else the reason it cannot (with the fix).
Probe = Callable[[], "str | None"]


@dataclass(frozen=True)
class RuntimeEntry:
    name: str
    factory: Factory
    probe: Probe | None = None
    description: str = ""


@dataclass(frozen=True)
class Availability:
    name: str
    available: bool
    reason: str
    description: str = ""

    def __bool__(self) -> bool:
        return self.available


_REGISTRY: dict[str, RuntimeEntry] = {}
_discovered = False


def register_runtime(
    name: str, factory: Factory, *, probe: Probe | None = None, description: str = ""
) -> RuntimeEntry:
    """Register ``factory(artifact, **options) -> Runtime`` under ``name``.

    ``probe()`` (optional) returns None when the runtime can run here, or the reason it cannot.
    A name that is already registered raises DuplicateRuntimeError.
    """
    if not isinstance(name, str) or not name.strip():
        raise LenetDeployError(f"runtime name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise LenetDeployError(f"runtime {name!r}: factory must be callable, got {factory!r}")
    if name in _entries():
        raise DuplicateRuntimeError(
            f"runtime {name!r} is already registered "
            f"({_REGISTRY[name].description or 'no description'}); choose another name"
        )
    entry = RuntimeEntry(name, factory, probe, description)
    _REGISTRY[name] = entry
    return entry


def unregister_runtime(name: str) -> None:
    """Remove a runtime (for apps and tests that register temporary ones)."""
    _entries()
    _REGISTRY.pop(name, None)


def runtime_names() -> list[str]:
    return list(_entries())


def get_entry(name: str) -> RuntimeEntry:
    entries = _entries()
    if name not in entries:
        raise UnknownRuntimeError(
            f"unknown runtime {name!r}; known runtimes: {', '.join(entries) or 'none'}"
        )
    return entries[name]


def load_runtime(name: str, artifact: str | os.PathLike = DEFAULT_DIR, **options: Any) -> Runtime:
    """Load the model in ``artifact`` (artifacts directory, or the runtime's own file) on ``name``.

    Raises UnknownRuntimeError (listing the known names), RuntimeUnavailableError (with the
    reason and the fix) or ArtifactError/CheckpointError for a missing or unreadable model.
    """
    runtime = get_entry(name).factory(artifact, **options)
    if not isinstance(runtime, Runtime):
        raise LenetDeployError(
            f"runtime {name!r}: factory returned {type(runtime).__name__}, not a Runtime"
        )
    return runtime


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
        _discovered = True
        from . import ort, pytorch, remote

        for module in (pytorch, ort, remote):
            for entry in module.ENTRIES:
                if entry.name not in _REGISTRY:
                    _REGISTRY[entry.name] = entry
        _discover_plugins()
    return _REGISTRY


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
            register_runtime(ep.name, obj.factory, probe=obj.probe, description=obj.description)
        else:
            register_runtime(ep.name, obj, description=f"plug-in {ep.value}")


def _broken(name: str, exc: Exception) -> Factory:
    def factory(*_a: Any, **_k: Any) -> Runtime:
        from ..errors import RuntimeUnavailableError

        raise RuntimeUnavailableError(f"{name}: plug-in failed to import ({exc})")

    return factory
