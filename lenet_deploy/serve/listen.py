"""The listening socket: bound before uvicorn starts, so a port in use or an address this
machine does not have is one line saying what to do (exit 2), not uvicorn's traceback."""

from __future__ import annotations

import errno
import socket

from ..errors import LenetDeployError


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
