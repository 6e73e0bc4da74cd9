"""Write the export down to what a target's onnxruntime loads, with onnx's own tools.

The opset goes down with ``onnx.version_converter`` (its adapters rewrite the operators whose
signature changed), then the IR version is set to the lowest the opsets and the element types
in the graph need, but no lower than needed and no higher than the target's limit. The result
passes ``onnx.checker`` (full check) and is re-checked for parity against the export by
:func:`lenet_deploy.packaging.engine_check.check_parity`. A model the tools cannot take down
is refused with the lowest Triton release that loads it as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import PackageError, first_line
from .targets import TritonRelease, lowest_release_loading

DEFAULT_DOMAINS = ("", "ai.onnx")
#: Element types that need a newer IR than their opsets do (onnx's IR history).
_TYPE_IR = {
    "FLOAT8E4M3FN": 9,
    "FLOAT8E4M3FNUZ": 9,
    "FLOAT8E5M2": 9,
    "FLOAT8E5M2FNUZ": 9,
    "UINT4": 10,
    "INT4": 10,
    "FLOAT4E2M1": 11,
}
CONVERTED_KEY = "lenet_deploy.converted_for"


@dataclass(frozen=True)
class Conversion:
    """What the packaged model is against the export: its IR version and ai.onnx opset."""

    source_ir_version: int
    source_opset: int
    ir_version: int
    opset: int

    @property
    def converted(self) -> bool:
        return (self.ir_version, self.opset) != (self.source_ir_version, self.source_opset)

    def to_dict(self) -> dict:
        return {**asdict(self), "converted": self.converted}


def model_versions(proto) -> tuple[int, int]:
    """(IR version, ai.onnx opset) of an ONNX ``ModelProto``."""
    opsets = [o.version for o in proto.opset_import if o.domain in DEFAULT_DOMAINS]
    return int(proto.ir_version), max(opsets, default=0)


def convert_for(
    model_bytes: bytes, release: TritonRelease, source: str
) -> tuple[bytes, Conversion]:
    """``model_bytes`` as ``release`` loads it (unchanged when it already does).

    ``source`` names the model in errors. Raises PackageError with the lowest release that
    loads the model as it is when onnx cannot take it down.
    """
    import onnx

    proto = onnx.load_from_string(model_bytes)
    ir, opset = model_versions(proto)
    if release.loads(ir, opset):
        return model_bytes, Conversion(ir, opset, ir, opset)
    target_opset = min(opset, release.max_opset)
    converted = proto
    if target_opset < opset:
        try:
            converted = onnx.version_converter.convert_version(proto, target_opset)
        except Exception as exc:  # the converter raises RuntimeError/ValueError with its reason
            _refuse(source, release, ir, opset, f"onnx cannot convert it: {first_line(exc)}")
    needed = _needed_ir(converted)
    if needed > release.max_ir_version:
        _refuse(source, release, ir, opset, f"its graph needs IR {needed}")
    converted.ir_version = max(needed, min(converted.ir_version, release.max_ir_version))
    _stamp(converted, release)
    try:
        onnx.checker.check_model(converted, full_check=True)
    except Exception as exc:
        _refuse(source, release, ir, opset, f"the converted model fails onnx's checker: {exc}")
    out_ir, out_opset = model_versions(converted)
    if not release.loads(out_ir, out_opset):  # the converter kept a newer opset than asked
        _refuse(source, release, ir, opset, f"onnx converted it to IR {out_ir} opset {out_opset}")
    return converted.SerializeToString(), Conversion(ir, opset, out_ir, out_opset)


def _needed_ir(proto) -> int:
    import onnx
    from onnx import helper

    needed = helper.find_min_ir_version_for(list(proto.opset_import), ignore_unknown=True)
    types = {t.data_type for t in proto.graph.initializer}
    for value in (*proto.graph.input, *proto.graph.output, *proto.graph.value_info):
        types.add(value.type.tensor_type.elem_type)
    for name, ir in _TYPE_IR.items():
        if getattr(onnx.TensorProto, name, None) in types:
            needed = max(needed, ir)
    return needed


def _stamp(proto, release: TritonRelease) -> None:
    for prop in list(proto.metadata_props):
        if prop.key == CONVERTED_KEY:
            proto.metadata_props.remove(prop)
    entry = proto.metadata_props.add()
    entry.key = CONVERTED_KEY
    entry.value = f"tritonserver:{release.image_tag} (onnxruntime {release.onnxruntime})"


def _refuse(source: str, release: TritonRelease, ir: int, opset: int, why: str) -> None:
    lowest = lowest_release_loading(ir, opset)
    instead = (
        f"use --triton-version {lowest.release} or newer"
        if lowest
        else "no Triton release in the table loads it"
    )
    raise PackageError(
        f"{source} is IR {ir} opset {opset}; Triton {release.release} (onnxruntime "
        f"{release.onnxruntime}) loads up to IR {release.max_ir_version} opset "
        f"{release.max_opset} and {why}: {instead}, or export with --opset {release.max_opset}"
    )
