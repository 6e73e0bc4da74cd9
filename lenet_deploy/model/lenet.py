"""LeNet exactly as the classic PyTorch tutorial defines it, plus the deployable wrapper.

``LeNet`` keeps the tutorial's layer names (conv1, conv2, fc1, fc2, fc3), so a state_dict saved
from the tutorial's ``Net`` loads into it unchanged. ``DeployableLeNet`` carries the training
normalisation as fixed buffers so that exported graphs and every runtime take raw [0, 1] pixels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._optional import require
from ..artifacts.layout import file_sha256
from ..data.bounded import check_checkpoint_archive
from ..errors import CheckpointError, first_line
from .sanity import check_normalization, check_state_finite

torch = require("torch", "train", "the PyTorch model (train, export, torch-* runtimes)")
import torch.nn.functional as F  # noqa: E402 - after the check that names the extra
from torch import nn  # noqa: E402

CHECKPOINT_FORMAT = "lenet-deploy/1"
_WRAPPER_KEYS = ("model_state_dict", "state_dict", "model")
NO_NORMALIZATION = (
    "none: a plain state_dict records no normalisation, so pixels in [0,1] go in unchanged; "
    "if the model was trained with Normalize(mean, std), export with --mean/--std"
)
NUM_PARAMETERS = 61_706


class LeNet(nn.Module):
    """The tutorial network: conv(1->6, 5x5) - pool - conv(6->16, 5x5) - pool - fc 400-120-84-10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class DeployableLeNet(nn.Module):
    """LeNet behind its input normalisation: ``forward`` takes raw pixels in [0, 1]."""

    def __init__(self, net: LeNet | None = None, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        self.net = net if net is not None else LeNet()
        # Buffers, not parameters: they travel with state_dict and into the ONNX graph but are
        # never trained, and they do not change the parameter count.
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def import_tutorial_weights(
    state_dict: Mapping[str, torch.Tensor], mean: float = 0.0, std: float = 1.0
) -> DeployableLeNet:
    """Build a deployable model from a state_dict saved from the tutorial's ``Net``."""
    net = LeNet()
    _load_strict(net, state_dict, "tutorial state_dict")
    return DeployableLeNet(net, mean, std)


def make_checkpoint(model: DeployableLeNet, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The on-disk checkpoint: plain tensors and primitives only, loadable with weights_only."""
    return {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.net.state_dict().items()},
        "normalization": {"mean": float(model.mean), "std": float(model.std)},
        "metadata": dict(metadata),
    }


def load_checkpoint(path: str | os.PathLike) -> tuple[DeployableLeNet, dict[str, Any]]:
    """Load a checkpoint written by ``lenet-deploy train``; returns (model in eval mode, metadata).

    Uses ``torch.load(weights_only=True)``: pickled code is refused, never executed.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {str(path)!r} not found; train one with 'lenet-deploy train' "
            "or pass --checkpoint PATH"
        )
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a directory; pass the .pt file")
    check_checkpoint_archive(path, CheckpointError)  # FIFOs, zip bombs: refused before torch
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for garbage; all mean the same here
        raise CheckpointError(_load_failure(path, exc)) from None
    if isinstance(blob, Mapping) and blob.get("format") == CHECKPOINT_FORMAT:
        state_dict = blob.get("state_dict")
        norm = blob.get("normalization", {})
        metadata = dict(blob.get("metadata") or {})
    else:
        state_dict, recipe = _plain_state_dict(blob, path)
        # Nothing in a plain state_dict says how its pixels were normalised: the model gets
        # none, and the metadata says so rather than guessing.
        norm = {}
        metadata = {
            "source": f"plain PyTorch state_dict ({recipe})",
            "normalization": NO_NORMALIZATION,
        }
    net = LeNet()
    _load_strict(net, state_dict, repr(str(path)))
    check_state_finite(state_dict, repr(str(path)))
    model = DeployableLeNet(net, *check_normalization(norm, repr(str(path)))).eval()
    metadata.setdefault("checkpoint_sha256", file_sha256(path))
    return model, metadata


def _load_strict(net: LeNet, state_dict: Any, what: str) -> None:
    if not isinstance(state_dict, Mapping):
        raise CheckpointError(f"{what} has no state_dict; it is not a LeNet checkpoint")
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = [
        f"{k} {tuple(getattr(state_dict[k], 'shape', ()))} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict
        and (not isinstance(state_dict[k], torch.Tensor) or state_dict[k].shape != v.shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing[:4]))
        if unexpected:
            parts.append("unexpected " + ", ".join(unexpected[:4]))
        if wrong:
            parts.append("wrong shapes " + "; ".join(wrong[:3]))
        raise CheckpointError(
            f"{what} is not a LeNet of the tutorial architecture ({'; '.join(parts)}); "
            "pass a checkpoint written by 'lenet-deploy train'"
        )
    net.load_state_dict({k: v.float() for k, v in state_dict.items()})


def _load_failure(path: Path, exc: Exception) -> str:
    """One line from torch.load's (multi-paragraph) error, with the fix."""
    name = repr(str(path))
    for line in str(exc).splitlines():
        if "WeightsUnpickler error:" in line:
            detail = line.split("WeightsUnpickler error:", 1)[1].strip().split(". ")[0]
            if "Unsupported global" in detail:
                return (
                    f"{name} holds pickled Python objects ({detail[:120]}), e.g. a whole model "
                    "saved with torch.save(model); they are never unpickled here. Save the "
                    "weights instead: torch.save(model.state_dict(), PATH)"
                )
            reason = f"refused by weights_only loading: {detail[:140]}"
            break
    else:
        reason = first_line(exc, 160)
    return (
        f"{name} is not a loadable checkpoint ({reason}); "
        "pass a .pt file written by 'lenet-deploy train' or torch.save(model.state_dict(), PATH)"
    )


def _plain_state_dict(blob: Any, path: Path) -> tuple[Mapping[str, torch.Tensor], str]:
    """The common PyTorch recipes: a bare state_dict, {"model_state_dict": ...} or
    {"state_dict": ...} training checkpoints, and DataParallel's ``module.`` prefix."""
    recipe = "bare state_dict"
    if isinstance(blob, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(blob.get(key), Mapping):
                blob, recipe = blob[key], f"the {key!r} entry of a training checkpoint"
                break
    tensors = isinstance(blob, Mapping) and all(isinstance(v, torch.Tensor) for v in blob.values())
    if not (blob and tensors):
        keys = ", ".join(sorted(map(str, blob))[:5]) if isinstance(blob, Mapping) else ""
        raise CheckpointError(
            f"{str(path)!r} is not a LeNet checkpoint ({type(blob).__name__}"
            f"{' with keys ' + keys if keys else ''}); pass a .pt written by 'lenet-deploy "
            "train', a state_dict (torch.save(model.state_dict(), PATH)) or a dict holding "
            "one under 'model_state_dict'"
        )
    if all(str(k).startswith("module.") for k in blob):
        blob = {str(k)[len("module.") :]: v for k, v in blob.items()}
        recipe += ", DataParallel 'module.' prefix removed"
    return blob, recipe
