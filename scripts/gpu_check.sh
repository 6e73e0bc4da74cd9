#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU and this project installed with a CUDA build of
# torch and onnxruntime-gpu (README, "GPU install"), run the GPU-marked tests and the runtime
# contract tests, parity of torch-cuda and ort-cuda against torch-cpu, and a short benchmark.
# Installs nothing and downloads nothing; takes 2-5 minutes. Results go to $OUT (default: a
# temporary folder, printed at the end).
#
#   bash scripts/gpu_check.sh            # uses `python` from PATH
#   PYTHON=.venv/bin/python OUT=gpu-results bash scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
models="$out/artifacts"
status=0

step() { printf '\n== %s\n' "$*"; }

step "environment"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "nvidia-smi not found"
"$py" - <<'PY'
import onnxruntime, torch
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), cuda available: "
      f"{torch.cuda.is_available()}", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
print(f"onnxruntime {onnxruntime.__version__}, providers: {onnxruntime.get_available_providers()}")
PY

step "runtimes"
"$py" -m lenet_deploy runtimes | tee "$out/runtimes.txt"

step "artifacts: short training + export (CPU)"
"$py" -m lenet_deploy train --epochs 5 --quiet --out "$models"
"$py" -m lenet_deploy export --checkpoint "$models/lenet.pt" --out "$models/lenet.onnx"

step "GPU tests and the runtime contract over every registered runtime"
"$py" -m pytest -q -rs -m gpu tests || status=1
"$py" -m pytest -q -rs tests/runtimes/test_contract.py || status=1

step "parity: torch-cuda and ort-cuda against torch-cpu (TF32 off)"
"$py" -m lenet_deploy verify --model "$models" --runtimes torch-cuda,ort-cuda \
    --json "$out/parity.json" || status=1

step "bench: CPU and GPU runtimes, end to end with H2D / compute / D2H phases"
"$py" -m lenet_deploy bench --model "$models" --runtime torch-cpu --runtime ort-cpu \
    --runtime torch-cuda --runtime ort-cuda --batch-sizes 1,64,256,1024 --duration 0.6 \
    --json "$out/bench.json" --markdown "$out/bench.md" --quiet || status=1

step "done (status $status); results in $out"
exit "$status"
