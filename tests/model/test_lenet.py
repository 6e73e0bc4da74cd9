import pytest
import torch

from lenet_deploy.errors import CheckpointError
from lenet_deploy.model.lenet import (
    NUM_PARAMETERS,
    DeployableLeNet,
    LeNet,
    count_parameters,
    import_tutorial_weights,
    load_checkpoint,
)


class TutorialNet(torch.nn.Module):
    """Verbatim from the PyTorch 60-minute blitz, to prove its weights import."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(16 * 5 * 5, 120)
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, 10)

    def forward(self, x):
        F = torch.nn.functional
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def test_parameter_count_matches_tutorial():
    assert count_parameters(LeNet()) == NUM_PARAMETERS == 61_706
    # normalisation buffers are not parameters
    assert count_parameters(DeployableLeNet()) == 61_706


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 3])
def test_output_shape(n):
    out = DeployableLeNet().eval()(torch.rand(n, 1, 32, 32))
    assert out.shape == (n, 10) and out.dtype == torch.float32


def test_layer_shapes_are_the_tutorials():
    net = LeNet()
    assert net.conv1.weight.shape == (6, 1, 5, 5)
    assert net.conv2.weight.shape == (16, 6, 5, 5)
    assert [net.fc1.in_features, net.fc2.in_features, net.fc3.in_features] == [400, 120, 84]
    assert net.fc3.out_features == 10


@pytest.mark.slow
def test_tutorial_weights_import_and_compute_the_same():
    torch.manual_seed(1)
    tutorial = TutorialNet().eval()
    model = import_tutorial_weights(tutorial.state_dict()).eval()
    x = torch.rand(5, 1, 32, 32)
    torch.testing.assert_close(model(x), tutorial(x), rtol=0, atol=0)


@pytest.mark.slow
def test_normalisation_lives_in_the_model():
    torch.manual_seed(0)
    net = LeNet().eval()
    model = DeployableLeNet(net, mean=0.25, std=0.5).eval()
    x = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(model(x), net((x - 0.25) / 0.5))


def test_tutorial_state_dict_file_loads_as_checkpoint(tmp_path):
    tutorial = TutorialNet()
    path = tmp_path / "tutorial.pt"
    torch.save(tutorial.state_dict(), path)
    model, meta = load_checkpoint(path)
    assert meta["source"] == "plain PyTorch state_dict (bare state_dict)"
    assert meta["normalization"].startswith("none") and "--mean/--std" in meta["normalization"]
    assert (float(model.mean), float(model.std)) == (0.0, 1.0)
    torch.testing.assert_close(model.net.fc3.weight, tutorial.fc3.weight)


@pytest.mark.parametrize("recipe", ["model_state_dict", "state_dict", "dataparallel"])
def test_common_checkpoint_recipes_load(tmp_path, recipe):
    tutorial = TutorialNet()
    sd = tutorial.state_dict()
    blob = {
        "model_state_dict": {"model_state_dict": sd, "epoch": 3, "optimizer_state_dict": {}},
        "state_dict": {"state_dict": sd},
        "dataparallel": {f"module.{k}": v for k, v in sd.items()},
    }[recipe]
    torch.save(blob, tmp_path / "c.pt")
    model, meta = load_checkpoint(tmp_path / "c.pt")
    torch.testing.assert_close(model.net.conv1.weight, tutorial.conv1.weight)
    assert ("module." in meta["source"]) == (recipe == "dataparallel")


def test_whole_pickled_module_is_refused_with_the_fix(tmp_path):
    torch.save(LeNet(), tmp_path / "whole.pt")
    with pytest.raises(CheckpointError, match=r"torch.save\(model.state_dict\(\), PATH\)"):
        load_checkpoint(tmp_path / "whole.pt")


def test_dict_without_weights_names_its_keys(tmp_path):
    torch.save({"epoch": 3, "loss": 0.1}, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="keys epoch, loss"):
        load_checkpoint(tmp_path / "c.pt")


def test_wrong_architecture_is_refused(tmp_path):
    sd = LeNet().state_dict()
    sd["fc1.weight"] = torch.zeros(100, 400)
    path = tmp_path / "wrong.pt"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match="fc1.weight"):
        load_checkpoint(path)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save(
        {"model": LeNet()}, path
    )  # a whole module needs unpickling code: weights_only refuses
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(path)


def test_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a loadable checkpoint"):
        load_checkpoint(junk)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
