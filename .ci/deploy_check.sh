#!/usr/bin/env bash
# The deploy-only install, as the serve image (Dockerfile) has it: a fresh venv with
# `pip install ".[serve]"` plus tritonclient for the client, no torch. Asserts torch is absent,
# then runs predict, package and serve + examples/client.py on an ONNX model made elsewhere.
#
#   .ci/deploy_check.sh path/to/lenet.onnx
set -euo pipefail
model="$(realpath "${1:?usage: .ci/deploy_check.sh path/to/lenet.onnx}")"
cd "$(dirname "$0")/.."
repo="$PWD"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
pip install -q ".[serve]" "tritonclient[http]"
if python -c "import torch" 2>/dev/null; then
    echo "deploy check: torch is installed in the deploy-only venv" >&2
    exit 1
fi
echo "deploy check: site-packages $(du -sm "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" | cut -f1) MB, no torch"

# Run from an empty folder so the installed package is used, not the source tree.
cd "$work"
python - <<'PY'
import numpy as np
from lenet_deploy.data.datasets import load_dataset
np.save("digits.npy", load_dataset("digits").x_test[:8])
PY
lenet-deploy predict --model "$model" digits.npy
lenet-deploy runtimes
lenet-deploy package --model "$model" --out model_repository

port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
lenet-deploy serve --runtime ort-cpu --model model_repository/lenet/1/model.onnx \
    --host 127.0.0.1 --port "$port" > serve.log 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do
    if python -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/v2/health/ready', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "deploy check: lenet-deploy serve exited:" >&2
        cat serve.log >&2
        exit 1
    fi
    sleep 0.2
done
python "$repo/examples/client.py" --url "127.0.0.1:$port" digits.npy
echo "deploy check: predict, package, serve and the tritonclient round trip passed without torch"
