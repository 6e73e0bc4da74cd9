"""Helpers of scripts/gpu_check.sh, one subcommand each; every one exits non-zero on failure.

python scripts/gpu_check.py env OUT/env.json          versions, providers, GPU, driver
python scripts/gpu_check.py gpu-present               is there a usable CUDA GPU?
python scripts/gpu_check.py placement MODEL OUT.json  where each ORT node runs
python scripts/gpu_check.py junit FILE.xml            no failure, no error, no skip, >= 1 test
python scripts/gpu_check.py parity FILE.json NAME...  each NAME compared and passed
python scripts/gpu_check.py refuse MODEL NAME...      each NAME refuses to load (negative control)
python scripts/gpu_check.py summary OUT               OUT/summary.txt, last line PASS or FAIL
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

CUDA_RUNTIMES = ("torch-cuda", "ort-cuda")


def env(path: str) -> int:
    import onnxruntime

    from lenet_deploy.bench.runner import environment
    from lenet_deploy.runtimes import available_runtimes
    from lenet_deploy.runtimes.ort_diagnose import driver_version

    info = environment()
    info["ort_providers"] = onnxruntime.get_available_providers()
    info["nvidia_driver"] = driver_version()
    info["packages"] = {
        d.metadata["Name"]: d.version
        for d in metadata.distributions()
        if d.metadata["Name"] and d.metadata["Name"].lower().startswith(("nvidia", "cuda", "onnx"))
    }
    try:
        import torch

        info["torch_cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        info["torch_cuda"] = None
    info["runtimes"] = [a.to_dict() for a in available_runtimes()]
    Path(path).write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps({k: info.get(k) for k in ("torch", "torch_cuda", "onnxruntime", "gpus")}))
    return 0


def gpu_present() -> int:
    try:
        import torch
    except ImportError:
        print("no GPU check possible: torch is not installed")
        return 1
    if not torch.cuda.is_available():
        print(f"no usable CUDA GPU (torch {torch.__version__}, CUDA {torch.version.cuda})")
        return 1
    print(f"GPU: {torch.cuda.get_device_name(0)}")
    return 0


def placement(model: str, path: str) -> int:
    from lenet_deploy.errors import LenetDeployError
    from lenet_deploy.runtimes import load_runtime

    found, status = {}, 0
    for name in ("ort-cuda", "ort-cpu"):
        try:
            with load_runtime(name, model) as runtime:
                found[name] = runtime.info()
        except LenetDeployError as exc:
            found[name] = {"error": str(exc)}
            status = 1
    Path(path).write_text(json.dumps(found, indent=2) + "\n")
    for name, info in found.items():
        nodes = info.get("placement") or []
        where = sorted({n["provider"] for n in nodes})
        print(f"{name}: {len(nodes)} nodes on {where}" if nodes else f"{name}: {info}")
    return status


def junit(path: str) -> int:
    """0 when the JUnit file holds at least one test and no failure, error or skip."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    count = {
        k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")
    }
    print(", ".join(f"{v} {k}" for k, v in count.items()))
    for case in root.iter("testcase"):
        for child in case:
            if child.tag in ("skipped", "failure", "error"):
                print(f"  {child.tag}: {case.get('name')}: {child.get('message', '')[:300]}")
    bad = count["failures"] or count["errors"] or count["skipped"]
    return 1 if bad or not count["tests"] else 0


def parity(path: str, names: list[str]) -> int:
    records = {r["runtime"]: r for r in json.loads(Path(path).read_text())["records"]}
    status = 0
    for name in names:
        record = records.get(name)
        ok = bool(record) and record["status"] == "passed"
        status |= not ok
        detail = f"max |diff| {record['max_abs_diff']}" if ok else (record or {}).get("reason")
        print(f"{name}: {'passed' if ok else 'FAILED'} ({detail})")
    return status


def refuse(model: str, names: list[str]) -> int:
    """The negative control: with no visible GPU every name must refuse, never run on the CPU."""
    from lenet_deploy.errors import RuntimeUnavailableError
    from lenet_deploy.runtimes import available_runtimes, load_runtime

    listed = {a.name: a for a in available_runtimes()}
    status = 0
    for name in names:
        try:
            load_runtime(name, model).close()
        except RuntimeUnavailableError as exc:
            refused = not listed[name].available
            print(f"{name}: refused{'' if refused else ' (but listed as available)'}: {exc}")
            status |= not refused
            continue
        print(f"{name}: LOADED without a visible GPU")
        status = 1
    return status


def summary(out: str) -> int:
    """Steps as gpu_check.sh recorded them, the headline numbers, then PASS or FAIL."""
    folder = Path(out)
    steps = [line.split("\t") for line in (folder / "steps.tsv").read_text().splitlines()]
    lines = [f"{name:<14} {status}  {note}" for name, status, note in steps]
    for name in CUDA_RUNTIMES:
        lines.append(bench_line(folder / f"bench-{name}.json", name))
    verdict = "PASS" if steps and all(status == "PASS" for _, status, _ in steps) else "FAIL"
    text = "\n".join([*lines, verdict]) + "\n"
    (folder / "summary.txt").write_text(text)
    print(text, end="")
    return 0 if verdict == "PASS" else 1


def bench_line(path: Path, name: str) -> str:
    if not path.exists():
        return f"{name}: no bench numbers"
    by_batch = {m["batch_size"]: m for m in json.loads(path.read_text())["measurements"]}
    parts = []
    for b, m in sorted(by_batch.items()):
        compute = m.get("compute_ips")
        parts.append(
            f"b={b} p50 {m['p50_ms']:.3f} ms, {m['throughput_ips']:,.0f} img/s"
            + (f", compute {compute:,.0f} img/s" if compute else "")
            + f", first {m['first_inference_ms']:.1f} ms"
        )
    return f"{name}: " + "; ".join(parts)


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "env":
        return env(args[0])
    if command == "gpu-present":
        return gpu_present()
    if command == "placement":
        return placement(args[0], args[1])
    if command == "junit":
        return junit(args[0])
    if command == "parity":
        return parity(args[0], args[1:])
    if command == "refuse":
        return refuse(args[0], args[1:])
    if command == "summary":
        return summary(args[0])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["help"]))
