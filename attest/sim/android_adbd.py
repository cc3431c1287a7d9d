"""The simulated controller's adbd: the real ADB wire protocol over TCP, with faults.

Server side of the protocol the dock's client speaks (primary sources cited
in :mod:`attest.transports.adb`): the host's ``CNXN`` is answered with
``AUTH(TOKEN)``; a ``SIGNATURE`` that verifies under a known key, or a
``RSAPUBLICKEY`` the simulated user allows (every key, unless
``--unauthorised``: then the prompt is never answered), is answered with
``CNXN("device::...;features=shell_v2,cmd")``. Then ``OPEN`` of
``shell[,v2][,...]:CMD``, ``exec:CMD`` or ``sync:`` streams, each ``WRTE``
acknowledged with ``OKAY`` and one ``WRTE`` in flight per stream, as
``protocol.txt`` requires. Allowed keys are remembered for the life of the
process (the "Always allow from this computer" box).

One thread per TCP connection, one ``select`` loop in each. Faults count
the messages this side sent on a connection: ``drop_after`` closes the
connection, ``stall_after`` goes silent (with ``keepalive`` it still sends an
empty WRTE on every open stream every 0.2 s: traffic without progress),
``garbage_after`` replaces a message with bytes that are not ADB; ``drip``
sends every write as at most 16 bytes, one per ``drip`` seconds; ``rate``
throttles to that many bytes per second (USB 2.0 is about 35 MB/s).
"""

from __future__ import annotations

import abc
import os
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa

import attest.transports.adb as wire
from attest.errors import TransportError
from attest.sim.android_device import Apk, Controller
from attest.sim.android_shell import Output, Shell, file_chunks

__all__ = ["Adbd", "AdbdFaults"]

#: The most this simulated adbd accepts in one message (and so the most the host may write).
_DEVICE_MAX = 256 * 1024
_SYNC_DATA_MAX = 64 * 1024


@dataclass(frozen=True)
class AdbdFaults:
    """Misbehaviour of the simulated adbd (all off by default)."""

    unauthorised: bool = False
    drop_after: int | None = None
    stall_after: int | None = None
    keepalive: bool = False
    garbage_after: int | None = None
    drip: float = 0.0
    rate: float | None = None
    no_shell_v2: bool = False


class _ClosedError(Exception):
    """The connection is over (dropped by a fault, or by the host)."""


class _Service(abc.ABC):
    """A stream's far end: bytes in from the host, bytes out to it."""

    def feed(self, data: bytes) -> None:
        """The host wrote ``data`` (ignored unless a service reads its input)."""
        del data

    @abc.abstractmethod
    def produce(self, n: int) -> bytes | None:
        """Up to ``n`` bytes to send, ``b""`` when none yet, ``None`` when the service is done."""


class _Chunks(_Service):
    """Output from a queue of byte strings and lazy chunk iterators; done when the queue is empty and closed."""

    def __init__(self) -> None:
        self.queue: deque[bytes | Iterator[bytes]] = deque()
        self.buf = b""
        self.finished = False

    def produce(self, n: int) -> bytes | None:
        while len(self.buf) < n and self.queue:
            head = self.queue[0]
            if isinstance(head, bytes):
                self.buf += head
                self.queue.popleft()
                continue
            piece = next(head, None)
            if piece is None:
                self.queue.popleft()
            else:
                self.buf += piece
        if not self.buf:
            return None if self.finished else b""
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _shell_packets(out: Output) -> Iterator[bytes]:
    for chunk in out.stdout:
        for i in range(0, len(chunk), _SYNC_DATA_MAX):
            piece = chunk[i : i + _SYNC_DATA_MAX]
            yield struct.pack("<BI", 1, len(piece)) + piece
    if out.stderr:
        yield struct.pack("<BI", 2, len(out.stderr)) + out.stderr
    yield struct.pack("<BIB", 3, 1, out.status & 0xFF)


def _shell_raw(out: Output) -> Iterator[bytes]:
    yield from out.stdout
    yield out.stderr


class _ShellService(_Chunks):
    def __init__(self, out: Output, *, v2: bool) -> None:
        super().__init__()
        self.queue.append(_shell_packets(out) if v2 else _shell_raw(out))
        self.finished = True


class _SyncService(_Chunks):
    """STAT, LIST, RECV over the controller's files; SEND is refused (read-only); QUIT ends it."""

    def __init__(self, device: Controller) -> None:
        super().__init__()
        self.files = device.files()
        self.dirs: dict[str, set[str]] = {}
        for path in self.files:
            parts = path.split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i]) or "/"
                self.dirs.setdefault(parent, set()).add(parts[i])
        self.inbuf = b""

    def feed(self, data: bytes) -> None:
        self.inbuf += data
        while len(self.inbuf) >= 8 and not self.finished:
            ident, length = struct.unpack_from("<4sI", self.inbuf)
            if ident == b"QUIT":
                self.finished = True
                return
            if length > 1024:
                self.finished = True  # adbd drops a session with an over-long path
                return
            if len(self.inbuf) < 8 + length:
                return
            path = self.inbuf[8 : 8 + length].decode("utf-8", "surrogateescape")
            self.inbuf = self.inbuf[8 + length :]
            self._request(ident, path)

    def _request(self, ident: bytes, path: str) -> None:
        mtime = 1700000000
        if ident == b"STAT":
            apk = self.files.get(path)
            if apk is not None:
                self.queue.append(struct.pack("<4sIII", b"STAT", 0o100644, apk.size & 0xFFFFFFFF, mtime))
            elif path.rstrip("/") in self.dirs or path == "/":
                self.queue.append(struct.pack("<4sIII", b"STAT", 0o040755, 4096, mtime))
            else:
                self.queue.append(struct.pack("<4sIII", b"STAT", 0, 0, 0))
        elif ident == b"LIST":
            here = path.rstrip("/") or "/"
            for name in sorted(self.dirs.get(here, ())):
                child = f"{here.rstrip('/')}/{name}"
                raw = name.encode("utf-8", "surrogateescape")
                apk = self.files.get(child)
                mode, size = (0o100644, apk.size & 0xFFFFFFFF) if apk else (0o040755, 4096)
                self.queue.append(struct.pack("<4sIIII", b"DENT", mode, size, mtime, len(raw)) + raw)
            self.queue.append(struct.pack("<4sIIII", b"DONE", 0, 0, 0, 0))
        elif ident == b"RECV":
            apk = self.files.get(path)
            if apk is None:
                msg = b"No such file or directory"
                self.queue.append(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
            else:
                self.queue.append(self._data(apk))
        elif ident == b"SEND":
            msg = b"Read-only file system"
            self.queue.append(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
            self.finished = True
        else:
            self.finished = True

    @staticmethod
    def _data(apk: Apk) -> Iterator[bytes]:
        for chunk in file_chunks(apk, _SYNC_DATA_MAX):
            yield struct.pack("<4sI", b"DATA", len(chunk)) + chunk
        yield struct.pack("<4sI", b"DONE", 1700000000)


@dataclass
class _Stream:
    local: int
    remote: int
    service: _Service
    awaiting: bool = False


@dataclass
class Adbd:
    """The simulated adbd, shared by every connection.

    Attributes:
        device: what it serves.
        shell: the command interpreter (its ``injections`` count refused command lines).
        faults: misbehaviour.
        keys: public keys the simulated user allowed.
    """

    device: Controller
    shell: Shell
    faults: AdbdFaults = field(default_factory=AdbdFaults)
    keys: list[rsa.RSAPublicKey] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def banner(self) -> bytes:
        """The device's CNXN payload."""
        props = self.device.props
        features = "cmd" if self.faults.no_shell_v2 else "shell_v2,cmd"
        fields = [f"{k}={props.get(k, '')}" for k in ("ro.product.name", "ro.product.model", "ro.product.device")]
        return f"device::{';'.join(fields)};features={features}".encode()

    def serve(self, listener: socket.socket) -> None:
        """Accept connections until the process ends, each on its own thread."""
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=_Connection(self, sock).run, name="adbd-conn", daemon=True).start()


class _Connection:
    def __init__(self, adbd: Adbd, sock: socket.socket) -> None:
        self.adbd = adbd
        self.faults = adbd.faults
        self.sock = sock
        self.inbuf = b""
        self.version = wire.VERSION_MIN
        self.host_max = wire.CONNECT_PAYLOAD_MAX
        self.online = False
        self.token = b""
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.sent = 0
        self.last_keepalive = 0.0

    def run(self) -> None:
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                busy = self._pump()
                ready, _, _ = select.select([self.sock], [], [], 0 if busy else 0.2)
                if ready:
                    data = self.sock.recv(1 << 20)
                    if not data:
                        return
                    self.inbuf += data
                    self._parse()
        except (OSError, _ClosedError):
            return
        finally:
            self.sock.close()

    # -- sending -----------------------------------------------------------------------------

    def _stalled(self) -> bool:
        return self.faults.stall_after is not None and self.sent >= self.faults.stall_after

    def _send(self, command: int, arg0: int, arg1: int, payload: bytes = b"") -> None:
        f = self.faults
        if self._stalled():
            return
        if f.drop_after is not None and self.sent >= f.drop_after:
            raise _ClosedError
        self.sent += 1
        if f.garbage_after is not None and self.sent > f.garbage_after:
            self.sock.sendall(os.urandom(24) + payload)
            return
        data = wire.encode_message(
            command, arg0, arg1, payload, with_checksum=self.version < wire.VERSION_SKIP_CHECKSUM
        )
        self.sock.sendall(data)
        if f.rate:
            time.sleep(len(data) / f.rate)

    def _pump(self) -> bool:
        """Send one WRTE on every stream that may send; close finished ones. True when anything was sent."""
        if self._stalled():
            if self.faults.keepalive and time.monotonic() - self.last_keepalive > 0.2:
                self.last_keepalive = time.monotonic()
                for s in self.streams.values():
                    data = wire.encode_message(wire.A_WRTE, s.local, s.remote, b"", with_checksum=False)
                    self.sock.sendall(data)
            return False
        busy = False
        for s in list(self.streams.values()):
            if s.awaiting:
                continue
            limit = 16 if self.faults.drip else self.host_max
            out = s.service.produce(limit)
            if out is None:
                self._send(wire.A_CLSE, s.local, s.remote)
                del self.streams[s.local]
            elif out:
                if self.faults.drip:
                    time.sleep(self.faults.drip)
                self._send(wire.A_WRTE, s.local, s.remote, out)
                s.awaiting = True
                busy = True
        return busy

    # -- receiving ---------------------------------------------------------------------------

    def _parse(self) -> None:
        while len(self.inbuf) >= wire.HEADER.size:
            try:
                header = wire.decode_header(self.inbuf[: wire.HEADER.size], max_payload=wire.MAX_PAYLOAD, label="sim")
            except TransportError as e:  # a bad header "MUST result in the closing of the remote connection"
                raise _ClosedError from e
            end = wire.HEADER.size + header.length
            if len(self.inbuf) < end:
                return
            payload = self.inbuf[wire.HEADER.size : end]
            self.inbuf = self.inbuf[end:]
            self._handle(header, payload)

    def _handle(self, h: wire.Header, payload: bytes) -> None:
        if h.command == wire.A_CNXN:
            self.version = min(h.arg0, wire.VERSION)
            self.host_max = min(h.arg1, wire.MAX_PAYLOAD, _DEVICE_MAX)  # as adbd: the smaller of both maxima
            self.online = False
            self.token = os.urandom(wire.TOKEN_SIZE)
            self._send(wire.A_AUTH, wire.AUTH_TOKEN, 0, self.token)
        elif h.command == wire.A_AUTH and not self.online and self.token:
            self._auth(h.arg0, payload)
        elif not self.online:
            return  # nothing but the handshake before CNXN
        elif h.command == wire.A_OPEN and h.arg0 and not h.arg1:
            service = self._service(payload.rstrip(b"\0").decode("utf-8", "surrogateescape"))
            if service is None:
                self._send(wire.A_CLSE, 0, h.arg0)
                return
            local = self.next_id
            self.next_id += 1
            self.streams[local] = _Stream(local, h.arg0, service)
            self._send(wire.A_OKAY, local, h.arg0)
        elif h.command == wire.A_OKAY:
            s = self.streams.get(h.arg1)
            if s is not None and s.remote == h.arg0:
                s.awaiting = False
        elif h.command == wire.A_WRTE:
            s = self.streams.get(h.arg1)
            if s is not None and s.remote == h.arg0:
                s.service.feed(payload)
                self._send(wire.A_OKAY, s.local, s.remote)
        elif h.command == wire.A_CLSE:
            s = self.streams.get(h.arg1)
            if s is not None and s.remote in (h.arg0, 0):
                del self.streams[h.arg1]

    def _auth(self, kind: int, payload: bytes) -> None:
        adbd = self.adbd
        if kind == wire.AUTH_SIGNATURE:
            with adbd.lock:
                keys = list(adbd.keys)
            if any(wire.verify_token(k, self.token, payload) for k in keys):
                self._online()
            else:
                self.token = os.urandom(wire.TOKEN_SIZE)
                self._send(wire.A_AUTH, wire.AUTH_TOKEN, 0, self.token)
        elif kind == wire.AUTH_RSAPUBLICKEY:
            try:
                key = wire.parse_pubkey_line(payload)
            except ValueError:
                return
            if self.faults.unauthorised:
                return  # the prompt on the controller is never answered
            with adbd.lock:
                adbd.keys.append(key)
            self._online()

    def _online(self) -> None:
        self.online = True
        self._send(wire.A_CNXN, wire.VERSION, _DEVICE_MAX, self.adbd.banner())

    def _service(self, name: str) -> _Service | None:
        if name == "sync:":
            return _SyncService(self.adbd.device)
        if name.startswith("exec:"):
            return _ShellService(self.adbd.shell.run(name[5:]), v2=False)
        if name.startswith("shell"):
            head, sep, command = name.partition(":")
            args = head.split(",")[1:]
            if not sep or head.split(",")[0] != "shell" or not command:
                return None  # interactive shells are not simulated
            v2 = "v2" in args and not self.faults.no_shell_v2
            return _ShellService(self.adbd.shell.run(command), v2=v2)
        return None
