"""Run a packaged model in *another* Python's onnxruntime: the engine a Triton release bundles.

Run by the interpreter of a side environment that holds only numpy and that onnxruntime
(e.g. ``onnxruntime==1.15.1`` for Triton 23.05), never imported by lenet-deploy itself::

    /path/to/side-venv/bin/python ort_child.py MODEL.onnx INPUTS.npz OUTPUTS.npz

It loads MODEL on the CPU, runs every array in INPUTS and saves the logits under the same
names in OUTPUTS; the first line of stdout is JSON with the onnxruntime version. It imports
nothing from lenet-deploy: the comparison is made by the caller, with the project's policy.
A model the engine refuses exits 3 with the engine's message as the last line of stderr.
"""

import json
import sys


def main(argv):
    import numpy as np
    import onnxruntime as ort

    model, inputs, outputs = argv
    print(json.dumps({"onnxruntime": ort.__version__}), flush=True)
    try:
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        with np.load(inputs) as sets:
            got = {key: session.run(None, {name: sets[key]})[0] for key in sets.files}
    except Exception as exc:  # the engine's refusal is the answer: report it, one line
        print(f"onnxruntime {ort.__version__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 3
    np.savez(outputs, **got)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
