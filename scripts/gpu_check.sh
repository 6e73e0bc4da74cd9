#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU and this project installed with PyPI's torch 2.13
# (CUDA 13) and onnxruntime-gpu >= 1.27 (README, "GPU install"). Installs and downloads nothing;
# one run takes at most 10 minutes (each step has a time limit within that budget).
#
# Saves under $OUT (default: a temporary folder, printed at the end): env.json (versions,
# providers, GPU, driver), placement.json (where each ORT node runs), junit-gpu.xml and
# junit-contract.xml, parity.json, bench-<runtime>.json/.md (one bench call per runtime: a
# failure in one never hides the other's numbers), the same with CUDA graphs on
# (parity-graphs.json, bench-<runtime>-graphs.json/.md), refuse.log (negative control with
# CUDA_VISIBLE_DEVICES=""), logs/<step>.log, and summary.txt, whose last line is PASS or FAIL.
# Exit status 0 only on PASS. A gpu-marked test that skips is a failure.
#
#   bash scripts/gpu_check.sh                      # python3 from PATH
#   PYTHON=.venv/bin/python OUT=gpu-results MODEL=artifacts bash scripts/gpu_check.sh
#   bash scripts/gpu_check.sh --dry-run            # print the plan, run nothing
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
budget=${GPU_CHECK_BUDGET_S:-570}  # 10 minutes, less the summary
if [ "$dry" = 1 ]; then out=${OUT:-\$OUT}; else out=${OUT:-$(mktemp -d)}; fi
models=${MODEL:-$out/artifacts}
helper=scripts/gpu_check.py
sizes=1,64,1024,4096
if [ "$dry" = 0 ]; then
    mkdir -p "$out/logs"
    : >"$out/steps.tsv"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# step NAME LIMIT_S COMMAND...: runs COMMAND (output to logs/NAME.log and the terminal) within
# LIMIT_S seconds and what is left of the budget; records PASS or FAIL in steps.tsv.
step() {
    local name=$1 limit=$2
    shift 2
    if [ "$dry" = 1 ]; then
        printf '%-16s <= %3ss  %s\n' "$name" "$limit" "$*"
        return 0
    fi
    local left=$((budget - SECONDS))
    ((limit > left)) && limit=$left
    printf '\n== %s (<= %ss)\n' "$name" "$limit"
    if ((limit <= 0)); then
        printf '%s\tFAIL\tnot run: the 10-minute budget was spent\n' "$name" >>"$out/steps.tsv"
        return 1
    fi
    timeout "$limit" "$@" 2>&1 | tee "$out/logs/$name.log"
    local rc=${PIPESTATUS[0]}
    local note="exit $rc"
    ((rc == 124)) && note="timed out after ${limit}s"
    printf '%s\t%s\t%s\n' "$name" "$([ "$rc" = 0 ] && echo PASS || echo FAIL)" "$note" >>"$out/steps.tsv"
    return "$rc"
}

ld=("$py" -m lenet_deploy)

step env 60 "$py" "$helper" env "$out/env.json"
step gpu 60 "$py" "$helper" gpu-present
gpu=$?
[ "$dry" = 1 ] && gpu=0
if [ "$gpu" = 0 ]; then
    if [ "$dry" = 0 ]; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv \
            >"$out/nvidia-smi.csv" 2>&1 || true
    fi
    if [ -z "${MODEL:-}" ]; then
        step train 150 "${ld[@]}" train --epochs 3 --quiet --out "$models"
        step export 90 "${ld[@]}" export --checkpoint "$models/lenet.pt" --out "$models/lenet.onnx"
    fi
    step placement 60 "$py" "$helper" placement "$models" "$out/placement.json"
    step gpu-tests 150 "$py" -m pytest -q -rs -p no:cacheprovider -m gpu tests \
        --junitxml="$out/junit-gpu.xml"
    step gpu-no-skip 10 "$py" "$helper" junit "$out/junit-gpu.xml"
    step contract 150 "$py" -m pytest -q -rs -p no:cacheprovider tests/runtimes/test_contract.py \
        --junitxml="$out/junit-contract.xml"
    step parity 90 "${ld[@]}" verify --model "$models" --runtimes torch-cuda,ort-cuda --json "$out/parity.json"
    step parity-both 10 "$py" "$helper" parity "$out/parity.json" torch-cuda ort-cuda
    for runtime in torch-cuda ort-cuda ort-cpu; do
        step "bench-$runtime" 60 "${ld[@]}" bench --model "$models" --runtime "$runtime" \
            --batch-sizes "$sizes" --duration 0.5 --quiet \
            --json "$out/bench-$runtime.json" --markdown "$out/bench-$runtime.md"
    done
    # CUDA graphs are off by default until this run shows them equal to eager: parity and
    # bench with them on, so one run decides whether the default can change.
    graphs=(--option torch-cuda:cuda_graphs=true --option ort-cuda:cuda_graphs=true)
    step parity-graphs 90 "${ld[@]}" verify --model "$models" --runtimes torch-cuda,ort-cuda \
        "${graphs[@]}" --json "$out/parity-graphs.json"
    step parity-graphs-both 10 "$py" "$helper" parity "$out/parity-graphs.json" torch-cuda ort-cuda
    for runtime in torch-cuda ort-cuda; do
        step "bench-$runtime-graphs" 60 "${ld[@]}" bench --model "$models" --runtime "$runtime" \
            "${graphs[@]}" --batch-sizes "$sizes" --duration 0.5 --quiet \
            --json "$out/bench-$runtime-graphs.json" --markdown "$out/bench-$runtime-graphs.md"
    done
    # informational (not part of the verdict): ort-cpu's small-batch threshold on this host
    if [ "$dry" = 0 ] && ((budget - SECONDS > 90)); then
        timeout 60 "$py" benchmarks/ort_small_batch.py --model "$models" --duration 0.5 \
            >"$out/ort_small_batch.txt" 2>&1 || true
    fi
    CUDA_VISIBLE_DEVICES="" step refuse 60 "$py" "$helper" refuse "$models" torch-cuda ort-cuda
else
    printf 'rest\tFAIL\tnot run: no usable CUDA GPU (see logs/gpu.log)\n' >>"$out/steps.tsv"
fi

[ "$dry" = 1 ] && exit 0
printf '\n== summary (%s)\n' "$out"
"$py" "$helper" summary "$out"
