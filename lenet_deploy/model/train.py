"""The tutorial's training loop made real: zero grads, forward, loss, backward, step.

Deterministic on CPU for a given seed: one ``torch.Generator`` drives initialisation, shuffling
and augmentation, and the intra-op thread count is fixed for the run.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._optional import require
from ..artifacts.atomic import atomic_paths, ensure_writable_dir
from ..artifacts.layout import CHECKPOINT_NAME, METRICS_NAME
from ..artifacts.layout import DEFAULT_DIR as DEFAULT_OUT
from ..data.datasets import Dataset, load_dataset
from ..errors import DataError
from ..images.recipe import RECIPE
from ..limits import check_train_config
from .sanity import check_loss, check_state_finite

torch = require("torch", "train", "training")
import torch.nn.functional as F  # noqa: E402 - after the check that names the extra

from .config import TrainConfig  # noqa: E402 - torch-free, so --help can show its defaults
from .lenet import DeployableLeNet, LeNet, make_checkpoint  # noqa: E402


@dataclass
class TrainResult:
    model: DeployableLeNet
    test_accuracy: float
    train_seconds: float
    history: list[dict] = field(default_factory=list)
    checkpoint_path: Path | None = None
    metrics_path: Path | None = None


def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on preprocessed images ``x`` with labels ``y``."""
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            logits = model(torch.from_numpy(x[start : start + batch_size]))
            correct += int((logits.argmax(1).numpy() == y[start : start + batch_size]).sum())
    return correct / max(len(x), 1)


def _augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Small random affine warps (shift, rotation, scale): digits stay digits."""
    if cfg.max_shift <= 0 and cfg.max_rotation <= 0 and cfg.max_scale <= 0:
        return x
    n = x.shape[0]

    def uniform(bound: float) -> torch.Tensor:
        return (torch.rand(n, generator=gen) * 2 - 1) * bound

    angle = uniform(math.radians(cfg.max_rotation))
    scale = 1 + uniform(cfg.max_scale)
    # affine_grid works in [-1, 1] coordinates: a shift of s pixels is 2*s/size.
    tx, ty = uniform(2 * cfg.max_shift / x.shape[-1]), uniform(2 * cfg.max_shift / x.shape[-2])
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def fit(
    cfg: TrainConfig,
    dataset: Dataset | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train LeNet on ``cfg.data`` (or the given dataset); returns the model and its accuracy.

    ``progress(steps_done, steps_total)`` is called after every optimiser step; ``on_epoch``
    gets ``{"epoch", "loss", "test_accuracy"}`` after every epoch. A non-finite loss (a
    diverged run) raises ModelError.
    """
    check_train_config(cfg)
    ds = dataset if dataset is not None else load_dataset(cfg.data)
    if not len(ds.x_train) or not len(ds.x_test):
        raise DataError(
            f"dataset {ds.name!r} has {len(ds.x_train)} training and {len(ds.x_test)} test "
            "images; both splits need at least one"
        )
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _fit(cfg, ds, progress, on_epoch)
    finally:
        torch.set_num_threads(previous_threads)


def _fit(cfg, ds, progress, on_epoch) -> TrainResult:
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    mean, std = float(ds.x_train.mean()), float(ds.x_train.std())
    net = LeNet()
    model = DeployableLeNet(net, mean, std)
    x_train = torch.from_numpy(ds.x_train)
    y_train = torch.from_numpy(ds.y_train)
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch
    )
    history: list[dict] = []
    total_steps, step = cfg.epochs * steps_per_epoch, 0
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        total_loss, seen = 0.0, 0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            inputs = _augment(x_train[idx], cfg, gen)
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = F.cross_entropy(outputs, y_train[idx], label_smoothing=cfg.label_smoothing)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step_loss = loss.detach().item()
            check_loss(step_loss, epoch, i // cfg.batch_size + 1, cfg.lr)
            total_loss += step_loss * len(idx)
            seen += len(idx)
            step += 1
            if progress:
                progress(step, total_steps)
        record = {
            "epoch": epoch,
            "loss": total_loss / seen,
            "test_accuracy": evaluate(model, ds.x_test, ds.y_test),
        }
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    seconds = time.perf_counter() - start
    model.eval()
    return TrainResult(model, history[-1]["test_accuracy"] if history else 0.0, seconds, history)


def train(cfg: TrainConfig, out_dir: str | Path = DEFAULT_OUT, **hooks: Any) -> TrainResult:
    """Train, then write ``out_dir/lenet.pt`` and ``out_dir/metrics.json`` atomically.

    ``hooks`` are ``fit``'s ``progress`` and ``on_epoch``.

    The output directory is checked for writability before training starts; the files are
    written to temporary names and renamed only after everything succeeded, so a failed or
    interrupted run leaves the previous good files byte-identical.
    """
    check_train_config(cfg)
    out = ensure_writable_dir(out_dir)
    ds = load_dataset(cfg.data)
    result = fit(cfg, ds, **hooks)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    metadata = {
        "dataset": ds.name,
        "dataset_description": ds.description,
        "split_seed": ds.split_seed,
        "test_size": len(ds.y_test),
        "preprocessing": RECIPE,
        "normalization": f"inside the model: (x - {float(result.model.mean):.6f}) / "
        f"{float(result.model.std):.6f}",
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "config": asdict(cfg),
        "test_accuracy": result.test_accuracy,
        "train_seconds": round(result.train_seconds, 3),
        "torch_version": str(torch.__version__),
        "created": created,
    }
    metrics = {
        "test_accuracy": result.test_accuracy,
        "train_seconds": round(result.train_seconds, 3),
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "dataset": ds.name,
        "test_size": len(ds.y_test),
        "train_size": len(ds.y_train),
        "history": result.history,
        "created": created,
    }
    ckpt_path, metrics_path = out / CHECKPOINT_NAME, out / METRICS_NAME
    check_state_finite(result.model.state_dict(), "the trained model")
    # Serialised in memory first: a full disk then fails as an OSError in a plain write, and
    # metrics.json can name the exact checkpoint it belongs to.
    buffer = io.BytesIO()
    torch.save(make_checkpoint(result.model, metadata), buffer)
    blob = buffer.getvalue()
    metrics["checkpoint_sha256"] = hashlib.sha256(blob).hexdigest()
    text = json.dumps(metrics, indent=2, allow_nan=False) + "\n"
    # Both files are fully written before either is renamed into place (checkpoint first).
    with atomic_paths([ckpt_path, metrics_path]) as (tmp_ckpt, tmp_metrics):
        tmp_ckpt.write_bytes(blob)
        tmp_metrics.write_text(text, encoding="utf-8")
    result.checkpoint_path, result.metrics_path = ckpt_path, metrics_path
    return result
