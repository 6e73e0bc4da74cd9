"""package(): the written tree, the recorded sha256, atomic replacement and refusals."""

from __future__ import annotations

import hashlib
import json

import pytest

from lenet_deploy.errors import ArtifactError, PackageError
from lenet_deploy.packaging import package as package_module
from lenet_deploy.packaging.kserve import KServeSettings
from lenet_deploy.packaging.package import package
from lenet_deploy.packaging.triton import MANIFEST_NAME, TritonSettings, validate_config


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_triton_repository_holds_the_verified_export(exported_dir, tmp_path):
    out = tmp_path / "model_repository"
    # 26.07's onnxruntime loads the export as it is: it is copied byte for byte.
    result = package(
        exported_dir, out, triton_settings=TritonSettings(instances=2), triton_version="26.07"
    )
    source_sha = _sha(exported_dir / "lenet.onnx")
    assert result.model_sha256 == source_sha == _sha(out / "lenet/1/model.onnx")
    assert not result.conversion["converted"] and result.target["release"] == "26.07"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        result.files
    )
    config = validate_config((out / "lenet/config.pbtxt").read_text())
    assert config.instance_group[0].count == 2
    assert source_sha in (out / "lenet/config.pbtxt").read_text()
    record = json.loads((out / MANIFEST_NAME).read_text())
    assert record["model_sha256"] == source_sha and record["format"] == "triton"
    assert record["settings"]["triton"]["instances"] == 2
    assert result.to_dict()["files"] == list(result.files)


@pytest.mark.slow
def test_kserve_package_has_repository_and_manifests(exported_dir, tmp_path):
    out = tmp_path / "deploy"
    result = package(
        exported_dir / "lenet.onnx",
        out,
        format="kserve",
        kserve_settings=KServeSettings("gs://b/lenet/model_repository", "reg.io/t/lenet:1"),
    )
    assert (out / "model_repository/lenet/1/model.onnx").is_file()
    assert {"inferenceservice-triton.yaml", "inferenceservice-serve.yaml"} <= set(result.files)
    assert json.loads((out / MANIFEST_NAME).read_text())["settings"]["kserve"]["storage_uri"] == (
        "gs://b/lenet/model_repository"
    )


@pytest.mark.slow
def test_a_failed_run_leaves_the_previous_package(exported_dir, tmp_path, monkeypatch):
    out = tmp_path / "repo"
    package(exported_dir, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(stage, *args):
        (stage / "partial").write_text("half written")
        raise PackageError("simulated failure")

    monkeypatch.setattr(package_module.triton, "write_repository", broken)
    with pytest.raises(PackageError, match="simulated"):
        package(exported_dir, out, triton_settings=TritonSettings(instances=4))
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # no staging left behind


@pytest.mark.slow
def test_a_second_run_replaces_its_own_package(exported_dir, tmp_path):
    out = tmp_path / "repo"
    package(exported_dir, out, triton_settings=TritonSettings(max_batch=64))
    package(exported_dir, out, triton_settings=TritonSettings(max_batch=32, preferred_batch=(8,)))
    assert validate_config((out / "lenet/config.pbtxt").read_text()).max_batch_size == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]


def test_refuses_an_out_that_contains_the_input(exported_dir):
    before = _sha(exported_dir / "lenet.onnx")
    with pytest.raises(PackageError, match="contains the input model"):
        package(exported_dir, exported_dir)
    with pytest.raises(PackageError, match="contains the input model"):
        package(exported_dir / "lenet.onnx", exported_dir.parent)
    assert _sha(exported_dir / "lenet.onnx") == before


def test_refuses_to_replace_a_folder_it_did_not_write(exported_dir, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ArtifactError, match="not written by lenet-deploy"):
        package(exported_dir, mine)
    assert (mine / "notes.txt").read_text() == "keep"


def test_kserve_needs_a_storage_uri_and_formats_are_checked(exported_dir, tmp_path):
    with pytest.raises(PackageError, match="--storage-uri"):
        package(exported_dir, tmp_path / "k", format="kserve")
    with pytest.raises(PackageError, match="unknown format 'helm'"):
        package(exported_dir, tmp_path / "k", format="helm")
    assert not (tmp_path / "k").exists()


def test_missing_model_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(ArtifactError, match="lenet-deploy export"):
        package(tmp_path, tmp_path / "repo")
