"""Measure what an onnxruntime loads: the numbers in lenet_deploy/packaging/targets.py.

Run by lenet-deploy's Python (it needs onnx), naming the side interpreters to probe, each a
venv with one onnxruntime wheel and numpy (the engine runs there, not here)::

    python scripts/probe_ort_limits.py --model artifacts/lenet.onnx \
        /path/to/ort-1.15.1/bin/python /path/to/ort-1.17.3/bin/python

For every interpreter it prints its onnxruntime version, the highest IR version it accepts (a
one-node Relu model at IR 3..12) and the highest opset at which LeNet itself loads and runs
(the export converted with onnx.version_converter to opsets 17..23, each at the lowest IR its
opset needs): what ORT_LIMITS records per minor release.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import glob, json, re, sys
import numpy as np
import onnxruntime as ort
ir_ok, opset_ok = [], []
for f in sorted(glob.glob(sys.argv[1] + "/*.onnx")):
    kind, ir, op = re.match(r".*/(\w+)_ir(\d+)_op(\d+)\.onnx", f).groups()
    try:
        s = ort.InferenceSession(f, providers=["CPUExecutionProvider"])
        if kind == "lenet":
            s.run(None, {s.get_inputs()[0].name: np.zeros((2, 1, 32, 32), np.float32)})
            opset_ok.append(int(op))
        else:
            ir_ok.append(int(ir))
    except Exception:
        pass
print(json.dumps({"onnxruntime": ort.__version__, "max_ir_version": max(ir_ok),
                  "max_opset_for_lenet": max(opset_ok)}))
"""


def write_probes(model: Path, folder: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, version_converter

    for ir in range(3, 13):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
        probe = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=ir)
        onnx.save(probe, folder / f"relu_ir{ir}_op14.onnx")
    export = onnx.load(model)
    for opset in range(17, 24):
        converted = version_converter.convert_version(export, opset)
        converted.ir_version = helper.find_min_ir_version_for(list(converted.opset_import))
        onnx.save(converted, folder / f"lenet_ir{converted.ir_version}_op{opset}.onnx")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="artifacts/lenet.onnx", help="a LeNet export")
    parser.add_argument("pythons", nargs="+", help="side interpreters with onnxruntime")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_probes(Path(args.model), Path(tmp))
        for python in args.pythons:
            proc = subprocess.run([python, "-c", CHILD, tmp], capture_output=True, text=True)
            if proc.returncode:
                print(f"{python}: {proc.stderr.strip().splitlines()[-1]}", file=sys.stderr)
                return 1
            print(json.dumps({"python": python, **json.loads(proc.stdout)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
