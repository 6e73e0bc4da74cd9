"""Run the app on uvicorn: one line on start, SIGTERM drains in-flight requests and exits 0."""

from __future__ import annotations

import signal
from collections.abc import Callable

import uvicorn

from ..bench.machine import format_cpus
from ..runtimes.base import Runtime
from .app import ServeSettings, create_app
from .listen import bind_socket, descriptor_budget


def run_server(
    runtime: Runtime,
    settings: ServeSettings | None = None,
    *,
    announce: Callable[[str], None] | None = None,
) -> int:
    """Serve ``runtime`` until SIGTERM or SIGINT; returns 0 after a graceful drain.

    ``announce`` gets the one start-up line (default: printed to stdout, flushed); it carries
    the real port when ``settings.port`` is 0. The caller keeps ownership of ``runtime``.
    """
    settings = settings or ServeSettings()
    max_connections, backlog, connections_note = descriptor_budget(settings.max_connections)
    sock = bind_socket(settings.host, settings.port)
    app = create_app(runtime, settings)
    protocol, protocol_note = http_protocol(app, settings, max_connections)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        # No X-Forwarded-* rewriting: nothing here reads the client address or scheme, and it
        # is a pass over the headers of every request.
        proxy_headers=False,
        http=protocol,
        backlog=backlog,
        timeout_keep_alive=settings.idle_timeout_s,
        lifespan="on",
        timeout_graceful_shutdown=settings.drain_timeout_s,
    )
    server = _Server(config, announce or (lambda line: print(line, flush=True)))
    server.describe = (
        f"{settings.model_name} ({runtime.name} on {runtime.device}, "
        f"{getattr(runtime, 'path', 'in-process model')})"
    )
    server.settings = settings
    server.protocol_note = "; ".join(filter(None, (connections_note, protocol_note)))
    server.app_state = app.state
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0 if server.started else 1


def http_protocol(
    app, settings: ServeSettings, max_connections: int | None = None
) -> tuple[object, str]:
    """(uvicorn's ``http=``, a note for the start-up line): serve/fastpath's protocol (the one
    seam: the connection limits, and the infer fast path unless ``settings.fast_path`` is
    off) when its uvicorn internals are all there, else uvicorn's own, with the note saying
    why."""
    from .fastpath import install

    cap = max_connections or settings.max_connections
    protocol, why = install(app.infer, settings, cap, fast=settings.fast_path)
    if protocol is None:
        return "auto", why
    return protocol, "" if settings.fast_path else "fast path off (--no-fast-path)"


class _Server(uvicorn.Server):
    """uvicorn.Server with our start-up line, and a SIGTERM that drains and then exits 0.

    uvicorn re-raises a caught SIGTERM once it has shut down, which ends the process with
    status -15; after an orderly drain the stop is a success, so the signal is not re-raised.
    """

    def __init__(self, config: uvicorn.Config, announce: Callable[[str], None]):
        super().__init__(config)
        self.announce = announce
        self.describe = ""
        self.settings = ServeSettings()
        self.app_state = None
        self.protocol_note = ""

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        s = self.settings
        self.announce(
            f"serving {self.describe} at http://{host}:{port}/v2/models/{s.model_name} "
            f"(OIP v2; max batch {s.max_batch}, max delay {s.max_delay_ms:g} ms, "
            f"max queue {s.max_queue})"
            + (f"; on CPU {format_cpus(s.cpus)}" if s.cpus else "")
            + (f"; browser page at http://{host}:{port}/" if s.ui else "")
            + (f"; {self.protocol_note}" if self.protocol_note else "")
        )

    def handle_exit(self, sig: int, frame) -> None:
        if self.app_state is not None:
            self.app_state.draining = True  # new infer requests get 503 from now on
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True
