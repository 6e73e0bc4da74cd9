"""Every uvicorn/httptools internal the fast path and the connection limits use, checked before
they are installed.

uvicorn's httptools protocol is not a public API. A renamed attribute raised inside a parser
callback would turn every request, health checks included, into a 400; so ``install`` checks
the names below first and falls back loudly. ``tests/serve/fastpath/test_compat.py`` checks
the same names and their signatures, so an upgrade fails in CI before it reaches a server.
pyproject.toml caps uvicorn, starlette and httptools at the newest versions tested.
"""

from __future__ import annotations

import inspect
import re

OFF = "fast path and connection limits off"

#: Methods of ``HttpToolsProtocol`` the fast path overrides or calls, with the parameters it
#: passes (after ``self``).
PROTOCOL_METHODS = {
    "__init__": ("config", "server_state", "app_state", "_loop"),
    "connection_made": ("transport",),
    "connection_lost": ("exc",),
    "data_received": ("data",),
    "on_message_begin": (),
    "on_headers_complete": (),
    "on_body": ("body",),
    "on_message_complete": (),
    "on_response_complete": (),
    "_unset_keepalive_if_required": (),
    "send_400_response": ("msg",),
}
#: Instance attributes of the protocol it reads or sets, made in ``__init__``.
PROTOCOL_ATTRIBUTES = (
    "cycle", "pipeline", "expect_100_continue", "parser", "server_state", "transport", "loop",
    "headers", "url",
)  # fmt: skip
#: Attributes of uvicorn's request cycle it reads or sets (its FastCycle stands in for one).
CYCLE_ATTRIBUTES = (
    "response_complete", "response_started", "keep_alive", "disconnected", "message_event",
)  # fmt: skip
#: httptools parser methods it calls.
PARSER_METHODS = ("get_method", "get_http_version", "should_keep_alive", "should_upgrade")


def missing_internals() -> str:
    """An empty string when every internal the fast path uses is there; else one line naming
    what is not."""
    try:
        import httptools
        from uvicorn.protocols.http import httptools_impl
    except ImportError as exc:
        return f"{OFF}: {exc}"
    problems = []
    status_line = getattr(httptools_impl, "STATUS_LINE", None)
    if not (isinstance(status_line, dict) and isinstance(status_line.get(200), bytes)):
        problems.append("httptools_impl.STATUS_LINE")
    protocol = getattr(httptools_impl, "HttpToolsProtocol", None)
    if protocol is None:
        problems.append("httptools_impl.HttpToolsProtocol")
    else:
        for name, params in PROTOCOL_METHODS.items():
            method = getattr(protocol, name, None)
            if method is None or tuple(inspect.signature(method).parameters)[1:] != params:
                problems.append(f"HttpToolsProtocol.{name}{params}")
        source = _source(protocol.__init__) + _source(protocol.on_message_begin)
        problems += [f"HttpToolsProtocol.{n}" for n in PROTOCOL_ATTRIBUTES if not _sets(source, n)]
    cycle = getattr(httptools_impl, "RequestResponseCycle", None)
    source = _source(cycle.__init__) if cycle is not None else ""
    problems += [f"RequestResponseCycle.{n}" for n in CYCLE_ATTRIBUTES if not _sets(source, n)]
    try:
        from uvicorn.server import ServerState

        state = ServerState()
        if not isinstance(getattr(state, "default_headers", None), list):
            problems.append("ServerState.default_headers")
        if not isinstance(getattr(state, "total_requests", None), int):
            problems.append("ServerState.total_requests")
    except ImportError:
        problems.append("uvicorn.server.ServerState")
    parser = getattr(httptools, "HttpRequestParser", None)
    problems += [
        f"httptools.HttpRequestParser.{name}"
        for name in PARSER_METHODS
        if parser is None or not hasattr(parser, name)
    ]
    if problems:
        return f"{OFF}: this uvicorn/httptools lacks " + ", ".join(problems)
    return ""


def _sets(source: str, name: str) -> bool:
    """Whether ``source`` assigns ``self.<name>`` (with or without an annotation)."""
    return re.search(rf"self\.{name}\s*[:=]", source) is not None


def _source(function) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):  # no source (a compiled build): attributes cannot be seen
        return ""
