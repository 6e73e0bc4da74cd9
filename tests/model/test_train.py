import json

import pytest
import torch

from lenet_deploy.errors import ArtifactError
from lenet_deploy.model import train as train_mod
from lenet_deploy.model.lenet import load_checkpoint
from lenet_deploy.model.train import TrainConfig, fit, train


@pytest.mark.slow
def test_few_steps_lower_the_loss(digits):
    result = fit(TrainConfig(epochs=3, seed=0), digits)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.7, losses
    assert result.test_accuracy > 0.5


@pytest.mark.slow
def test_default_dataset_is_mnist5k_and_learns_from_a_subset():
    import dataclasses

    from lenet_deploy.data.datasets import load_dataset

    assert TrainConfig().data == "mnist5k"
    full = load_dataset()
    small = dataclasses.replace(full, x_train=full.x_train[::8], y_train=full.y_train[::8])
    result = fit(TrainConfig(epochs=3, seed=0), small)
    assert result.test_accuracy > 0.5  # 500 images, 3 epochs; chance is 0.1


@pytest.mark.slow
def test_same_seed_same_weights(digits):
    a = fit(TrainConfig(epochs=1, seed=3), digits).model.state_dict()
    b = fit(TrainConfig(epochs=1, seed=3), digits).model.state_dict()
    c = fit(TrainConfig(epochs=1, seed=4), digits).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["net.conv1.weight"], c["net.conv1.weight"])


def test_train_writes_checkpoint_and_metrics(trained_dir):
    metrics = json.loads((trained_dir / "metrics.json").read_text())
    for key in ("test_accuracy", "train_seconds", "epochs", "seed", "dataset"):
        assert key in metrics
    model, meta = load_checkpoint(trained_dir / "lenet.pt")
    assert meta["dataset"] == "digits" and meta["split_seed"] == 0
    assert meta["test_size"] == metrics["test_size"] == 450
    assert meta["test_accuracy"] == metrics["test_accuracy"]
    assert meta["torch_version"] == torch.__version__ and "created" in meta
    assert 0 < float(model.mean) < 1 and float(model.std) > 0


@pytest.mark.slow
def test_failure_mid_run_keeps_existing_checkpoint(tmp_path, monkeypatch):
    train(TrainConfig(data="digits", epochs=1), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = {"n": 0}
    real_step = torch.optim.AdamW.step

    def failing_step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] > 5:
            raise RuntimeError("simulated crash mid-epoch")
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", failing_step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(TrainConfig(data="digits", epochs=2, seed=9), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.slow
def test_failure_while_saving_keeps_existing_checkpoint(tmp_path, monkeypatch):
    train(TrainConfig(data="digits", epochs=1), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_save(obj, f, *a, **k):  # the checkpoint is serialised in memory, then written
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(train_mod.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        train(TrainConfig(data="digits", epochs=1, seed=5), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_unwritable_output_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ArtifactError, match="cannot write to output directory"):
        train(TrainConfig(epochs=1), blocker / "sub")


@pytest.mark.slow
def test_progress_reports_steps_done_and_total(digits):
    calls = []
    fit(TrainConfig(epochs=1, batch_size=500), digits, progress=lambda *a: calls.append(a))
    steps = -(-len(digits.y_train) // 500)
    assert calls == [(i, steps) for i in range(1, steps + 1)]


@pytest.mark.slow
def test_training_uses_its_thread_setting_and_restores_the_callers():
    import torch

    from lenet_deploy.data.datasets import load_dataset
    from lenet_deploy.model.train import TrainConfig, fit

    ds = load_dataset("digits")
    seen = []
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # a caller's setting that differs from the config's
    try:
        cfg = TrainConfig(data="digits", epochs=1, threads=1)
        fit(cfg, ds, progress=lambda done, total: seen.append(torch.get_num_threads()))
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_thread_setting_is_validated():
    from lenet_deploy.errors import LenetDeployError
    from lenet_deploy.model.train import TrainConfig, fit

    with pytest.raises(LenetDeployError, match="threads"):
        fit(TrainConfig(data="digits", epochs=1, threads=0))
