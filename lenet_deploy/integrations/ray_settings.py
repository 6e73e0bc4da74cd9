"""``RaySettings``: what the Ray Serve application is configured with (no Ray imports, so
``package --format ray`` and ``--help`` work without Ray installed)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..artifacts.layout import DEFAULT_DIR
from ..errors import LenetDeployError

#: The Ray Serve release the integration is written and tested against (the [ray] extra).
RAY_VERSION = "2.60"


@dataclass(frozen=True)
class RaySettings:
    """Ray Serve settings. ``model``: artifacts directory or model file; ``runtime``: a
    registered runtime name; ``replicas``: Ray Serve replicas, each loading the runtime with
    ``threads`` intra-op threads and reserving ``num_cpus``; ``max_batch_size``: requests
    ``@serve.batch`` gathers into one runtime call, waiting at most ``batch_wait_timeout_s``
    seconds for them; ``max_ongoing_requests``: per replica, before Ray queues them."""

    model: str = DEFAULT_DIR
    runtime: str = "ort-cpu"
    replicas: int = 1
    threads: int = 1
    num_cpus: float = 1.0
    model_name: str = "lenet"
    model_version: str = "1"
    max_batch_size: int = 64
    batch_wait_timeout_s: float = 0.0005
    max_ongoing_requests: int = 256

    def __post_init__(self) -> None:
        problems = []
        for name in ("replicas", "max_batch_size", "threads", "max_ongoing_requests"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.batch_wait_timeout_s >= 0:
            problems.append(f"batch_wait_timeout_s must be >= 0, got {self.batch_wait_timeout_s}")
        if not self.num_cpus >= 0:
            problems.append(f"num_cpus must be >= 0, got {self.num_cpus}")
        if not self.model_name or not all(c.isalnum() or c in "-_." for c in self.model_name):
            problems.append(f"model_name {self.model_name!r} must be letters, digits, -, _ or .")
        if problems:
            raise LenetDeployError("ray settings: " + "; ".join(problems))

    @classmethod
    def from_args(cls, args: dict) -> RaySettings:
        """Settings from ``serve run``'s ``key=value`` arguments (strings) or a config's
        ``args`` (typed); an unknown key or a value of the wrong type is one clear error."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(args) - set(fields))
        if unknown:
            raise LenetDeployError(
                f"ray settings: unknown {', '.join(unknown)}; known: {', '.join(fields)}"
            )
        kinds = {"int": int, "float": float, "str": str}
        values = {}
        for key, value in args.items():
            kind = kinds[str(fields[key].type)]
            try:
                values[key] = kind(value)
            except (TypeError, ValueError):
                raise LenetDeployError(
                    f"ray settings: {key}={value!r} is not {kind.__name__}"
                ) from None
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
