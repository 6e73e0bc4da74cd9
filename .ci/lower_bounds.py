"""Print pip constraints pinning an extra's requirements to their lower bounds.

    python3 .ci/lower_bounds.py serve > low.txt && pip install ".[serve,...]" -c low.txt

CI runs the serve tests a second time in a venv made this way, so a lower bound in
pyproject.toml is a version that was tested, not a guess (issue 20).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
for extra in sys.argv[1:] or ["serve"]:
    for requirement in pyproject["project"]["optional-dependencies"][extra]:
        spec, _, marker = requirement.partition(";")
        found = re.match(r"\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)", spec)
        name, versions = found.group(1), found.group(2)
        low = re.search(r">=\s*([^,\s]+)", versions)
        if low is None:
            sys.exit(f"{extra}: {requirement!r} has no lower bound")
        name = name.split("[", 1)[0]
        print(f"{name}=={low.group(1)}" + (f"; {marker.strip()}" if marker else ""))
