"""Default training on the embedded digits: accuracy and wall time for seeds 0, 1, 2.

Prints one row per seed, the mean, and an RBF SVM (scikit-learn SVC) on the same split as the
reference. Target: mean test accuracy >= 99.0% (aim 99.3%) in <= 30 s per run on 2 cores.

    python benchmarks/train_accuracy.py [--seeds 0,1,2] [--epochs N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="override the default epochs")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a TrainConfig field (repeatable), e.g. --set "
        "label_smoothing=0 to rerun an ablation",
    )
    args = parser.parse_args()

    import torch
    from sklearn.svm import SVC

    from lenet_deploy.data import load_dataset
    from lenet_deploy.train import TrainConfig, fit

    ds = load_dataset("digits")
    cfg = TrainConfig()
    if args.epochs:
        cfg = dataclasses.replace(cfg, epochs=args.epochs)
    for item in args.set:
        key, value = item.split("=", 1)
        kind = type(getattr(cfg, key))
        cfg = dataclasses.replace(cfg, **{key: kind(value)})
    print(
        f"machine: {os.cpu_count()} cores, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}"
    )
    print(f"dataset: {ds.description}; train {len(ds.y_train)}, test {len(ds.y_test)}")
    print(f"config: {cfg}")
    print(f"{'seed':>4}  {'test acc':>8}  {'errors':>6}  {'wall s':>6}")
    accs, walls = [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        t0 = time.perf_counter()
        result = fit(dataclasses.replace(cfg, seed=seed), ds)
        wall = time.perf_counter() - t0
        errors = round((1 - result.test_accuracy) * len(ds.y_test))
        accs.append(result.test_accuracy)
        walls.append(wall)
        print(f"{seed:>4}  {result.test_accuracy:>8.2%}  {errors:>6}  {wall:>6.1f}")
    print(f"mean  {np.mean(accs):>8.2%}          {np.mean(walls):>6.1f}   (max {max(walls):.1f} s)")

    t0 = time.perf_counter()
    svm = SVC(kernel="rbf", gamma="scale", C=10).fit(
        ds.x_train.reshape(len(ds.x_train), -1), ds.y_train
    )
    svm_acc = float((svm.predict(ds.x_test.reshape(len(ds.x_test), -1)) == ds.y_test).mean())
    print(f"SVM (RBF, C=10) same split: {svm_acc:.2%} in {time.perf_counter() - t0:.1f} s")
    verdict = "PASS" if np.mean(accs) >= 0.99 and max(walls) <= 30 else "FAIL"
    print(f"target mean >= 99.0% and <= 30 s per run: {verdict}")


if __name__ == "__main__":
    main()
