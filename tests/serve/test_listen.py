"""Binding: a port in use or an address this machine lacks is one line with the fix, exit 2;
``--port 0`` picks a free port and the start-up line carries the real one."""

import socket

import pytest
from conftest import assert_one_line_error, run_cli, start_server, stop_server

from lenet_deploy.errors import LenetDeployError
from lenet_deploy.serve.listen import bind_socket


def test_port_0_binds_a_free_port():
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_a_port_in_use_names_it_and_the_fix():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(LenetDeployError) as err:
            bind_socket("127.0.0.1", port)
        message = str(err.value)
        assert f"127.0.0.1:{port}" in message and "--port 0 picks a free port" in message
    finally:
        taken.close()


@pytest.mark.parametrize("host", ["192.0.2.1", "no-such-host.invalid"])
def test_an_address_this_machine_lacks_is_named(host):
    with pytest.raises(LenetDeployError, match=f"cannot bind {host}:8000.*--host 127.0.0.1"):
        bind_socket(host, 8000)


@pytest.mark.slow
def test_serve_on_a_port_in_use_is_one_line_and_exit_2(exported_dir):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        proc = run_cli("serve", "--model", str(exported_dir), "--port", str(port))
    finally:
        taken.close()
    assert proc.returncode == 2
    assert_one_line_error(proc, f"127.0.0.1:{port}", "--port 0 picks a free port")
    assert "Errno" not in proc.stderr


@pytest.mark.slow
def test_port_0_start_up_line_carries_the_real_port(exported_dir):
    proc, url = start_server(exported_dir, "--no-ui")
    try:
        port = int(url.split("127.0.0.1:", 1)[1].split("/", 1)[0])
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
    finally:
        stop_server(proc)
