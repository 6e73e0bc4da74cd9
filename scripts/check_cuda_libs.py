"""Check that an onnxruntime-gpu install finds every CUDA library its CUDA provider needs.

Run by the Python of the install to check (the GPU serve image, or a venv made from
docker/requirements-gpu.txt as .ci/deploy_check.sh does); needs no GPU::

    python scripts/check_cuda_libs.py               # check; exit 1 naming what is missing
    python scripts/check_cuda_libs.py --print-dirs  # the library folders, one a line

The library folders are the ``nvidia/*/lib`` folders of NVIDIA's wheels in site-packages.
Dockerfile.gpu registers exactly these with the dynamic linker; the check runs ``ldd`` with
``LD_LIBRARY_PATH`` set to them on ``libonnxruntime_providers_cuda.so`` and on every library
in them (cuDNN loads its sub-libraries itself, so their dependencies count too), and checks
that the libraries onnxruntime opens at run time rather than links (cuDNN 9) are there.
``libcuda.so.1`` is the driver: the NVIDIA container runtime mounts it from the host, so no
image carries it and its absence here is expected.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import sysconfig

#: Provided by the host's driver at run time, never by an image.
DRIVER_LIBRARIES = {"libcuda.so.1"}
#: Opened with dlopen by onnxruntime's CUDA provider, so ldd does not list them.
OPENED_AT_RUN_TIME = ("libcudnn.so.9",)
_NOT_FOUND = re.compile(r"^\s*(\S+) => not found", re.MULTILINE)


def library_dirs():
    roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    found = set()
    for root in roots:
        for lib in glob.glob(os.path.join(root, "nvidia", "*", "lib")):
            if glob.glob(os.path.join(lib, "*.so*")):
                found.add(lib)
    return sorted(found)


def cuda_provider():
    import importlib.util

    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(
        spec.submodule_search_locations[0], "capi", "libonnxruntime_providers_cuda.so"
    )
    return path if os.path.isfile(path) else None


def missing(libraries, dirs):
    env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(dirs)}
    gone = {}
    for lib in libraries:
        out = subprocess.run(["ldd", lib], capture_output=True, text=True, env=env).stdout
        for name in _NOT_FOUND.findall(out):
            if name not in DRIVER_LIBRARIES:
                gone.setdefault(name, []).append(os.path.basename(lib))
    return gone


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print-dirs", action="store_true", help="print the library folders")
    args = parser.parse_args(argv)
    dirs = library_dirs()
    if args.print_dirs:
        print("\n".join(dirs))
        return 0 if dirs else 1
    provider = cuda_provider()
    if provider is None:
        print(
            "no onnxruntime-gpu here: libonnxruntime_providers_cuda.so not found", file=sys.stderr
        )
        return 1
    libraries = [provider] + sorted(
        f for d in dirs for f in glob.glob(os.path.join(d, "*.so*")) if os.path.isfile(f)
    )
    gone = missing(libraries, dirs)
    names = {os.path.basename(f) for f in libraries}
    for lib in OPENED_AT_RUN_TIME:
        if lib not in names:
            gone.setdefault(lib, []).append("onnxruntime (opened at run time)")
    for name, needers in sorted(gone.items()):
        print(f"missing {name} (needed by {', '.join(sorted(set(needers)))})", file=sys.stderr)
    if gone:
        return 1
    print(
        f"all libraries found: {len(libraries)} checked with ldd ({os.path.basename(provider)} "
        f"and {len(libraries) - 1} from {len(dirs)} nvidia/*/lib folders); "
        f"{', '.join(sorted(DRIVER_LIBRARIES))} comes from the host's driver"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
