import shutil

import pytest

from lenet_deploy.artifacts.layout import ArtifactKind, file_sha256
from lenet_deploy.artifacts.pairing import is_checkpoint_path, pair
from lenet_deploy.errors import ArtifactError, ArtifactKindError


@pytest.mark.slow
def test_directory_pairs_its_own_files(exported_dir):
    files = pair(exported_dir)
    assert files.onnx == exported_dir / "lenet.onnx"
    assert files.checkpoint == exported_dir / "lenet.pt"
    assert files.artifact_for(ArtifactKind.CHECKPOINT) == files.checkpoint
    assert files.artifact_for(ArtifactKind.ONNX) == files.onnx
    with pytest.raises(ArtifactKindError, match="not a URL"):
        files.artifact_for(ArtifactKind.URL)


def test_checkpoint_finds_its_onnx_by_sha256(exported_dir, tmp_path):
    shutil.copy(exported_dir / "lenet.pt", tmp_path / "weights.pt")
    shutil.copy(exported_dir / "lenet.onnx", tmp_path / "model.onnx")
    files = pair(tmp_path / "weights.pt")
    assert files.onnx == tmp_path / "model.onnx"
    assert file_sha256(files.checkpoint) == file_sha256(exported_dir / "lenet.pt")


def test_onnx_alone_without_partner_cannot_serve_torch(exported_dir, tmp_path):
    shutil.copy(exported_dir / "lenet.onnx", tmp_path / "model.onnx")
    files = pair(tmp_path / "model.onnx")
    assert files.checkpoint is None
    with pytest.raises(ArtifactError, match="--reference Y.pt"):
        files.artifact_for(ArtifactKind.CHECKPOINT)


def test_unrelated_checkpoint_beside_onnx_is_refused(exported_dir, tmp_path):
    shutil.copy(exported_dir / "lenet.onnx", tmp_path / "model.onnx")
    (tmp_path / "other.pt").write_bytes(b"not the same file")
    with pytest.raises(ArtifactError, match="no checkpoint beside .*model.onnx.*other.pt"):
        pair(tmp_path / "model.onnx")


def test_two_checkpoints_are_not_a_pair(exported_dir):
    with pytest.raises(ArtifactError, match="is a checkpoint too"):
        pair(exported_dir / "lenet.pt", exported_dir / "lenet.pt")


def test_reference_values_name_runtimes_or_files(tmp_path):
    assert not is_checkpoint_path("torch-cpu")
    assert is_checkpoint_path("y.pt") and is_checkpoint_path(tmp_path / "x.pth")
    with pytest.raises(ArtifactError, match="not found"):
        pair(tmp_path, tmp_path / "missing.pt")
