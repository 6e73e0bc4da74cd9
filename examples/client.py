"""Classify digit images over the Open Inference Protocol (v2) with plain ``tritonclient.http``.

The same code talks to ``lenet-deploy serve`` on a laptop and to Triton (or KServe) serving
the repository written by ``lenet-deploy package``::

    python examples/client.py --url 127.0.0.1:8000 digit.png          # lenet-deploy serve
    python examples/client.py --url triton.example:8000 digit.png     # Triton / KServe

Steps: server and model health, model metadata, one binary-tensor inference returning the
logits, and the same request through the classification extension (top-k "score:index:label"
strings). Images are turned into model input by ``lenet_deploy.images.recipe.load_images``,
the recipe ``lenet-deploy predict`` uses (PNG/JPEG/.npy); pictures without a digit are not sent.
Exit 0 on
success, 1 if the server's classification disagrees with its logits, 2 on an error (one line on
stderr).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

INPUT, OUTPUT = "image", "logits"


def classify(url: str, model: str, batch: np.ndarray, top_k: int = 3, timeout_s: float = 10.0):
    """Run the four steps against ``url`` (host:port); returns a dict of what the server said."""
    client = httpclient.InferenceServerClient(
        url=url, connection_timeout=timeout_s, network_timeout=timeout_s
    )
    try:
        health = {
            "live": client.is_server_live(),
            "ready": client.is_server_ready(),
            "model_ready": client.is_model_ready(model),
        }
        if not all(health.values()):
            raise InferenceServerException(f"server at {url} is not ready: {health}")
        metadata = client.get_model_metadata(model)

        image = httpclient.InferInput(INPUT, list(batch.shape), "FP32")
        image.set_data_from_numpy(batch, binary_data=True)
        raw = httpclient.InferRequestedOutput(OUTPUT, binary_data=True)
        logits = client.infer(model, [image], outputs=[raw]).as_numpy(OUTPUT)

        ranked = httpclient.InferRequestedOutput(OUTPUT, binary_data=False, class_count=top_k)
        classes = client.infer(model, [image], outputs=[ranked]).as_numpy(OUTPUT)
    finally:
        client.close()
    return {
        "health": health,
        "metadata": metadata,
        "logits": logits.tolist(),
        "classes": [
            [_parse_class(entry) for entry in row] for row in classes.reshape(len(batch), -1)
        ],
    }


def _parse_class(entry) -> dict:
    """One classification entry, b"score:index" or b"score:index:label"."""
    text = entry.decode() if isinstance(entry, bytes) else str(entry)
    score, index, *label = text.split(":", 2)
    return {"score": float(score), "index": int(index), "label": label[0] if label else index}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG or .npy files")
    parser.add_argument("--url", default="127.0.0.1:8000", help="host:port (default: %(default)s)")
    parser.add_argument("--model", default="lenet", help="model name (default: %(default)s)")
    parser.add_argument("--top-k", type=int, default=3, help="classes to list (default: 3)")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    args = parser.parse_args(argv)
    from lenet_deploy.images.recipe import load_images

    try:
        loaded = [load_images(path) for path in args.images]
        # A picture without a digit is not sent: the model would give it a label all the same.
        batch = np.concatenate([b.pixels[b.has_digit] for b in loaded]).astype(np.float32)
        if not len(batch):
            raise ValueError("no image holds a digit")
        result = classify(args.url.removeprefix("http://"), args.model, batch, args.top_k)
    except Exception as exc:  # network, protocol and file errors: one line, exit 2
        print(f"client: error: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    skipped = sum(int((~b.has_digit).sum()) for b in loaded)
    if skipped:
        print(f"client: {skipped} image(s) without a digit not sent", file=sys.stderr)
    agree = [
        int(np.argmax(lg)) == row[0]["index"]
        for lg, row in zip(result["logits"], result["classes"], strict=True)
    ]
    result["classification_agrees"] = all(agree)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        meta = result["metadata"]
        print(
            f"{args.url}: live, ready; model {meta['name']} "
            f"{[(t['name'], t['datatype'], t['shape']) for t in meta['inputs']]}"
        )
        for i, row in enumerate(result["classes"]):
            top = ", ".join(f"{c['label']} ({c['score']:.2f})" for c in row)
            print(f"image {i}: {row[0]['label']}   top {len(row)} logits: {top}")
    return 0 if all(agree) else 1


if __name__ == "__main__":
    sys.exit(main())
