"""The listening socket and the descriptors behind it.

The socket is bound before uvicorn starts, so a port in use or an address this machine does
not have is one line saying what to do (exit 2), not uvicorn's traceback; and the cap on open
connections is fitted to the process's descriptor limit before the first one is accepted.
"""

from __future__ import annotations

import errno
import os
import socket

from ..errors import LenetDeployError
from ..limits import LIMITS, Limits


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free one), ready for uvicorn's
    ``sockets=``; LenetDeployError naming the address and the fix if it cannot be bound."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise LenetDeployError(
            f"serve: cannot bind {where}: unknown host ({exc}); give an address of this "
            "machine, e.g. --host 127.0.0.1"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fix = "stop what is using it or pick another --port (--port 0 picks a free port)"
        elif exc.errno == errno.EACCES:
            fix = "ports below 1024 need privileges: pick --port 1024 or above (0: any free)"
        else:
            fix = "give an address of this machine, e.g. --host 127.0.0.1 (0.0.0.0: all)"
        raise LenetDeployError(f"serve: cannot bind {where}: {exc.strerror}; {fix}") from None
    sock.set_inheritable(True)
    return sock


def descriptor_budget(max_connections: int, limits: Limits = LIMITS) -> tuple[int, int, str]:
    """(connection cap, listen backlog, a note for the start-up line) under this process's
    descriptor limit, which is raised to its hard limit first where that is allowed.

    Each connection is a descriptor; the rest of the server (model, event loop, threads' pipes,
    logs) and one burst of accepts (the backlog) must fit beside them, or accept() fails and
    nobody, health probes included, gets in. LenetDeployError if too few are left.
    """
    try:
        import resource
    except ImportError:  # not a Unix: no limit to read
        return max_connections, 2048, f"max connections {max_connections}"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # not allowed (e.g. macOS caps the soft limit lower)
            pass
    if soft == resource.RLIM_INFINITY:
        return max_connections, 2048, f"max connections {max_connections}"
    reserve = max(limits.serve_reserved_descriptors, soft // 8)
    available = soft - _open_descriptors() - reserve
    if available < 8:
        raise LenetDeployError(
            f"serve: the descriptor limit is {soft} (ulimit -n) and leaves {max(available, 0)} "
            f"for connections after {reserve} reserved; raise it, e.g. ulimit -n 4096"
        )
    cap = min(max_connections, available)
    backlog = min(2048, reserve // 2)  # an accept burst stays inside the reserve
    note = f"max connections {cap}" + (
        f" (descriptor limit {soft})" if cap < max_connections else ""
    )
    return cap, backlog, note


def _open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # no /proc: count on a few
        return 16
