"""The serving fast path: uvicorn's httptools protocol answering infer requests inside its parser
callbacks (``protocol``) over a transport that joins each response into one write
(``transport``).

It relies on uvicorn internals, so it is walled off: ``serve.server`` calls ``install`` and
nothing else. ``install`` checks every internal name first (``compat``); when one is missing
the server says so on its start-up line and uvicorn's own httptools protocol serves instead.
"""

from __future__ import annotations

from .compat import missing_internals


def install(endpoint) -> tuple[type | None, str]:
    """(the protocol class for uvicorn's ``http=``, "") or (None, why it cannot be used)."""
    missing = missing_internals()
    if missing:
        return None, missing
    from .protocol import fast_infer_protocol

    return fast_infer_protocol(endpoint), ""
