"""Everything that lives inside uvicorn's HTTP protocol: the connection limits
(``connections``: read time limits, header size, the connection cap) and the infer fast path
(``protocol``: infer requests answered inside the parser's callbacks, over a transport that
joins each response into one write, ``transport``).

It relies on uvicorn internals, so it is walled off: ``serve.server`` calls ``install`` and
nothing else. ``install`` checks every internal name first (``compat``); when one is missing
the server says so on its start-up line and uvicorn's own httptools protocol serves instead.
"""

from __future__ import annotations

from .compat import missing_internals


def install(
    endpoint, settings, max_connections: int, *, fast: bool = True
) -> tuple[type | None, str]:
    """(the protocol class for uvicorn's ``http=``, "") or (None, why it cannot be used).

    ``settings`` (ServeSettings) gives the connection limits, ``max_connections`` the cap
    fitted to the descriptors; with ``fast`` infer requests for ``endpoint``
    (serve.infer.InferEndpoint) skip ASGI, otherwise every request takes it.
    """
    missing = missing_internals()
    if missing:
        return None, missing
    from .connections import GuardedProtocol, guarded_protocol
    from .protocol import FastInferProtocol

    if fast:
        return guarded_protocol(FastInferProtocol, settings, max_connections, endpoint=endpoint), ""
    return guarded_protocol(GuardedProtocol, settings, max_connections), ""
