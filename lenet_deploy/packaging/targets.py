"""The deploy targets ``package`` writes for, as data: which engine versions run the model.

Triton runs an ONNX model in the onnxruntime it bundles, so what a Triton release loads is
what that onnxruntime loads. Each release line below names its bundled onnxruntime and
OpenVINO as Triton's own ``build.py`` pins them (``TRITON_VERSION_MAP`` on the tags
v2.34.0..v2.52.0, ``DEFAULT_TRITON_VERSION_MAP`` on v2.53.0..v2.71.0 of
triton-inference-server/server; release 2.N.0 is container YY.MM). KServe's Triton runtime
(``kserve-tritonserver``) is pinned to ``tritonserver:23.05-py3`` in kserve/kserve
``config/runtimes/kustomization.yaml`` and the Helm chart's values, so a stock KServe install
gives 23.05 unless the InferenceService sets ``runtimeVersion``.

What an onnxruntime loads (:data:`ORT_LIMITS`) was measured with the PyPI wheel of each minor
release (``scripts/probe_ort_limits.py``), not read from release notes: the highest IR version
is the one it accepts for a one-node model; the highest opset is the one at which LeNet's own
operators (Conv, MaxPool, Relu, Reshape, Gemm, Sub, Div) load *and run*. That differs from
what an onnxruntime declares: 1.15 accepts opset 19 models but has no Reshape-19 kernel
(``NOT_IMPLEMENTED``), so for LeNet it stops at 18. ``package --check PYTHON`` re-checks a
package with the real wheel (CI does it for 1.15.1, 1.17.3 and 1.18.0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import PackageError

#: onnxruntime minor release -> (highest IR version, highest opset for LeNet's operators).
ORT_LIMITS: dict[str, tuple[int, int]] = {
    "1.15": (9, 18),  # measured: onnxruntime==1.15.1 (declares opset 19; no Reshape-19 kernel)
    "1.16": (9, 19),  # measured: onnxruntime==1.16.3
    "1.17": (9, 20),  # measured: onnxruntime==1.17.3
    "1.18": (10, 21),  # measured: onnxruntime==1.18.0
    "1.19": (10, 21),  # measured: onnxruntime==1.19.2
    "1.20": (10, 21),  # measured: onnxruntime==1.20.1
    "1.21": (10, 22),  # measured: onnxruntime==1.21.0
    "1.22": (10, 22),  # measured: onnxruntime==1.22.0
    # Opset 23 is the highest the exporters write (exporters/onnx.py), so the highest tested.
    "1.23": (11, 23),  # measured: onnxruntime==1.23.2
    "1.24": (12, 23),  # measured: onnxruntime==1.24.4 (declares opset 25)
    "1.27": (12, 23),  # measured: onnxruntime==1.27.0 (declares opset 26)
}

#: Triton release -> (bundled onnxruntime, bundled standalone OpenVINO), from build.py.
_TRITON = {
    "23.05": ("1.15.0", "2022.1.0"),
    "23.06": ("1.15.0", "2022.1.0"),
    "23.07": ("1.15.1", "2023.0.0"),
    "23.08": ("1.15.1", "2023.0.0"),
    "23.09": ("1.16.0", "2023.0.0"),
    "23.10": ("1.16.0", "2023.0.0"),
    "23.11": ("1.16.3", "2023.0.0"),
    "23.12": ("1.16.3", "2023.0.0"),
    "24.01": ("1.16.3", "2023.0.0"),
    "24.02": ("1.16.3", "2023.3.0"),
    "24.03": ("1.17.2", "2023.3.0"),
    "24.04": ("1.17.3", "2023.3.0"),
    "24.05": ("1.18.0", "2023.3.0"),
    "24.06": ("1.18.0", "2024.0.0"),
    "24.07": ("1.18.1", "2024.0.0"),
    "24.08": ("1.19.0", "2024.0.0"),
    "24.09": ("1.19.2", "2024.0.0"),
    "24.10": ("1.19.2", "2024.4.0"),
    "24.11": ("1.19.2", "2024.4.0"),
    "24.12": ("1.20.1", "2024.5.0"),
    "25.01": ("1.20.1", "2024.4.0"),
    "25.02": ("1.20.1", "2025.0.0"),
    "25.03": ("1.21.0", "2025.0.0"),
    "25.04": ("1.21.0", "2025.0.0"),
    "25.05": ("1.22.0", "2025.1.0"),
    "25.06": ("1.22.0", "2025.1.0"),
    "25.07": ("1.22.0", "2025.1.0"),
    "25.08": ("1.23.0", "2025.2.0"),
    "25.09": ("1.23.0", "2025.3.0"),
    "25.10": ("1.23.1", "2025.3.0"),
    "25.11": ("1.23.2", "2025.3.0"),
    "25.12": ("1.23.2", "2025.4.0"),
    "26.01": ("1.23.2", "2025.4.1"),
    "26.02": ("1.24.1", "2025.4.1"),
    "26.03": ("1.24.2", "2026.0.0"),
    "26.04": ("1.24.4", "2026.1.0"),
    "26.05": ("1.24.4", "2026.1.0"),
    "26.06": ("1.24.4", "2026.2.0"),
    "26.07": ("1.27.0", "2026.2.0"),
}

#: The Triton a stock KServe install runs (kserve-tritonserver's image tag).
KSERVE_DEFAULT_TRITON = "23.05"
#: ``package --triton-version`` default: what KServe gives unless told otherwise.
DEFAULT_TRITON = KSERVE_DEFAULT_TRITON
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver"


@dataclass(frozen=True)
class TritonRelease:
    """One Triton release line: its container, bundled engines and what they load."""

    release: str
    onnxruntime: str
    openvino: str
    max_ir_version: int
    max_opset: int

    @property
    def image_tag(self) -> str:
        """The container tag, which is also KServe's ``runtimeVersion`` for it."""
        return f"{self.release}-py3"

    @property
    def ort_minor(self) -> str:
        return ".".join(self.onnxruntime.split(".")[:2])

    def loads(self, ir_version: int, opset: int) -> bool:
        return ir_version <= self.max_ir_version and opset <= self.max_opset

    def to_dict(self) -> dict:
        return {**asdict(self), "image": f"{TRITON_IMAGE}:{self.image_tag}"}


def _release(name: str) -> TritonRelease:
    ort, openvino = _TRITON[name]
    ir, opset = ORT_LIMITS[".".join(ort.split(".")[:2])]
    return TritonRelease(name, ort, openvino, ir, opset)


TRITON_RELEASES: tuple[TritonRelease, ...] = tuple(_release(n) for n in _TRITON)


def triton_release(name: str) -> TritonRelease:
    """The release ``name`` (``YY.MM``, a ``-py3`` suffix allowed); PackageError names the
    known range when it is not in the table."""
    key = str(name).removesuffix("-py3")
    for release in TRITON_RELEASES:
        if release.release == key:
            return release
    raise PackageError(
        f"unknown Triton release {name!r}; known: {TRITON_RELEASES[0].release}.."
        f"{TRITON_RELEASES[-1].release} (YY.MM, e.g. --triton-version {DEFAULT_TRITON})"
    )


def lowest_release_loading(ir_version: int, opset: int) -> TritonRelease | None:
    """The oldest release whose onnxruntime loads a model of this IR version and opset."""
    return next((r for r in TRITON_RELEASES if r.loads(ir_version, opset)), None)
