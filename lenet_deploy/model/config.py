"""``TrainConfig``: the training settings, as data with no torch import (so ``lenet-deploy
train --help`` shows the defaults without loading torch). ``lenet_deploy.model.train`` trains
with them."""

from __future__ import annotations

from dataclasses import dataclass

from ..data.datasets import DEFAULT_DATASET


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults are the tuned ones (see benchmarks/train_accuracy.py)."""

    data: str = DEFAULT_DATASET
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    #: Random translation in pixels (of the 32x32 input), rotation in degrees and relative
    #: scale, drawn per sample per step.
    max_shift: float = 3.0
    max_rotation: float = 15.0
    max_scale: float = 0.1
    label_smoothing: float = 0.1
    #: torch intra-op threads while training. LeNet's layers at batch 32 are too small to split:
    #: on 2 cores a second thread costs several times the CPU for no speed-up
    #: (benchmarks/train_accuracy.py); the process's previous setting is restored afterwards.
    threads: int = 1
