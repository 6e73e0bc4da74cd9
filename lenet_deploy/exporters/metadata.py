"""What an exported ONNX file says about itself: metadata_props and tensor descriptions.

Only facts are written. A key whose value is unknown (a plain state_dict has no dataset or
accuracy) is left out rather than written empty; ``normalization`` always says what the graph
does to its input, including "none".
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..images.recipe import RECIPE
from ..spec import CLASS_LABELS, INPUT_NAME, NUM_CLASSES, OUTPUT_NAME

PRODUCER = "lenet-deploy"
INPUT_POLARITY = "bright digit on a dark background (MNIST); 0 = background, 1 = full ink"
TENSOR_DOCS = {
    INPUT_NAME: "float32 [batch,1,32,32]: pixels in [0,1], " + INPUT_POLARITY + ", made by the "
    "MNIST recipe (see metadata 'preprocessing')",
    OUTPUT_NAME: f"float32 [batch,{NUM_CLASSES}]: unnormalised logits for digits "
    + ",".join(CLASS_LABELS),
}
#: Training facts copied from a checkpoint's metadata when it has them.
_FROM_CHECKPOINT = ("dataset", "test_size", "test_accuracy", "split_seed", "seed")


def build_metadata(
    source: dict[str, Any], mean: float, std: float, exporter: str, opset: int
) -> dict[str, str]:
    """metadata_props for a model whose graph computes ``(x - mean) / std`` first."""
    import onnx
    import torch

    if (mean, std) == (0.0, 1.0):
        normalization = source.get("normalization") or "none: the graph takes [0,1] pixels as is"
    else:
        normalization = f"inside the graph: (x - {mean:.6g}) / {std:.6g}"
    meta = {
        "class_labels": ",".join(CLASS_LABELS),
        "input_name": INPUT_NAME,
        "input_shape": "batch,1,32,32",
        "input_range": "0,1",
        "input_polarity": INPUT_POLARITY,
        "preprocessing": RECIPE,
        "normalization": str(normalization),
        "precision": "float32",
        **{f"tensor.{name}": doc for name, doc in TENSOR_DOCS.items()},
        "source_checkpoint": str(source.get("source", "")),
    }
    if source.get("checkpoint_sha256"):
        meta["source_checkpoint_sha256"] = str(source["checkpoint_sha256"])
    for key in _FROM_CHECKPOINT:
        if source.get(key) not in (None, ""):
            meta[key] = str(source[key])
    meta.update(
        torch_version=str(torch.__version__),
        onnx_version=onnx.__version__,
        exporter=exporter,
        opset=str(opset),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return meta


def attach_metadata(proto, metadata: dict[str, str]) -> None:
    """Write ``metadata`` into ``proto`` (replacing any), with doc strings on graph and tensors."""
    from .. import __version__

    proto.producer_name = PRODUCER
    proto.producer_version = __version__
    proto.model_version = 1
    proto.doc_string = (
        "LeNet (PyTorch tutorial architecture) classifying 32x32 grayscale digits. Input "
        f"'{INPUT_NAME}': {TENSOR_DOCS[INPUT_NAME]}. Output '{OUTPUT_NAME}': "
        f"{TENSOR_DOCS[OUTPUT_NAME]}. Normalisation: {metadata.get('normalization', 'none')}"
    )
    for value in list(proto.graph.input) + list(proto.graph.output):
        if value.name in TENSOR_DOCS:
            value.doc_string = TENSOR_DOCS[value.name]
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
