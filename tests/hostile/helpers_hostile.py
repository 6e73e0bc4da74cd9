"""Helpers for the hostile-input suite: one-line errors, sha256 of artifacts, peak memory."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec from the (large) pytest
# process, which would hide the child's own peak.
_PEAK = """
import atexit, sys
def _peak():
    with open("/proc/self/status") as fh:
        kb = [line.split()[1] for line in fh if line.startswith("VmHWM")][0]
    print("PEAK_KB", kb, file=sys.stderr)
atexit.register(_peak)
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_measured(code: str, *, cwd: Path | None = None, timeout: float = 120):
    """Run ``code`` in a fresh interpreter; returns (process, peak RSS in MB of that process)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK + code],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )
    peaks = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("PEAK_KB")]
    assert peaks, proc.stderr
    return proc, int(peaks[-1]) / 1024


def cli_code(*args: str) -> str:
    """Code that runs the CLI in-process (for run_measured) and exits with its code."""
    return f"import sys\nfrom lenet_deploy.cli import main\nsys.exit(main({list(args)!r}))\n"


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The single 'error:' line of a failed command; fails the test if there is not exactly one
    or if a traceback was printed."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def run_inproc(capsys, *args: str) -> subprocess.CompletedProcess:
    """Run the CLI in this process (fast: the engines are already imported), as run_cli does."""
    from lenet_deploy.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)
