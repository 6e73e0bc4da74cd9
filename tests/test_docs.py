"""The docs run: every ```bash and ```python block of README.md and docs/**/*.md is a test.

The conventions (README.md's "Docs that run" states them for readers):

- ```text (or ```toml, ```json, ...) never runs; ```bash and ```python always run, each in a
  fresh temporary folder holding ``artifacts/`` (a small trained model: lenet.pt, metrics.json,
  lenet.onnx) and ``digit.png`` (docs/digit.png), with ``lenet-deploy`` on PATH and ``$PORT``
  set to a free loopback port. Shell blocks run under ``bash -euo pipefail``; a command that is
  meant to fail is written ``cmd || echo "exit $?"``. Python blocks run in a fresh interpreter.
- A block whose first line is ``# needs: gpu`` (or ``docker``, ``kubernetes``) is skipped with
  that reason; nothing else is skipped.
- A block whose first line is ``# ci: FILE`` (the quick start's installs) is run by CI as
  written: the test checks that every command line of it is a line of FILE.
- ``<!-- output -->`` on the line after a runnable block, then a ```text block: the block's
  stdout and stderr together must match it, line by line; a line ``...`` stands for any
  number of lines, and ``...`` inside a line for any text.
- A block must stop every process it starts (servers: ``kill $!; wait $!``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

RUNNABLE = {"bash", "python"}
NEEDS = {"gpu", "docker", "kubernetes"}
#: Fence languages that would look runnable to a reader but are not run: refused.
AMBIGUOUS = {"", "sh", "shell", "console", "py", "python3", "pycon", "zsh"}
BLOCK_TIMEOUT_S = 300
README_MAX_BYTES = 12 * 1024

OPEN = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
CLOSE = re.compile(r"^\s*```\s*$")
OUTPUT_MARK = "<!-- output -->"


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    expected: str | None = None  # the ```text block after <!-- output -->

    @property
    def first_line(self) -> str:
        return next((ln.strip() for ln in self.code.splitlines() if ln.strip()), "")

    @property
    def needs(self) -> str | None:
        m = re.fullmatch(r"#\s*needs:\s*(\S+)", self.first_line)
        return m.group(1) if m else None

    @property
    def ci_file(self) -> str | None:
        m = re.fullmatch(r"#\s*ci:\s*(\S+).*", self.first_line)
        return m.group(1) if m else None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def parse_blocks(text: str, page: str) -> list[Block]:
    """Every fenced block of a Markdown page, with the expected output attached to the
    runnable block it follows."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    pending_output = False
    while i < len(lines):
        m = OPEN.match(lines[i])
        if not m:
            if lines[i].strip() == OUTPUT_MARK:
                pending_output = True
            elif lines[i].strip():
                pending_output = False
            i += 1
            continue
        start, indent = i, len(m.group("indent"))
        i += 1
        body = []
        while i < len(lines) and not CLOSE.match(lines[i]):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"{page}:{start + 1}: the fence is never closed")
        i += 1
        code = textwrap.dedent("\n".join(ln[indent:] if ln[:indent].isspace() else ln
                                         for ln in body)) + "\n"  # fmt: skip
        lang = m.group("lang")
        if pending_output and lang == "text" and blocks and blocks[-1].lang in RUNNABLE:
            prev = blocks[-1]
            blocks[-1] = Block(prev.page, prev.line, prev.lang, prev.code, code)
        blocks.append(Block(page, start + 1, lang, code))
        pending_output = False
    return blocks


def all_blocks() -> list[Block]:
    out = []
    for path in pages():
        out += parse_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    return out


def output_matches(expected: str, actual: str) -> bool:
    """``expected`` against ``actual`` line by line: a line ``...`` is any number of lines,
    ``...`` inside a line any text; trailing spaces and blank edges do not count."""
    pattern = []
    for line in expected.strip("\n").splitlines():
        line = line.rstrip()
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(".*?".join(re.escape(part) for part in line.split("...")) + r"\n")
    return re.fullmatch("".join(pattern), normalise(actual), flags=re.S) is not None


def normalise(output: str) -> str:
    # A progress bar rewrites its line with \r: keep what the terminal would finally show.
    lines = [ln.rsplit("\r", 1)[-1].rstrip() for ln in output.split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- the runner
@pytest.fixture(scope="session")
def docs_template(exported_dir, tmp_path_factory) -> Path:
    """What every block starts from: artifacts/ (the session's small model), digit.png (also as
    docs/digit.png), and a bin/ with ``lenet-deploy`` running this checkout."""
    root = tmp_path_factory.mktemp("docs-template")
    work = root / "work"
    (work / "artifacts").mkdir(parents=True)
    for name in ("lenet.pt", "metrics.json", "lenet.onnx"):
        shutil.copy2(exported_dir / name, work / "artifacts" / name)
    shutil.copy2(REPO / "docs" / "digit.png", work / "digit.png")
    (work / "docs").mkdir()  # where it is in a clone, for the README's first success
    shutil.copy2(REPO / "docs" / "digit.png", work / "docs" / "digit.png")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "lenet-deploy"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m lenet_deploy "$@"\n')
    shim.chmod(0o755)
    return root


def block_env(template: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(template / "bin"), str(Path(sys.executable).parent), env.get("PATH", "")]
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PORT"] = str(free_port())
    env["REPO"] = str(REPO)
    env.pop("LENET_DEPLOY_UPDATE_SCREENSHOT", None)
    return env


def run_block(block: Block, template: Path, work: Path, grace_s: float = 10.0) -> str:
    shutil.copytree(template / "work", work)
    if block.lang == "bash":
        script = work.parent / "block.sh"
        script.write_text(block.code)
        cmd = ["bash", "-euo", "pipefail", str(script)]
    else:
        script = work.parent / "block.py"
        script.write_text(block.code)
        cmd = [sys.executable, str(script)]
    # Output goes to a file, not a pipe: a process the block leaves behind would hold a pipe
    # open, and reading it would wait for that process instead of the block.
    log = work.parent / f"{work.name}.out"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=work, env=block_env(template), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            proc.wait(timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            output = log.read_text(errors="replace")
            pytest.fail(f"{block.id}: still running after {BLOCK_TIMEOUT_S} s:\n{output[-4000:]}")
    left = _stop_leftovers(proc.pid, grace_s)
    output = log.read_text(errors="replace")
    assert proc.returncode == 0, f"{block.id}: exit {proc.returncode}:\n{output[-4000:]}"
    assert not left, f"{block.id}: left processes running (stop what it starts):\n{output}"
    return output


def _stop_leftovers(pgid: int, grace_s: float) -> bool:
    """Wait for the block's process group to empty; kill what remains. True if any did."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


BLOCKS = all_blocks()
RUN = [b for b in BLOCKS if b.lang in RUNNABLE and not b.ci_file]
CI = [b for b in BLOCKS if b.lang in RUNNABLE and b.ci_file]


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_block_runs(block: Block, docs_template, tmp_path):
    if block.needs:
        assert block.needs in NEEDS, f"{block.id}: '# needs: {block.needs}' is not one of {NEEDS}"
        pytest.skip(f"needs {block.needs}")
    output = run_block(block, docs_template, tmp_path / "work")
    if block.expected is not None:
        assert output_matches(block.expected, output), (
            f"{block.id}: the output differs from the page's.\n--- page:\n{block.expected}"
            f"--- got:\n{normalise(output)}"
        )


@pytest.mark.parametrize("block", CI, ids=[b.id for b in CI])
def test_ci_runs_the_block_as_written(block: Block):
    ci = REPO / block.ci_file
    assert ci.is_file(), f"{block.id}: '# ci: {block.ci_file}' names no file"
    ci_lines = {ln.strip() for ln in ci.read_text().splitlines()}
    for line in block.code.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            assert line in ci_lines, f"{block.id}: {block.ci_file} does not run: {line}"


# --------------------------------------------------------------------------- the pages
def test_every_fence_says_whether_it_runs():
    bad = [f"{b.id} ```{b.lang}" for b in BLOCKS if b.lang in AMBIGUOUS]
    assert not bad, "use ```bash or ```python (runs) or ```text (does not): " + ", ".join(bad)


def test_needs_markers_are_known():
    bad = [f"{b.id}: {b.needs}" for b in BLOCKS if b.needs and b.needs not in NEEDS]
    assert not bad, bad


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _links(path: Path) -> list[tuple[Path, str]]:
    """(target file, anchor) of every relative link on a page."""
    out = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        file, _, anchor = target.partition("#")
        out.append(((path.parent / file).resolve() if file else path, anchor))
    return out


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r"^#+\s+(.+?)\s*$", path.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def test_readme_is_a_map_of_every_page():
    readme = REPO / "README.md"
    assert len(readme.read_bytes()) <= README_MAX_BYTES, len(readme.read_bytes())
    seen, todo = {readme.resolve()}, [readme]
    while todo:  # every page is reachable from the README by links
        for target, _ in _links(todo.pop()):
            if target.suffix == ".md" and target.exists() and target not in seen:
                seen.add(target)
                todo.append(target)
    missing = [str(p.relative_to(REPO)) for p in pages() if p.resolve() not in seen]
    assert not missing, f"no link leads from README.md to {missing}"


def test_relative_links_resolve():
    broken = []
    for path in pages():
        for target, anchor in _links(path):
            if not target.exists():
                broken.append(f"{path.relative_to(REPO)} -> {target}")
            elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
                broken.append(f"{path.relative_to(REPO)} -> {target.name}#{anchor}")
    assert not broken, broken


def test_layout_names_every_module():
    """README's Layout block names every subpackage and module, so the tree cannot drift."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    words = set(re.findall(r"\w+", readme.split("## Layout", 1)[1]))
    missing = sorted(
        str(p.relative_to(REPO)) for p in (REPO / "lenet_deploy").rglob("*.py")
        if "__pycache__" not in p.parts
        and (p.parent.name if p.stem == "__init__" else p.stem) not in words
    )  # fmt: skip
    assert not missing, f"README.md's Layout names no {missing}: add them"


def test_limits_page_is_current():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from docs_limits import render
    finally:
        sys.path.pop(0)
    page = REPO / "docs" / "limits.md"
    assert page.read_text(encoding="utf-8") == render(), (
        "docs/limits.md is stale: regenerate it with `python scripts/docs_limits.py`"
    )


# --------------------------------------------------------------------------- the runner itself
def test_parser_attaches_expected_output_and_markers():
    page = textwrap.dedent(
        """\
        text
        ```bash
        echo hi
        ```
        <!-- output -->
        ```text
        hi
        ```
        * item:

          ```python
          # needs: gpu
          print(1)
          ```
        """
    )
    blocks = parse_blocks(page, "p.md")
    assert [(b.lang, b.line) for b in blocks] == [("bash", 2), ("text", 6), ("python", 11)]
    assert blocks[0].expected == "hi\n" and blocks[2].expected is None
    assert blocks[2].needs == "gpu" and blocks[2].code.startswith("# needs: gpu\nprint(1)")


def test_output_wildcards():
    assert output_matches("a\n...\nd\n", "a\nb\nc\nd\n")
    assert output_matches("a\n...\nd", "a\nd\n")
    assert output_matches("x: 7 (...)", "x: 7 (71.9%)\n")
    assert output_matches("bar", "10%\r50%\rbar\n")
    assert not output_matches("a\nd", "a\nb\nd\n")
    assert not output_matches("x: 7 (...)", "x: 1 (71.9%)\n")


def test_runner_fails_a_block_that_fails_or_leaves_a_process_running(tmp_path):
    template = tmp_path / "template"
    (template / "work").mkdir(parents=True)
    (template / "bin").mkdir()
    ok = Block("p.md", 1, "bash", 'echo "$PORT" > port\ncat port\n')
    assert run_block(ok, template, tmp_path / "ok").strip().isdigit()
    with pytest.raises(AssertionError, match="exit 3"):
        run_block(Block("p.md", 2, "bash", "false || exit 3\n"), template, tmp_path / "fails")
    with pytest.raises(AssertionError, match="left processes running"):
        left = Block("p.md", 3, "bash", "sleep 60 &\n")
        run_block(left, template, tmp_path / "left", grace_s=0.5)
    stop = Block("p.md", 4, "bash", "sleep 60 &\nkill $! && wait $! || true\n")
    run_block(stop, template, tmp_path / "stop", grace_s=0.5)
    python = Block("p.md", 5, "python", "import os; print(os.getcwd())\n")
    assert run_block(python, template, tmp_path / "py").strip() == str(tmp_path / "py")
