"""Seeds recorded from real devices: ``attest sim fc`` on a pty, and OpenSSH's ``sftp-server`` on pipes.

The dock's own code (``Link``, ``fetch_params``, ``FtpClient``, ``SftpSession``)
talks to the real simulator or server while every byte the device sends is
recorded; the targets then replay those bytes (mutated) to the same code.
"""

from __future__ import annotations

import functools
import os
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import serial

from attest.mavlink import (
    CAP_PARAM_ENCODE_BYTEWISE,
    FTP_MSG_ID,
    Deframer,
    FtpClient,
    Link,
    decode,
    fetch_params,
    mavlink,
    unpack_ftp,
)
from attest.transports import SerialTransport
from attest.transports.ssh import SftpSession

from .devices import DOCK, FtpRecordEncoder

__all__ = [
    "FTP_SCRIPT_FILES",
    "SFTP_SERVER",
    "autopilot_version",
    "fc_recordings",
    "ftp_ops",
    "sftp_ops",
    "sftp_recording",
]

#: Files the FTP target reads, in order (an ArduPilot controller's, from ``attest sim fc``).
FTP_SCRIPT_FILES = ("/APM/scripts/patrol_geofence.lua", "@PARAM/param.pck")
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
_MAV_CMD_REQUEST_MESSAGE = 512


def autopilot_version(link: Link) -> Any:
    """Ask for AUTOPILOT_VERSION and wait for it, as the MAVLink collector does."""
    ask = mavlink.MAVLink_command_long_message(
        link.target_system, link.target_component, _MAV_CMD_REQUEST_MESSAGE, 0,
        mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0,
    )  # fmt: skip

    def accept(frame: Any) -> Any:
        return decode(frame) if frame.msgid == mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION else None

    return link.wait(accept, what="AUTOPILOT_VERSION", resend=lambda: link.send(ask), every=0.5)


def ftp_ops(client: FtpClient, attempt: Callable[..., Any]) -> dict[str, bytes | None]:
    """The FTP operations the FTP target runs (and the recording ran), each through ``attempt``.

    Returns:
        Each file of :data:`FTP_SCRIPT_FILES` as read (``None`` where ``attempt`` gave nothing).
    """
    attempt(client.reset)
    attempt(client.list_dir, "/APM/scripts")
    attempt(client.crc32, FTP_SCRIPT_FILES[0])
    return {path: attempt(client.read, path) for path in FTP_SCRIPT_FILES}


class _RecordingPort:
    """A real pyserial port, with every byte read kept and FTP requests and replies noted for a script."""

    def __init__(self, port: Any) -> None:
        self._port = port
        self.received = bytearray()
        self.ftp = FtpRecordEncoder()
        self._sent = Deframer()
        self._got = Deframer()

    @property
    def timeout(self) -> Any:
        return self._port.timeout

    @timeout.setter
    def timeout(self, value: Any) -> None:
        self._port.timeout = value

    def read(self, size: int = 1) -> bytes:
        data = bytes(self._port.read(size))
        self.received += data
        for frame in self._got.feed(data):
            if frame.msgid == FTP_MSG_ID:
                tsys, tcomp, op = unpack_ftp(frame.payload)
                if (tsys, tcomp) == DOCK:
                    self.ftp.reply(op)
        return data

    def write(self, data: bytes) -> int:
        for frame in self._sent.feed(bytes(data)):
            if frame.msgid == FTP_MSG_ID:
                self.ftp.request(unpack_ftp(frame.payload)[2])
        return int(self._port.write(data))

    def reset_input_buffer(self) -> None:
        self._port.reset_input_buffer()

    def close(self) -> None:
        self._port.close()


@functools.cache
def fc_recordings(autopilot: str) -> tuple[bytes, bytes]:
    """``(stream, ftp script)`` recorded from ``attest sim fc --autopilot AUTOPILOT``.

    The stream is every byte the controller sent while the dock found it, read its
    identity and its parameters (PARAM_VALUE); the script is the FTP replies to
    :func:`ftp_ops` (empty for PX4, which the dock reads without FTP here).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "attest", "sim", "fc", "--autopilot", autopilot, "--flash-size", "256"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        port = _RecordingPort(serial.serial_for_url(path, timeout=0))
        with SerialTransport(port, path) as transport:
            link = Link(transport, timeout=10)
            link.find_autopilot()
            version = autopilot_version(link)
            fetch_params(link, bytewise=bool(int(version.capabilities) & CAP_PARAM_ENCODE_BYTEWISE))
            stream = bytes(port.received)
            if autopilot == "ardupilot":
                ftp_ops(FtpClient(link), lambda fn, *args: fn(*args))
            return stream, bytes(port.ftp.script)
    finally:
        proc.kill()
        proc.wait()


# -- SFTP -----------------------------------------------------------------------------------------


class _PipeChannel:
    """A paramiko-channel-like object over a local ``sftp-server``'s pipes, keeping every byte it sends."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self._in, self._fd = proc.stdin, proc.stdout.fileno()
        self.received = bytearray()

    def recv_ready(self) -> bool:
        return bool(select.select([self._fd], [], [], 0)[0])

    def recv(self, nbytes: int) -> bytes:
        if not select.select([self._fd], [], [], 10)[0]:
            raise TimeoutError
        data = os.read(self._fd, min(nbytes, 1 << 16))
        self.received += data
        return data

    def sendall(self, data: bytes) -> None:
        self._in.write(data)
        self._in.flush()

    def settimeout(self, timeout: float | None) -> None:
        del timeout

    def close(self) -> None:
        self._in.close()


def sftp_ops(session: SftpSession, root: bytes, attempt: Callable[..., Any]) -> None:
    """What the SFTP target runs (and the recording ran): list the tree, read links, stat, hash small files."""
    import stat

    from attest.transports.ssh import SftpAttrs

    attempt(session.start)
    files: list[tuple[bytes, int | None]] = []
    links: list[bytes] = []

    def walk() -> None:
        for rel, entry in session.walk(root, descend=lambda _rel: True):
            if not isinstance(entry, SftpAttrs) or entry.mode is None:
                continue
            path = root + b"/" + rel
            if stat.S_ISREG(entry.mode) and entry.size is not None and entry.size <= 4096:
                files.append((path, entry.size))
            elif stat.S_ISLNK(entry.mode):
                links.append(path)

    attempt(walk)
    attempt(session.readlinks, links[:8])
    attempt(session.stat, root)
    attempt(session.hash_files, files[:8])


def sftp_recording(tree: Path) -> bytes | None:
    """Every byte OpenSSH's ``sftp-server`` sent while :func:`sftp_ops` ran on ``tree`` (``None``: no server)."""
    if not os.access(SFTP_SERVER, os.X_OK):
        return None
    proc = subprocess.Popen([SFTP_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        chan = _PipeChannel(proc)
        session = SftpSession(chan, label="sftp-server", timeout=10)
        sftp_ops(session, os.fsencode(tree), lambda fn, *args: fn(*args))
        return bytes(chan.received)
    finally:
        proc.kill()
        proc.wait()
