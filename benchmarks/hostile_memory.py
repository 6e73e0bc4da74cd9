"""Peak memory of each bounded hostile case, each in a fresh interpreter.

    python benchmarks/hostile_memory.py [--model DIR] [--images 100000]

Prints one row per case: the outcome (exit code / refusal) and the process's peak RSS
(``VmHWM``), next to the baseline of the same imports doing nothing. ``--model`` is an
artifacts directory with lenet.onnx (default: a 1-epoch model trained into a temp folder).
"""

from __future__ import annotations

import argparse
import gzip
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec from the parent process.
PEAK = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('PEAK_KB', [l.split()[1] for l in open('/proc/self/status')"
    " if l.startswith('VmHWM')][0], file=sys.stderr))\n"
)


def measure(code: str) -> tuple[int, float, str]:
    proc = subprocess.run(
        [sys.executable, "-c", PEAK + code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=1200,
    )
    peak = [int(x.split()[1]) for x in proc.stderr.splitlines() if x.startswith("PEAK_KB")][-1]
    errors = [x for x in proc.stderr.splitlines() if "error:" in x]
    return proc.returncode, peak / 1024, (errors[0] if errors else "")[:90]


def cli(*args: str) -> str:
    return (
        "import os, sys\nsys.stdout = open(os.devnull, 'w')\n"
        f"from lenet_deploy.cli import main\nsys.exit(main({list(args)!r}))\n"
    )


def make_cases(tmp: Path, model: Path, images: int) -> dict[str, str]:
    bomb = tmp / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, bytes(1 << 20))
        info.file_size = 0xF000_0000
    mnist = tmp / "mnist"
    mnist.mkdir()
    with gzip.open(mnist / "train-images-idx3-ubyte.gz", "wb", compresslevel=1) as fh:
        fh.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 60_000, 28, 28))
        for _ in range(16):
            fh.write(bytes(64 << 20))  # 1 GiB inflated
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (mnist / f"{name}.gz").write_bytes(gzip.compress(b""))
    huge_npy = tmp / "huge.npy"
    with open(huge_npy, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "|u1", "fortran_order": False, "shape": (2**31, 28, 28)}
        )
    png = tmp / "huge.png"

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0)
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    many = tmp / "many.npy"
    np.save(many, np.random.default_rng(0).integers(0, 255, (images, 28, 28), dtype=np.uint8))
    out, m = str(tmp / "out"), str(model)
    return {
        "baseline: imports only": "import torch, onnxruntime, lenet_deploy.cli",
        "zip-bomb .pt (declares 3.75 GiB)": cli(
            "export", "--checkpoint", str(bomb), "--out", out + ".onnx"
        ),
        "gzip-bomb MNIST (1 GiB inflated)": cli("train", "--data", f"mnist:{mnist}", "--out", out),
        ".npy header claiming 2^31 images": cli("predict", str(huge_npy), "--model", m),
        "30000x30000 PNG": cli("predict", str(png), "--model", m),
        "bench --batch-sizes 1000000": cli("bench", "--model", m, "--batch-sizes", "1000000"),
        # the cap itself: one 256 MiB input batch, the engine fed in chunks
        "bench ort-cpu --batch-sizes 65536": cli(
            "bench",
            "--model",
            m,
            "--runtime",
            "ort-cpu",
            "--batch-sizes",
            "65536",
            "--warmup",
            "1",
            "--iterations",
            "1",
            "--quiet",
        ),  # fmt: skip
        f"predict {images:,} images (.npy)": cli("predict", str(many), "--model", m),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--images", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model = Path(args.model) if args.model else tmp / "model"
        if not args.model:
            sys.path.insert(0, str(REPO))
            from lenet_deploy.exporters.onnx import export_onnx
            from lenet_deploy.model.train import TrainConfig, train

            train(TrainConfig(epochs=1), model, progress=False)
            export_onnx(model / "lenet.pt", model / "lenet.onnx")
        print(f"{'case':<36} {'exit':>4} {'peak MB':>8}  error line")
        for name, code in make_cases(tmp, model, args.images).items():
            rc, peak, line = measure(code)
            print(f"{name:<36} {rc:>4} {peak:>8.0f}  {line}")


if __name__ == "__main__":
    main()
