"""machine.py: CPU lists, pinning a process, what a measurement ran on."""

import os
import subprocess
import sys

import pytest

from lenet_deploy.bench.machine import format_cpus, parse_cpu_list

linux_only = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")


@pytest.mark.parametrize(
    "text, cpus",
    [("0", (0,)), ("3", (3,)), ("0-3", (0, 1, 2, 3)), ("4,0-1", (0, 1, 4)), (" 1 , 1", (1,))],
)
def test_cpu_lists_parse_like_taskset(text, cpus):
    assert parse_cpu_list(text) == cpus
    assert parse_cpu_list(format_cpus(cpus)) == cpus


@pytest.mark.parametrize("text", ["", "a", "1-", "-1", "3-1", "0,,1", "1.5"])
def test_malformed_cpu_lists_are_refused(text):
    with pytest.raises(ValueError):
        parse_cpu_list(text)


def test_cpu_lists_print_as_ranges():
    assert format_cpus([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert format_cpus([3]) == "3"


def _pin_in_child(cpus: str) -> subprocess.CompletedProcess:
    code = (
        "import os, threading; from lenet_deploy.bench.machine import pin_process, parse_cpu_list\n"
        "stop = threading.Event()\n"
        "early = threading.Thread(target=stop.wait, daemon=True); early.start()\n"
        f"pin_process(parse_cpu_list({cpus!r}))\n"
        "late = threading.Thread(target=stop.wait, daemon=True); late.start()\n"
        "print(sorted({tuple(sorted(os.sched_getaffinity(t.native_id))) for t in (early, late)}"
        " | {tuple(sorted(os.sched_getaffinity(0)))}))\n"
        "stop.set()"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@linux_only
def test_pinning_keeps_the_process_on_those_cpus():
    first = min(os.sched_getaffinity(0))
    done = _pin_in_child(str(first))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"[({first},)]"  # this thread, one from before, one after


@linux_only
def test_pinning_to_a_cpu_it_may_not_use_says_which_it_may():
    beyond = max(os.sched_getaffinity(0)) + 1
    done = _pin_in_child(str(beyond))
    assert done.returncode != 0
    assert f"CPU {beyond} is not available to this process; it may use CPUs" in done.stderr
