#!/usr/bin/env bash
# The deploy installs, as the serve images have them, and the deploy targets, checked with the
# engines that run them. Steps (each fails the check):
#  1. CPU image install (Dockerfile): docker/requirements-cpu.txt, then the project --no-deps;
#     no torch, no onnxruntime-gpu. predict, package, serve + examples/client.py from it.
#  2. Triton targets: package for 23.05, 24.04 and 24.05 and run each packaged model in that
#     release's onnxruntime (side venvs SIDE/ort-1.15.1, ort-1.17.3, ort-1.18.0), compared
#     with the export (package --check).
#  3. KServe: the default kserve package (CPU and GPU) validated by KServe's own models
#     (SIDE/kserve, scripts/validate_kserve.py); the serve manifest's container command run
#     as written, answering under the InferenceService's name.
#  4. GPU image install (Dockerfile.gpu) in a venv: it resolves, and every library the CUDA
#     provider links against is found there (scripts/check_cuda_libs.py; no GPU needed).
#
#   .ci/deploy_check.sh path/to/lenet.onnx SIDE
set -euo pipefail
model="$(realpath "${1:?usage: .ci/deploy_check.sh path/to/lenet.onnx SIDE_VENVS}")"
side="$(realpath "${2:?usage: .ci/deploy_check.sh path/to/lenet.onnx SIDE_VENVS}")"
cd "$(dirname "$0")/.."
repo="$PWD"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
say() { echo "deploy check: $*"; }

start_server() {  # start_server LOG ARGS...: serve in the background until ready
    local log="$1"
    shift
    lenet-deploy "$@" > "$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 150); do
        if python -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/v2/health/ready', timeout=1)" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            say "lenet-deploy serve exited:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.2
    done
    say "lenet-deploy serve did not become ready" >&2
    exit 1
}
stop_server() {
    kill "$server_pid"
    wait "$server_pid" || true
    server_pid=""
}
free_port() {
    python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# 1. The CPU image's install.
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
pip install -q -r docker/requirements-cpu.txt "tritonclient[http]"
pip install -q --no-deps .
if python -c "import torch" 2>/dev/null; then
    say "torch is installed in the deploy-only venv" >&2
    exit 1
fi
if pip show -q onnxruntime-gpu 2>/dev/null; then
    say "onnxruntime-gpu is installed beside onnxruntime" >&2
    exit 1
fi
# --no-deps leaves exactly one unmet requirement, by design: pyproject's onnxruntime-gpu.
unmet="$(pip check 2>&1 | grep -v 'requires onnxruntime-gpu, which is not installed' || true)"
if [ -n "$unmet" ] && [ "$unmet" != "No broken requirements found." ]; then
    say "pip check: $unmet" >&2
    exit 1
fi
say "CPU image install: site-packages $(du -sm "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" | cut -f1) MB, onnxruntime $(python -c 'import onnxruntime; print(onnxruntime.__version__)') (CPU build), no torch"

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
port="$(free_port)"
start_server serve.log serve --runtime ort-cpu --model model_repository/lenet/1/model.onnx \
    --host 127.0.0.1 --port "$port"
python "$repo/examples/client.py" --url "127.0.0.1:$port" digits.npy
stop_server
say "predict, package, serve and the tritonclient round trip passed without torch"

# 2. Each Triton release's own onnxruntime loads what package wrote for it.
for pair in 23.05:1.15.1 24.04:1.17.3 24.05:1.18.0; do
    release="${pair%%:*}" ort="${pair##*:}"
    lenet-deploy package --model "$model" --out "triton-$release" --triton-version "$release" \
        --check "$side/ort-$ort/bin/python"
done
say "Triton 23.05, 24.04 and 24.05: packaged models load in onnxruntime 1.15.1, 1.17.3, 1.18.0 and match the export"

# 3. KServe's own models accept the manifests; the serve container's command works as written.
image=registry.example.com/team/lenet-deploy-serve:0.1.0
lenet-deploy package --format kserve --model "$model" --out kserve-cpu \
    --storage-uri s3://bucket/lenet/model_repository --image "$image" \
    --service-account lenet-storage --check "$side/ort-1.15.1/bin/python"
lenet-deploy package --format kserve --device gpu --model "$model" --out kserve-gpu \
    --storage-uri s3://bucket/lenet/model_repository --image "$image-gpu"
"$side/kserve/bin/python" "$repo/scripts/validate_kserve.py" kserve-*/inferenceservice-*.yaml
port="$(free_port)"
mapfile -t container_args < <(python - "$port" <<'PY'
import json, sys
text = open("kserve-cpu/inferenceservice-serve.yaml").read()
doc = json.loads("\n".join(l for l in text.splitlines() if not l.startswith("#")))
(container,) = doc["spec"]["predictor"]["containers"]
env = {e["name"]: e["value"] for e in container["env"]}
assert env["PROTOCOL"] == "v2", env
args = container["args"]
args[args.index("--port") + 1] = sys.argv[1]
args[args.index("--host") + 1] = "127.0.0.1"  # the pod binds 0.0.0.0; this check, loopback
# KServe's storage initializer copies storageUri to /mnt/models: here, the local package.
args = [a.replace("/mnt/models", "kserve-cpu/model_repository") for a in args]
print("\n".join(args))
PY
)
start_server kserve-serve.log "${container_args[@]}"
python "$repo/examples/client.py" --url "127.0.0.1:$port" --model lenet-serve digits.npy
stop_server
say "KServe manifests pass kserve's models; the serve container answers as lenet-serve over v2"
deactivate

# 4. The GPU image's install resolves and its CUDA libraries are all there.
python3 -m venv "$work/gpu"
"$work/gpu/bin/pip" install -q -r "$repo/docker/requirements-gpu.txt"
"$work/gpu/bin/pip" install -q --no-deps "$repo"
if "$work/gpu/bin/python" -c "import torch" 2>/dev/null \
    || "$work/gpu/bin/pip" show -q onnxruntime 2>/dev/null; then
    say "the GPU image install has torch or the CPU onnxruntime" >&2
    exit 1
fi
"$work/gpu/bin/python" "$repo/scripts/check_cuda_libs.py"
say "GPU image install: $(du -sm "$work/gpu" | cut -f1) MB; CUDA provider libraries all found"
