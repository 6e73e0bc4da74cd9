"""RaySettings from `serve run` arguments (strings) and config files (typed); no Ray needed."""

from __future__ import annotations

import json

import pytest

from lenet_deploy.errors import LenetDeployError
from lenet_deploy.integrations.ray_settings import RaySettings
from lenet_deploy.packaging.package import package
from lenet_deploy.packaging.ray import IMPORT_PATH, MODEL_PATH, SERVE_CONFIG


def test_command_line_strings_become_typed_settings():
    s = RaySettings.from_args({"replicas": "3", "batch_wait_timeout_s": "0.002", "model": "m"})
    assert (s.replicas, s.batch_wait_timeout_s, s.model) == (3, 0.002, "m")


@pytest.mark.parametrize(
    "args, fragment",
    [
        ({"replica": "2"}, "unknown replica; known: model, runtime"),
        ({"replicas": "two"}, "replicas='two' is not int"),
        ({"replicas": "0"}, "replicas must be >= 1"),
        ({"model_name": "a b"}, "model_name 'a b'"),
        ({"batch_wait_timeout_s": "nan"}, "batch_wait_timeout_s must be >= 0"),
    ],
)
def test_bad_arguments_are_one_clear_error(args, fragment):
    with pytest.raises(LenetDeployError, match="ray settings") as info:
        RaySettings.from_args(args)
    assert fragment in str(info.value)


@pytest.mark.slow
def test_ray_package_holds_the_export_and_a_serve_config(exported_dir, tmp_path):
    out = tmp_path / "ray"
    result = package(exported_dir, out, format="ray", ray_settings=RaySettings(replicas=2))
    assert (out / MODEL_PATH).read_bytes() == (exported_dir / "lenet.onnx").read_bytes()
    text = (out / SERVE_CONFIG).read_text()
    config = json.loads("\n".join(x for x in text.splitlines() if not x.startswith("#")))
    (app,) = config["applications"]
    assert app["import_path"] == IMPORT_PATH and "runtime_env" not in app
    settings = RaySettings.from_args(app["args"])  # what app_builder does with them
    assert settings.replicas == 2 and settings.model == str((out / MODEL_PATH).resolve())
    assert result.target["engine"] == "ray serve" and set(result.files) >= {
        MODEL_PATH,
        SERVE_CONFIG,
    }


def test_ray_package_refuses_an_engine_check(exported_dir, tmp_path):
    from lenet_deploy.errors import PackageError

    with pytest.raises(PackageError, match="drop --check"):
        package(exported_dir, tmp_path / "ray", format="ray", check=("python3",))
    assert not (tmp_path / "ray").exists()
