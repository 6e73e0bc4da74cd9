"""Conversion to what a Triton release's onnxruntime loads, and refusals naming the release
that would load the model."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from lenet_deploy.errors import PackageError
from lenet_deploy.packaging.convert import CONVERTED_KEY, convert_for, model_versions
from lenet_deploy.packaging.package import package
from lenet_deploy.packaging.targets import triton_release
from lenet_deploy.packaging.triton import MANIFEST_NAME, validate_config


@pytest.mark.parametrize("release", ["23.05", "24.04"])
def test_default_export_is_written_down_to_what_the_release_loads(exported_dir, release):
    source = (exported_dir / "lenet.onnx").read_bytes()
    target = triton_release(release)
    data, conversion = convert_for(source, target, "lenet.onnx")
    proto = onnx.load_from_string(data)
    ir, opset = model_versions(proto)
    assert target.loads(ir, opset) and (ir, opset) == (conversion.ir_version, conversion.opset)
    assert (conversion.source_ir_version, conversion.source_opset) == model_versions(
        onnx.load_from_string(source)
    )
    onnx.checker.check_model(proto, full_check=True)
    props = {p.key: p.value for p in proto.metadata_props}
    assert props[CONVERTED_KEY].startswith(f"tritonserver:{release}-py3")
    assert "class_labels" in props  # the export's own metadata survives


@pytest.mark.parametrize("release", ["24.05", "26.07"])  # onnxruntime 1.18 loads IR 10 opset 20
def test_a_model_the_release_loads_is_left_byte_for_byte(exported_dir, release):
    source = (exported_dir / "lenet.onnx").read_bytes()
    data, conversion = convert_for(source, triton_release(release), "lenet.onnx")
    assert data == source and not conversion.converted


def _int4_model(opset: int) -> bytes:
    """A model whose graph needs IR 10 (an INT4 initializer)."""
    w = helper.make_tensor("w", TensorProto.INT4, [2], [1, 2])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes = [
        helper.make_node("Cast", ["w"], ["wf"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["x", "wf"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "int4", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    return model.SerializeToString()


@pytest.mark.parametrize(
    "opset, why", [(20, "its graph needs IR 10"), (21, "onnx cannot convert it")]
)
def test_refusal_names_the_lowest_release_that_loads_it(opset, why):
    with pytest.raises(PackageError) as info:
        convert_for(_int4_model(opset), triton_release("24.04"), "int4.onnx")
    message = str(info.value)
    assert f"int4.onnx is IR 10 opset {opset}" in message and why in message
    assert "--triton-version 24.05 or newer" in message


@pytest.mark.slow
def test_package_records_the_target_everywhere(exported_dir, tmp_path):
    out = tmp_path / "repo"
    result = package(exported_dir, out)  # default: KServe's Triton, 23.05
    assert result.target["release"] == "23.05" and result.target["onnxruntime"] == "1.15.0"
    assert result.conversion["converted"] and result.parity["passed"]
    assert result.parity["images"] > 1000  # the test split plus the edge inputs
    model = onnx.load(out / "lenet/1/model.onnx")
    assert model_versions(model) == (result.conversion["ir_version"], result.conversion["opset"])
    assert triton_release("23.05").loads(*model_versions(model))
    config = (out / "lenet/config.pbtxt").read_text()
    validate_config(config)
    assert "target tritonserver:23.05-py3 (onnxruntime 1.15.0)" in config
    assert result.source_sha256 in config and result.model_sha256 in config
    record = json.loads((out / MANIFEST_NAME).read_text())
    assert record["target"]["image"] == "nvcr.io/nvidia/tritonserver:23.05-py3"
    assert record["conversion"] == result.conversion


@pytest.mark.slow
def test_converted_model_answers_like_the_export(exported_dir, tmp_path):
    from lenet_deploy.runtimes import load_runtime

    package(exported_dir, tmp_path / "repo")
    x = np.random.default_rng(1).random((9, 1, 32, 32), dtype=np.float32)
    with load_runtime("ort-cpu", tmp_path / "repo/lenet/1/model.onnx") as converted:
        got = converted.predict(x)
    with load_runtime("ort-cpu", exported_dir) as export:
        np.testing.assert_array_equal(got, export.predict(x))
