"""The bar check for issue 21: docs/cli.md shows the commands with the new flags, and
tests/test_docs.py runs every one of its blocks as a user would paste it."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_the_cli_page_runs_the_new_flags():
    blocks = "\n".join(re.findall(r"^```bash\n(.*?)^```", DOC.read_text(), flags=re.S | re.M))
    for flag in ("--runtime ort-cpu,ov-cpu", "--json-file", "--json digit.png",
                 "--concurrency 1:4:2", '--model "127.0.0.1:$PORT"', "--plot bench.svg",
                 "--plot load.png", "--markdown load.md", "--csv load.csv", "--quiet"):  # fmt: skip
        assert flag in blocks, flag
