"""The targets table: lookups, the lowest release that loads a model, and the docs' copy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lenet_deploy.errors import PackageError
from lenet_deploy.packaging.targets import (
    DEFAULT_TRITON,
    KSERVE_DEFAULT_TRITON,
    TRITON_RELEASES,
    lowest_release_loading,
    triton_release,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deploying.md"


def test_default_is_kserve_s_triton_whose_onnxruntime_refuses_ir_10():
    release = triton_release(DEFAULT_TRITON)
    assert DEFAULT_TRITON == KSERVE_DEFAULT_TRITON == "23.05"
    assert release.onnxruntime == "1.15.0" and release.image_tag == "23.05-py3"
    assert not release.loads(10, 20) and release.loads(9, 18) and not release.loads(9, 19)


def test_lookup_takes_the_image_tag_and_refuses_unknown_releases():
    assert triton_release("24.05-py3").onnxruntime == "1.18.0"
    with pytest.raises(PackageError, match=r"unknown Triton release '22.12'; known: 23.05\.\."):
        triton_release("22.12")


@pytest.mark.parametrize(
    "ir, opset, lowest", [(10, 20, "24.05"), (9, 20, "24.03"), (9, 19, "23.09"), (8, 17, "23.05")]
)
def test_lowest_release_loading(ir, opset, lowest):
    assert lowest_release_loading(ir, opset).release == lowest


def test_nothing_in_the_table_loads_ir_13():
    assert lowest_release_loading(13, 20) is None


def test_docs_table_is_the_module_s_table():
    rows = re.findall(r"^\| (\d\d\.\d\d) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| (\d+) \|$",
                      DOCS.read_text(), re.MULTILINE)  # fmt: skip
    want = [
        (r.release, r.onnxruntime, r.openvino, str(r.max_ir_version), str(r.max_opset))
        for r in TRITON_RELEASES
    ]
    assert rows == want
