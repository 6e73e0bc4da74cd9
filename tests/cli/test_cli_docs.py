"""The bar check for issue 21: every ```bash block of docs/cli.md -- the commands with the new
flags -- runs as a user would paste it, in a folder with ``artifacts/`` and ``digit.png``."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCKS = re.findall(r"^```bash\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, exported_dir, digits):
    from PIL import Image

    folder = tmp_path_factory.mktemp("docs-cli")
    shutil.copytree(exported_dir, folder / "artifacts")
    ink = ((1 - digits.x_test[0, 0]) * 255).astype(np.uint8)  # dark digit on white paper
    Image.fromarray(ink).resize((96, 96)).save(folder / "digit.png")
    return folder


def test_the_page_has_blocks_for_the_new_flags():
    text = "\n".join(BLOCKS)
    for flag in ("--runtime ort-cpu,ov-cpu", "--json-file", "--json", "--concurrency 1:4:2",
                 '--model "127.0.0.1:$port"', "--plot bench.svg", "--quiet"):  # fmt: skip
        assert flag in text, flag


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_docs_cli_block_runs(workdir, index):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", BLOCKS[index]],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, f"block {index}:\n{BLOCKS[index]}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
