"""A stand-in for ArduPilot SITL: the simulated controller as SITL presents itself, on TCP.

``python tests/sitl_standin.py`` prints ``PORT`` alone on its first stdout
line and serves MAVLink 2 on ``127.0.0.1:PORT`` until killed. It is
``attest sim fc`` with what distinguishes SITL from a board
(../shared/reference/mavlink.md, section 11): board id 0 (no APJ board id),
USB vendor and product ids 0, no unique id, no ``@SYS/flash.bin``, and a TCP
port (like serial0's 5760) that accepts one client at a time and the next
when it leaves. The controller keeps running between clients, as SITL does.

Used by ``tests/test_hw_sitl.py`` to run ``hw_tests`` the way
hw_tests/README.md runs them against a real SITL.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import tty
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from attest.sim import SimConfig, board_for
from attest.sim import fc as sim_fc


def _sitl_board(autopilot: str, *, flash_kb: int = 2048) -> Any:
    return replace(board_for(autopilot, flash_kb=flash_kb), board_id=0, vendor_id=0, product_id=0)


class _FtpWithoutFlash(sim_fc.FtpServer):
    """SITL serves @PARAM, @SYS text files, @ROMFS and scripts, but no flash.bin (ChibiOS only)."""

    def __init__(self, files: Mapping[str, Any], **kw: Any) -> None:
        super().__init__({k: v for k, v in files.items() if k != "@SYS/flash.bin"}, **kw)


def _relay(server: socket.socket, fd: int) -> None:
    """Relay one TCP client at a time to the controller's pty; with no client, its output is dropped."""
    client: socket.socket | None = None
    while True:
        watched: list[Any] = [fd, client if client is not None else server]
        readable, _, _ = select.select(watched, [], [])
        if server in readable:
            client, _ = server.accept()
        if client is not None and client in readable:
            data = client.recv(65536)
            if not data:
                client.close()
                client = None
            else:
                os.write(fd, data)
        if fd in readable:
            out = os.read(fd, 65536)
            if client is not None:
                try:
                    client.sendall(out)
                except OSError:
                    client.close()
                    client = None


def main() -> int:
    sim_fc.board_for = _sitl_board  # type: ignore[assignment]
    sim_fc.FtpServer = _FtpWithoutFlash  # type: ignore[misc]
    sim = sim_fc.SimFC(SimConfig(uid=bytes(12)))
    master, slave = os.openpty()
    tty.setraw(slave)
    threading.Thread(target=sim.serve, args=(master,), daemon=True).start()
    server = socket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    _relay(server, slave)
    return 0


if __name__ == "__main__":
    sys.exit(main())
