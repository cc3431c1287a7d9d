"""SSH to a companion computer: pinned host key, key-only login, every wait bounded.

:meth:`SshConnection.open` checks the server's host key against the pins it
is given *before* authenticating, so an impostor never sees a signature from
the dock's key and nothing is read from a device whose key is unknown or
changed (:class:`~attest.errors.UntrustedBaselineError`, exit 4). Only public
keys are offered (``--identity`` or the ssh-agent); passwords are never sent.
Every paramiko and socket error becomes a :class:`~attest.errors.TransportError`
(exit 3) raised ``from`` the original, naming what was awaited.

Hand-written around paramiko's ``Transport`` rather than its ``SSHClient``:
the host name lookup runs under a deadline (``getaddrinfo`` has none), the
pin check sits between key exchange and login, paramiko calls that have no
timeout of their own are bounded, and re-keying happens as rarely as OpenSSH
does it. The parts it uses (target, pins, login, errors, streams, SFTP) live
beside it in :mod:`attest.transports.ssh`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import paramiko
from paramiko.common import MSG_DEBUG, MSG_GLOBAL_REQUEST
from paramiko.packet import Packetizer

from attest.errors import ConfigError, TransportError
from attest.transports.ssh.errors import LOST, timed_out
from attest.transports.ssh.hostkeys import HostKeyPins, fingerprint
from attest.transports.ssh.login import authenticate, client_keys
from attest.transports.ssh.sftp import SftpLimits, SftpSession
from attest.transports.ssh.stream import RemoteCommand
from attest.transports.ssh.target import SshTarget

__all__ = ["CIPHERS", "SshConnection"]

# paramiko logs its own view of every failure (with tracebacks) from its
# transport thread; with no handler, Python would print those on stderr. The
# failures reach the user as TransportError instead; a CLI that configures
# stdlib logging still receives the records through propagation.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

#: Ciphers offered, in order: AES-GCM is authenticated in one pass and about
#: twice as fast in paramiko as its default aes128-ctr + hmac-sha2-256
#: (docs/ssh.md, Performance); CTR for older servers. No CBC, no 3DES.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)


#: Messages sshd sends on its own right after login (``hostkeys-00@openssh.com``,
#: the key options as SSH_MSG_DEBUG) that the dock does not answer.
_UNANSWERED = frozenset({MSG_DEBUG, MSG_GLOBAL_REQUEST})


class _Packetizer(Packetizer):
    """paramiko's packetizer: re-keying after 64 GiB like OpenSSH, and acknowledging sshd's unanswered messages at once.

    paramiko re-keys after 512 MiB (a limit meant for 64-bit blocks such as
    3DES, which is not offered); a re-key in the middle of a long read is a
    needless stall, and paramiko can deadlock if the device closes a channel
    during one.

    Right after login sshd sends messages nobody answers; with Nagle's
    algorithm on sshd's side, its reply to the dock's first channel request
    then waits for the dock's delayed ACK of them: 40 ms of every run.
    ``TCP_QUICKACK`` after such a message sends that ACK at once.
    """

    REKEY_BYTES = 1 << 36
    REKEY_PACKETS = 1 << 31

    def __init__(self, socket: socket.socket) -> None:
        super().__init__(socket)
        self._tcp = socket

    def read_message(self) -> tuple[int, paramiko.Message]:
        """The next message (see paramiko); the ACK of one sshd expects no answer to is not delayed."""
        kind, message = super().read_message()
        if kind in _UNANSWERED and hasattr(socket, "TCP_QUICKACK"):  # Linux only; elsewhere only slower
            with contextlib.suppress(OSError):
                self._tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return kind, message


#: Host key algorithms that prove possession of a key of each key type.
_KEY_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}

#: Channel receive window: the device never waits for a window adjustment
#: while the dock hashes what it already sent.
_WINDOW = 16 * 1024 * 1024
#: Largest channel packet the device may send: fewer, larger packets cost
#: paramiko less Python per byte (about 15 % less CPU than its 32 KiB default).
_MAX_CHANNEL_PACKET = 256 * 1024


def _resolve(host: str, port: int, timeout: float) -> list[tuple[int, int, int, tuple[Any, ...]]]:
    """The addresses of ``host``, looked up within ``timeout``.

    ``getaddrinfo`` has no timeout of its own (a dead DNS server can hold it
    for minutes), so it runs on a daemon thread that is abandoned if it takes
    longer; a numeric address answers at once.

    Raises:
        TransportError: the name does not resolve, or not within ``timeout``.
    """
    where = f"{host}:{port}"
    answer: list[list[tuple[int, int, int, tuple[Any, ...]]] | OSError] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answer.append([(family, kind, proto, addr) for family, kind, proto, _, addr in infos])
        except OSError as e:
            answer.append(e)
        finally:
            done.set()

    threading.Thread(target=lookup, name="attest-resolve", daemon=True).start()
    if not done.wait(timeout):
        raise timed_out(where, timeout, f"the host name {host!r} to resolve")
    result = answer[0]
    if isinstance(result, OSError):
        raise TransportError(f"{where}: cannot resolve the host name: {result.strerror or result}") from result
    return result


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ``host``, trying each of its addresses like :func:`socket.create_connection`.

    The name lookup and each connection attempt are each bounded by ``timeout``.

    Raises:
        TransportError: unresolvable, unreachable, or timed out.
    """
    where = f"{host}:{port}"
    failures: list[OSError] = []
    for family, kind, proto, addr in _resolve(host, port, timeout):
        sock = socket.socket(family, kind, proto)
        try:
            # SFTP is requests and replies: with Nagle's algorithm a small batch of
            # requests waits for the device's delayed ACK, and reading 4,800 small
            # files took 1.4 s instead of 0.45 s (docs/ssh.md, Performance).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(timeout)
            sock.connect(addr)
        except OSError as e:
            sock.close()
            failures.append(e)
            continue
        return sock
    if not failures:
        raise TransportError(f"{where}: cannot connect: the host name has no address")
    first = failures[0]  # as create_connection reports it
    if isinstance(first, TimeoutError):
        raise timed_out(where, timeout, "the TCP connection") from first
    raise TransportError(f"{where}: cannot connect: {first.strerror or first}") from first


class SshConnection:
    """One authenticated SSH connection to a device; close it (or use ``with``).

    Attributes:
        target: where it is connected.
        host_key_type: the server's host key type.
        host_key_fingerprint: the server's host key SHA-256 fingerprint.
        cipher: the negotiated cipher (server to dock).
    """

    def __init__(self, target: SshTarget, transport: paramiko.Transport, timeout: float) -> None:
        self.target = target
        self._transport = transport
        self.timeout = timeout
        key = transport.get_remote_server_key()
        self.host_key_type = key.get_name()
        self.host_key_fingerprint = fingerprint(key.asbytes())
        # Not in paramiko's typed API; only reported (notes, debug log), never trusted.
        self.cipher = str(getattr(transport, "remote_cipher", "unknown"))

    @classmethod
    def open(
        cls,
        target: SshTarget,
        *,
        pins: HostKeyPins,
        identity: Path | None,
        timeout: float,
        ciphers: Sequence[str] = CIPHERS,
    ) -> SshConnection:
        """Connect, check the host key against ``pins``, then log in with a key.

        Args:
            target: where to connect.
            pins: what the host key must be; checked before authenticating.
            identity: private key file; ``None`` uses the ssh-agent's keys.
            timeout: seconds the host name lookup, the TCP connect, the SSH
                banner, key exchange and authentication may each take.
            ciphers: ciphers to offer, most preferred first.

        Raises:
            ConfigError: the identity cannot be used, or a pinned key type is unsupported.
            UntrustedBaselineError: the host key is not pinned, or differs from a pin.
            TransportError: unreachable, timed out, or the key was refused.
        """
        with client_keys(identity) as keys:
            return cls._open(target, pins=pins, keys=keys, timeout=timeout, ciphers=ciphers)

    @classmethod
    def _open(
        cls,
        target: SshTarget,
        *,
        pins: HostKeyPins,
        keys: Sequence[paramiko.PKey],
        timeout: float,
        ciphers: Sequence[str],
    ) -> SshConnection:
        where = f"{target.host}:{target.port}"
        sock = _connect(target.host, target.port, timeout)
        transport = paramiko.Transport(sock, packetizer_class=_Packetizer)
        ok = False
        try:
            transport.banner_timeout = timeout
            transport.handshake_timeout = timeout
            transport.auth_timeout = timeout
            opts = transport.get_security_options()
            opts.ciphers = tuple(c for c in ciphers if c in opts.ciphers)
            wanted = pins.key_types()
            if wanted:
                algs = [a for kind in wanted for a in _KEY_ALGORITHMS.get(kind, (kind,)) if a in opts.key_types]
                if not algs:
                    raise ConfigError(f"{where}: pinned host key type(s) {', '.join(wanted)} are not supported")
                opts.key_types = tuple(algs)
            started = time.monotonic()
            try:
                # start_client() returns silently when its timeout expires;
                # get_remote_server_key() then raises: no session.
                transport.start_client(timeout=timeout)
                server_key = transport.get_remote_server_key()
            except LOST as e:
                awaited = "the key exchange" if transport.remote_version else "the SSH banner"
                # When the banner wait expires, paramiko's thread may already have
                # ended with "Error reading SSH protocol banner": that is a timeout too.
                if transport.is_active() or time.monotonic() - started >= timeout:
                    raise timed_out(where, timeout, awaited) from e
                raise TransportError(f"{where}: the SSH handshake failed while waiting for {awaited}: {e}") from e
            # The pin check comes before authentication: nothing is read, and
            # no signature by our key is given, to a device we cannot identify.
            pins.check(target, server_key.get_name(), server_key.asbytes())
            authenticate(transport, target, keys, timeout)
            ok = True
            return cls(target, transport, timeout)
        finally:
            if not ok:
                transport.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _deadline(self, what: str) -> Iterator[None]:
        """Bound a paramiko call that has no timeout of its own: close the connection when it expires.

        Raises:
            TransportError: the call failed, or did not finish within the timeout.
        """
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            self._transport.close()

        timer = threading.Timer(self.timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except LOST as e:
            if expired.is_set():
                raise timed_out(self.target.label, self.timeout, what) from e
            raise TransportError(f"{self.target.label}: {what} failed: {e}") from e
        finally:
            timer.cancel()

    def _session(self) -> paramiko.Channel:
        with self._deadline("a new SSH channel"):
            chan = self._transport.open_session(
                window_size=_WINDOW, max_packet_size=_MAX_CHANNEL_PACKET, timeout=self.timeout
            )
        chan.settimeout(self.timeout)
        return chan

    def sftp(self, *, limits: SftpLimits | None = None) -> SftpSession:
        """Start the SFTP subsystem; ``limits`` bound what it lists and reads (default: :class:`SftpLimits`).

        Raises:
            TransportError: the server has no SFTP subsystem, or stopped answering.
            CollectionError: it does not speak SFTP version 3.
        """
        chan = self._session()
        with self._deadline("the SFTP subsystem to start"):
            chan.invoke_subsystem("sftp")
        session = SftpSession(chan, label=self.target.label, timeout=self.timeout, limits=limits)
        session.start()
        return session

    def run(self, command: str) -> RemoteCommand:
        """Start ``command`` on the device.

        ``command`` is run by the login shell, so it must be written by this
        program (tool paths the dock chose, quoted): data from the device (file
        names) goes on stdin, never into it.

        Raises:
            TransportError: the channel could not be opened.
        """
        chan = self._session()
        with self._deadline("the device to start a command"):
            chan.exec_command(command)
        return RemoteCommand(chan, label=self.target.label, timeout=self.timeout)
