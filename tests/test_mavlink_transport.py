"""Transports and parameter protocol edge cases: ``socket://`` targets, PARAM_VALUE gaps, bad ports."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading

import pytest

from attest.errors import ConfigError, TransportError
from attest.transports import SerialTransport

pytest_plugins = ["fc_fixture"]

SMALL_FLASH = ("--flash-size", "256")


@contextlib.contextmanager
def tcp_to_pty(pty: str):
    """A TCP port on loopback relaying to the simulator's pty, like SITL's serial0 on TCP 5760."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            fd = os.open(pty, os.O_RDWR | os.O_NOCTTY)
            try:
                while not stop.is_set():
                    ready, _, _ = select.select([conn, fd], [], [], 0.2)
                    if conn in ready:
                        data = conn.recv(65536)
                        if not data:
                            break
                        os.write(fd, data)
                    if fd in ready:
                        conn.sendall(os.read(fd, 65536))
            except OSError:
                pass
            finally:
                os.close(fd)
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"socket://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        srv.close()


def test_socket_url_target_attests_like_a_serial_port(sim_fc, fc_bench):
    """socket://HOST:PORT (ArduPilot SITL's first serial port) is a MAVLink target like /dev/tty*."""
    sim = sim_fc(*SMALL_FLASH)
    with tcp_to_pty(sim.path) as url:
        baseline = fc_bench.create(url)
        r = fc_bench.verify(url, baseline)
    assert r.code == 0, r.out + r.err
    assert r.json()["device"]["target"].startswith("socket://")


def test_parameter_gaps_are_re_requested(sim_fc, fc_bench):
    """PX4 over a lossy line: lost PARAM_VALUEs are asked for again by index; the set is complete."""
    baseline = fc_bench.create(sim_fc("--autopilot", "px4", *SMALL_FLASH).path)
    r = fc_bench.verify(sim_fc("--autopilot", "px4", *SMALL_FLASH, "--drop", "0.1", "--seed", "7").path, baseline)
    assert r.code == 0, r.out + r.err


def test_refused_socket_is_a_transport_error():
    """Nothing listening: TransportError naming the target, not a pyserial exception."""
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match=f"socket://127.0.0.1:{port}"):
        SerialTransport.open(f"socket://127.0.0.1:{port}", timeout=1)


def test_malformed_url_is_a_config_error():
    """A URL pyserial cannot parse is the user's mistake (exit 2)."""
    with pytest.raises(ConfigError):
        SerialTransport.open("socket://no-port-here", timeout=1)
