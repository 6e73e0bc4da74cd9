"""How a served model is named: one spelling for every command that takes a model.

``model_url`` accepts what perf_analyzer's ``-u``/``-m`` and ``examples/client.py`` take, plus
the full URL the ``oip-http`` runtime loads:

* ``http://HOST:PORT/v2/models/NAME[/versions/V]`` -- as given;
* ``http://HOST:PORT`` or ``HOST:PORT`` -- the model the server serves: the only one in its
  repository index (Triton's ``POST /v2/repository/index``), else ``lenet``, the name
  ``lenet-deploy serve`` and ``lenet-deploy package`` give it.

Anything else (a directory or file, even one named like ``a:1`` that exists) is not a URL.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

from ..errors import ArtifactKindError

#: The model name ``serve`` and ``package`` use; ``HOST:PORT`` means this one unless the server
#: lists exactly one other.
DEFAULT_MODEL_NAME = "lenet"
DISCOVER_TIMEOUT_S = 2.0
_HOST_PORT = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):\d{1,5}$")
_MODEL_PATH = re.compile(r"^/v2/models/[^/\s]+(?:/versions/[^/\s]+)?$")


def model_url(model: str | os.PathLike, *, discover: bool = True) -> str | None:
    """The full ``/v2/models/NAME`` URL ``model`` names, or None when it names a path.

    ``discover=False`` skips asking the server for its model's name (``lenet`` is used).
    Raises ArtifactKindError for an http(s) URL whose path is not ``/v2/models/NAME``.
    """
    text = os.fspath(model) if isinstance(model, os.PathLike) else model
    if not isinstance(text, str):
        return None
    if text.startswith(("http://", "https://")):
        scheme, _, rest = text.partition("://")
        host, slash, path = rest.partition("/")
        path = ("/" + path).rstrip("/") if slash else ""
    elif _HOST_PORT.match(text) and not Path(text).exists():
        scheme, host, path = "http", text, ""
    else:
        return None
    if not host:
        raise ArtifactKindError(f"{text!r} names no server; e.g. http://127.0.0.1:8000")
    base = f"{scheme}://{host}"
    if not path:
        name = _served_name(base) if discover else None
        return f"{base}/v2/models/{name or DEFAULT_MODEL_NAME}"
    if not _MODEL_PATH.match(path):
        raise ArtifactKindError(
            f"{text!r} is not a served model: give http://HOST:PORT, HOST:PORT or "
            f"{base}/v2/models/NAME[/versions/V]"
        )
    return base + path


def _served_name(base: str) -> str | None:
    """The one model a Triton-style repository index lists, or None (no index, several)."""
    request = urllib.request.Request(f"{base}/v2/repository/index", data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=DISCOVER_TIMEOUT_S) as response:  # noqa: S310
            models = json.loads(response.read(1 << 20))
    except Exception:  # unreachable or no index extension: the runtime reports what is wrong
        return None
    if not isinstance(models, list):
        return None
    names = {m.get("name") for m in models if isinstance(m, dict)}
    return names.pop() if len(names) == 1 and all(isinstance(n, str) for n in names) else None
