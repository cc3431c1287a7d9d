"""SSH to a companion computer: pinned host key, key-only login, every wait bounded.

:meth:`SshConnection.open` checks the server's host key against the pins it
is given *before* authenticating, so an impostor never sees a signature from
the dock's key and nothing is read from a device whose key is unknown or
changed (:class:`~attest.errors.UntrustedBaselineError`, exit 4). Only public
keys are offered (``--identity`` or the ssh-agent); passwords are never sent.
Every paramiko and socket error becomes a :class:`~attest.errors.TransportError`
(exit 3) raised ``from`` the original, naming what was awaited.

Hand-written here, and why:

* :func:`load_known_hosts`: paramiko's ``HostKeys`` silently skips
  ``@revoked`` lines and does not match wildcard patterns; a pin check must
  not silently ignore either. It only needs (type, blob) pairs, no key objects.
* :class:`SftpSession`, a small SFTP v3 client on a paramiko channel:
  paramiko's ``SFTPClient`` decodes file names as UTF-8 (a non-UTF-8 name
  raises) and waits for each reply before sending the next request, so
  reading many small files costs one round trip each. This client keeps many
  requests in flight, across directories and across files, and treats names
  as bytes end to end. It lists trees, reads partitions and audit samples,
  and is the exact fallback of the stream below.
* :meth:`SshConnection.hash_concatenated`: bulk file contents as one
  ``cat`` stream split by the listed sizes, because even pipelined SFTP was
  3x slower than a stream on 5,000 files (docs/ssh.md, Performance).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import re
import socket
import stat
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import unquote_to_bytes, urlsplit

import paramiko
from paramiko.packet import Packetizer

from attest.errors import CollectionError, ConfigError, TransportError, UntrustedBaselineError

__all__ = [
    "CAT_COMMAND",
    "CIPHERS",
    "HostKeyPins",
    "KnownHostKeys",
    "RemoteCommand",
    "SftpAttrs",
    "SftpProtocolError",
    "SftpSession",
    "SshConnection",
    "SshTarget",
    "fingerprint",
    "load_known_hosts",
    "printable",
    "translated",
]

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


class _Packetizer(Packetizer):
    """paramiko's packetizer, re-keying after 64 GiB like OpenSSH does for 128-bit block ciphers.

    paramiko re-keys after 512 MiB (a limit meant for 64-bit blocks such as
    3DES, which is not offered); a re-key in the middle of a long read is a
    needless stall, and paramiko can deadlock if the device closes a channel
    during one.
    """

    REKEY_BYTES = 1 << 36
    REKEY_PACKETS = 1 << 31


#: Host key algorithms that prove possession of a key of each key type.
_KEY_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}

#: What paramiko raises when the connection is gone (EOFError from its packetizer).
_LOST = (OSError, EOFError, paramiko.SSHException)

#: Largest private key file read.
_MAX_KEY_FILE = 64 * 1024
#: Largest known_hosts file read.
_MAX_KNOWN_HOSTS = 16 * 1024 * 1024

# -- targets ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SshTarget:
    """A parsed ``ssh://USER@HOST[:PORT][/PATH]`` target.

    Attributes:
        user: the login user.
        host: host name or address (IPv6 without brackets).
        port: TCP port.
        root: the directory on the device whose tree is measured (bytes, absolute).
    """

    user: str
    host: str
    port: int = 22
    root: bytes = b"/"

    @classmethod
    def parse(cls, target: str) -> SshTarget:
        """Parse a target string.

        Raises:
            ConfigError: not of the form ``ssh://USER@HOST[:PORT][/PATH]``, or it holds a password.
        """
        expected = "expected ssh://USER@HOST[:PORT][/PATH]"
        # A password typed into the target must not reach the terminal or the log.
        shown = repr(re.sub(r"^([^/]*//[^/@:]*):[^/@]*@", r"\1:***@", target))
        try:
            parts = urlsplit(target)
            port = parts.port
        except ValueError as e:
            raise ConfigError(f"{shown}: {expected} ({e})") from e
        if parts.password is not None:
            raise ConfigError(f"{shown}: passwords are not accepted; log in with a key (--identity or ssh-agent)")
        if parts.scheme != "ssh" or not parts.hostname or not parts.username:
            raise ConfigError(f"{shown}: {expected}")
        if parts.query or parts.fragment:
            raise ConfigError(f"{shown}: {expected} (no '?' or '#' parts)")
        root = unquote_to_bytes(parts.path) if parts.path else b"/"
        if b"\0" in root:
            raise ConfigError(f"{shown}: the path holds a NUL byte")
        return cls(user=parts.username, host=parts.hostname, port=port or 22, root=root)

    @property
    def known_hosts_name(self) -> str:
        """The host's name in known_hosts: ``host``, or ``[host]:port`` off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def label(self) -> str:
        """``user@host:port``, for messages and the log."""
        return f"{self.user}@{self.host}:{self.port}"


# -- host keys ----------------------------------------------------------------------------------------


def fingerprint(blob: bytes) -> str:
    """The OpenSSH SHA-256 fingerprint of a public key blob, as ``ssh-keygen -l`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class KnownHostKeys:
    """The lines of a known_hosts file that apply to one host.

    Attributes:
        source: the file, for messages.
        keys: ``(key type, key blob)`` of every plain entry for the host.
        revoked: key blobs marked ``@revoked`` (for any host: OpenSSH revokes keys, not names).
    """

    source: str
    keys: tuple[tuple[str, bytes], ...]
    revoked: frozenset[bytes]


def _wildcard(pattern: str) -> re.Pattern[str]:
    """OpenSSH's host pattern: ``*`` and ``?`` are wildcards, everything else (``[``, ``]``) is literal."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def _host_matches(patterns: str, name: str) -> bool:
    """OpenSSH host matching: hashed names, ``*``/``?`` wildcards, ``!`` negation (which wins)."""
    name = name.lower()
    hit = False
    for raw in patterns.split(","):
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        if pattern.startswith("|1|"):
            try:
                _, _, salt64, hash64 = pattern.split("|")
                salt, want = base64.b64decode(salt64, validate=True), base64.b64decode(hash64, validate=True)
            except ValueError:
                continue
            matched = hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), want)
        else:
            matched = _wildcard(pattern.lower()).fullmatch(name) is not None
        if matched and negated:
            return False
        hit = hit or matched
    return hit


def load_known_hosts(path: Path, target: SshTarget) -> KnownHostKeys:
    """Read the entries of an OpenSSH known_hosts file that pin ``target``'s host key.

    ``@cert-authority`` lines are ignored (host certificates are not
    supported, so they pin nothing); ``@revoked`` keys are refused for every
    host; malformed lines are skipped, as OpenSSH does.

    Raises:
        ConfigError: the file cannot be read.
    """
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_KNOWN_HOSTS + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read known_hosts: {e.strerror}") from e
    if len(data) > _MAX_KNOWN_HOSTS:
        raise ConfigError(f"{path}: too large to be a known_hosts file")
    keys: list[tuple[str, bytes]] = []
    revoked: set[bytes] = set()
    for raw in data.decode("utf-8", "replace").splitlines():
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else None
        if len(fields) < 3:
            continue
        hosts, kind, blob64 = fields[:3]
        try:
            blob = base64.b64decode(blob64, validate=True)
        except ValueError:
            continue
        if marker == "@revoked":
            revoked.add(blob)
        elif marker is None and _host_matches(hosts, target.known_hosts_name):
            keys.append((kind, blob))
    return KnownHostKeys(str(path), tuple(keys), frozenset(revoked))


@dataclass(frozen=True)
class HostKeyPins:
    """What the server's host key must be; every source given must agree.

    Attributes:
        fingerprint: the SHA-256 fingerprint a baseline pins (``None``: no baseline pin).
        key_type: that key's type (``ssh-ed25519`` ...), so the same key is negotiated.
        known_hosts: entries of a known_hosts file (``None``: no file given).
        pin_source: what the fingerprint came from, for messages.
    """

    fingerprint: str | None = None
    key_type: str | None = None
    known_hosts: KnownHostKeys | None = None
    pin_source: str = "the baseline"

    def key_types(self) -> list[str]:
        """Key types to negotiate, most trusted first (empty: any)."""
        if self.key_type is not None:
            return [self.key_type]
        if self.known_hosts is not None:
            return list(dict.fromkeys(kind for kind, _ in self.known_hosts.keys))
        return []

    def check(self, target: SshTarget, kind: str, blob: bytes) -> None:
        """Accept the server's key or raise.

        Raises:
            UntrustedBaselineError: no pin at all, a revoked key, or a key that differs from a pin.
        """
        got = f"{kind} {fingerprint(blob)}"
        where = target.known_hosts_name
        refuse = "refusing to read anything"
        if self.fingerprint is None and self.known_hosts is None:
            raise UntrustedBaselineError(
                f"host key of {where} is not pinned (it offered {got}): give --known-hosts FILE with its "
                f"key, checked out of band (see docs/ssh.md); {refuse}"
            )
        kh = self.known_hosts
        if kh is not None and blob in kh.revoked:
            raise UntrustedBaselineError(f"host key of {where} ({got}) is marked @revoked in {kh.source}; {refuse}")
        if self.fingerprint is not None and (
            not hmac.compare_digest(fingerprint(blob), self.fingerprint)
            or (self.key_type is not None and kind != self.key_type)
        ):
            raise UntrustedBaselineError(
                f"host key of {where} is {got}, but {self.pin_source} pins {self.key_type or ''} "
                f"{self.fingerprint}: a different device, or its key was replaced; {refuse}".replace("  ", " ")
            )
        if kh is not None and (kind, blob) not in kh.keys:
            if kh.keys:
                listed = ", ".join(f"{k} {fingerprint(b)}" for k, b in kh.keys)
                raise UntrustedBaselineError(
                    f"host key of {where} is {got}, but {kh.source} lists {listed}: the host key changed; {refuse}"
                )
            raise UntrustedBaselineError(
                f"host key of {where} ({got}) is unknown: {kh.source} has no entry for {where}; {refuse}"
            )


# -- connections ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def translated(label: str) -> Iterator[None]:
    """Turn any paramiko or socket error that escapes the code inside into a TransportError.

    The operations here translate the errors they expect; this is the net
    under them, so that a connection dying at an unforeseen moment is exit 3
    with a message, never a traceback (and never a pass).
    """
    try:
        yield
    except TimeoutError as e:
        raise TransportError(f"{label}: timed out waiting for the device") from e
    except _LOST as e:
        raise TransportError(f"{label}: the connection failed: {str(e) or type(e).__name__}") from e


def printable(raw: bytes | str, limit: int = 200) -> str:
    """Text a device sent, safe to show: control characters escaped, at most ``limit`` characters."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _load_identity(path: Path) -> paramiko.PKey:
    """Load an unencrypted OpenSSH/PEM private key, refusing one others may read.

    Raises:
        ConfigError: unreadable, readable by group or others, encrypted, or not a key.
    """
    try:
        st = path.stat()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read SSH identity: {e.strerror}") from e
    if st.st_mode & 0o077:
        raise ConfigError(
            f"{path}: SSH private key is accessible by group or others (mode {st.st_mode & 0o777:04o}); chmod 600"
        )
    if st.st_size > _MAX_KEY_FILE:
        raise ConfigError(f"{path}: too large to be an SSH private key")
    try:
        return paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException as e:
        raise ConfigError(
            f"{path}: the key is encrypted; load it into ssh-agent and omit --identity (no passphrases are read)"
        ) from e
    except (paramiko.SSHException, ValueError, TypeError, OSError) as e:
        raise ConfigError(f"{path}: not an OpenSSH or PEM private key") from e


def _agent() -> paramiko.Agent:
    """The ssh-agent (close it after authenticating: it signs for the keys it lists).

    Raises:
        ConfigError: no agent, or it holds no key.
    """
    if not os.environ.get("SSH_AUTH_SOCK"):
        raise ConfigError("no SSH identity: give --identity KEYFILE or run an ssh-agent (SSH_AUTH_SOCK is not set)")
    try:
        agent = paramiko.Agent()
        keys = agent.get_keys()
    except (paramiko.SSHException, OSError) as e:
        raise ConfigError(f"cannot use the ssh-agent at SSH_AUTH_SOCK: {e}") from e
    if not keys:
        agent.close()
        raise ConfigError("no SSH identity: the ssh-agent holds no key and no --identity was given")
    return agent


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
            timeout: seconds the TCP connect, the SSH banner, key exchange and
                authentication may each take.
            ciphers: ciphers to offer, most preferred first.

        Raises:
            ConfigError: the identity cannot be used, or a pinned key type is unsupported.
            UntrustedBaselineError: the host key is not pinned, or differs from a pin.
            TransportError: unreachable, timed out, or the key was refused.
        """
        if identity is not None:
            return cls._open(target, pins=pins, keys=[_load_identity(identity)], timeout=timeout, ciphers=ciphers)
        agent = _agent()
        try:
            return cls._open(target, pins=pins, keys=agent.get_keys(), timeout=timeout, ciphers=ciphers)
        finally:
            agent.close()

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
        try:
            sock = socket.create_connection((target.host, target.port), timeout=timeout)
        except TimeoutError as e:
            raise TransportError(f"{where}: timed out after {timeout:g} s waiting for the TCP connection") from e
        except OSError as e:
            raise TransportError(f"{where}: cannot connect: {e.strerror or e}") from e
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
            try:
                # start_client() returns silently when its timeout expires;
                # get_remote_server_key() then raises: no session.
                transport.start_client(timeout=timeout)
                server_key = transport.get_remote_server_key()
            except (paramiko.SSHException, EOFError, OSError) as e:
                awaited = "the key exchange" if transport.remote_version else "the SSH banner"
                if transport.is_active():
                    raise TransportError(f"{where}: timed out after {timeout:g} s waiting for {awaited}") from e
                raise TransportError(f"{where}: the SSH handshake failed while waiting for {awaited}: {e}") from e
            # The pin check comes before authentication: nothing is read, and
            # no signature by our key is given, to a device we cannot identify.
            pins.check(target, server_key.get_name(), server_key.asbytes())
            cls._authenticate(transport, target, keys, timeout)
            ok = True
            return cls(target, transport, timeout)
        finally:
            if not ok:
                transport.close()

    @staticmethod
    def _authenticate(
        transport: paramiko.Transport, target: SshTarget, keys: Sequence[paramiko.PKey], timeout: float
    ) -> None:
        for key in keys:
            try:
                more = transport.auth_publickey(target.user, key)
            except paramiko.BadAuthenticationType as e:
                raise TransportError(
                    f"{target.label}: the server does not accept public keys (it allows {', '.join(e.allowed_types)})"
                ) from e
            except paramiko.AuthenticationException:
                continue
            except (paramiko.SSHException, EOFError, OSError) as e:
                raise TransportError(f"{target.label}: authentication failed within {timeout:g} s: {e}") from e
            if more:
                raise TransportError(
                    f"{target.label}: the server wants more than a key ({', '.join(more)}); only keys are supported"
                )
            return
        raise TransportError(
            f"{target.label}: the server refused our key ({len(keys)} tried): "
            "is the dock's public key in the user's authorized_keys?"
        )

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
        except (paramiko.SSHException, EOFError, OSError) as e:
            if expired.is_set():
                raise TransportError(
                    f"{self.target.label}: timed out after {self.timeout:g} s waiting for {what}"
                ) from e
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

    def sftp(self) -> SftpSession:
        """Start the SFTP subsystem.

        Raises:
            TransportError: the server has no SFTP subsystem, or stopped answering.
            CollectionError: it does not speak SFTP version 3.
        """
        chan = self._session()
        with self._deadline("the SFTP subsystem to start"):
            chan.invoke_subsystem("sftp")
        session = SftpSession(chan, label=self.target.label, timeout=self.timeout)
        session.start()
        return session

    def run(self, command: str) -> RemoteCommand:
        """Start ``command`` on the device.

        ``command`` is run by the login shell, so it must be a constant
        written in this program: data (file names) goes on stdin, never into it.

        Raises:
            TransportError: the channel could not be opened.
        """
        chan = self._session()
        with self._deadline("the device to start a command"):
            chan.exec_command(command)
        return RemoteCommand(chan, label=self.target.label, timeout=self.timeout)

    def hash_concatenated(
        self,
        jobs: Sequence[tuple[bytes, int]],
        *,
        on_bytes: Callable[[int], None] | None = None,
        started: RemoteCommand | None = None,
    ) -> dict[bytes, str] | str:
        """SHA-256 of many regular files streamed back to back on one channel, split by their listed sizes.

        The device only concatenates (``xargs -0 cat``, paths as NUL-separated
        stdin); the dock hashes. The stream carries no framing of its own, so
        it is accepted only if it is exactly as long as the sizes add up to and
        ``cat`` succeeded; otherwise the caller reads the files one by one
        (:meth:`SftpSession.hash_files`), which tells which file failed.

        Args:
            jobs: ``(absolute path, size from the listing)`` of regular files.
            on_bytes: called with each hashed chunk's length.
            started: a :data:`CAT_COMMAND` already running and fed the paths of
                ``jobs`` in order (so the device could start while the dock listed).

        Returns:
            path -> lowercase hex digest, or why the stream cannot be trusted to split.

        Raises:
            TransportError: the connection dropped or the device stopped answering.
        """
        if not jobs:
            if started is not None:
                started.close()
            return {}
        expected = sum(size for _, size in jobs)
        cmd = started
        if cmd is None:
            cmd = self.run(CAT_COMMAND)
            cmd.feed(path + b"\0" for path, _ in jobs)
        try:
            results: dict[bytes, str] = {}
            order = iter(jobs)
            path, left = next(order)
            digest = hashlib.sha256()
            received = 0
            for chunk in cmd.chunks(what="file contents from the device's cat"):
                received += len(chunk)
                if received > expected:
                    return f"the device sent more than the {expected} bytes listed: files grew while being read"
                view = memoryview(chunk)
                while view:
                    while left == 0:  # this file is complete (or empty): on to the next
                        results[path] = digest.hexdigest()
                        path, left = next(order)
                        digest = hashlib.sha256()
                    take = min(left, len(view))
                    digest.update(view[:take])
                    view, left = view[take:], left - take
                if on_bytes is not None:
                    on_bytes(len(chunk))
            status = cmd.exit_status(what="the device's cat")
        finally:
            cmd.close()
        if status != 0:
            return f"the device's cat failed (exit status {status}): {cmd.stderr_text()}"
        if received != expected:
            return f"the device sent {received} of the {expected} bytes listed: files shrank or could not be read"
        results[path] = digest.hexdigest()
        for path, _ in order:  # trailing empty files
            results[path] = hashlib.sha256().hexdigest()
        return results


#: Pull mode's stream: the device concatenates the files named on stdin
#: (NUL-separated; ``--`` keeps a leading '-' a name). ``cat`` and ``xargs``
#: are in every coreutils/findutils and BusyBox.
CAT_COMMAND = "exec xargs -0 -r cat --"

#: Receive size that takes everything paramiko has buffered: its buffer drops
#: a partial read by moving the rest to the front, which costs O(buffered)
#: per call and made a 256 MB stream 4x slower.
_RECV_ALL = 1 << 30

#: Channel receive window: the device never waits for a window adjustment
#: while the dock hashes what it already sent.
_WINDOW = 16 * 1024 * 1024
#: Largest channel packet the device may send: fewer, larger packets cost
#: paramiko less Python per byte (about 15 % less CPU than its 32 KiB default).
_MAX_CHANNEL_PACKET = 256 * 1024


class RemoteCommand:
    """A command running on the device: stdin from the dock, stdout collected, stderr kept in part."""

    #: stderr bytes kept for messages; the rest is read and dropped.
    STDERR_KEEP = 16 * 1024

    def __init__(self, chan: paramiko.Channel, *, label: str, timeout: float) -> None:
        self._chan = chan
        self._label = label
        self._timeout = timeout
        self._stderr = bytearray()
        self._writer: threading.Thread | None = None
        self._writer_error: BaseException | None = None
        self._closing = threading.Event()

    def feed(self, chunks: Iterable[bytes]) -> None:
        """Send ``chunks`` to stdin from a thread, then end stdin (so reading stdout cannot deadlock).

        ``chunks`` may block (paths still being found). A send that waits is
        retried rather than timed out: the device may rightly leave stdin
        unread while it works through earlier input, and a device that stalls
        outright is caught by the timeout on reading its output.
        """

        def write() -> None:
            try:
                for chunk in chunks:
                    data = chunk
                    while data:
                        if self._closing.is_set():
                            return
                        try:
                            sent = self._chan.send(data)
                        except TimeoutError:
                            continue
                        if sent <= 0:
                            raise EOFError("the channel closed")
                        data = data[sent:]
                self._chan.shutdown_write()
            except BaseException as e:  # noqa: BLE001 (reported by chunks() on the caller's thread)
                self._writer_error = e

        self._writer = threading.Thread(target=write, name="attest-ssh-stdin", daemon=True)
        self._writer.start()

    def set_timeout(self, seconds: float) -> None:
        """Let one wait for output last ``seconds`` (a device hashing a large file prints nothing meanwhile)."""
        self._timeout = seconds
        self._chan.settimeout(seconds)

    def chunks(self, *, what: str) -> Iterator[bytes]:
        """Stdout as it arrives, up to end of file.

        Args:
            what: what is awaited, for messages.

        Raises:
            TransportError: the device stopped answering, the connection
                dropped, or sending stdin failed.
        """
        while True:
            try:
                chunk = self._chan.recv(_RECV_ALL)
            except TimeoutError as e:
                raise TransportError(f"{self._label}: timed out after {self._timeout:g} s waiting for {what}") from e
            except _LOST as e:  # recv() also sends window adjustments
                raise TransportError(f"{self._label}: the connection closed while waiting for {what}") from e
            self._drain_stderr()
            if not chunk:
                break
            yield chunk
        if self._writer is not None:
            self._writer.join(self._timeout)
            if self._writer_error is not None:
                raise TransportError(
                    f"{self._label}: sending to the device's command failed: {self._writer_error}"
                ) from self._writer_error

    def read_all(self, limit: int, *, what: str) -> bytes:
        """All of stdout, up to end of file.

        Args:
            limit: most bytes accepted.
            what: what is awaited, for messages.

        Raises:
            TransportError: the device stopped answering, or the connection dropped.
            CollectionError: more than ``limit`` bytes.
        """
        out = bytearray()
        for chunk in self.chunks(what=what):
            out += chunk
            if len(out) > limit:
                raise CollectionError(f"{self._label}: {what}: more than {limit} bytes; the device is misbehaving")
        return bytes(out)

    def _drain_stderr(self) -> None:
        while self._chan.recv_stderr_ready():
            data = self._chan.recv_stderr(1 << 16)
            if not data:
                break
            self._stderr += data[: max(0, self.STDERR_KEEP - len(self._stderr))]

    def exit_status(self, *, what: str) -> int:
        """The command's exit status, once it has exited.

        Raises:
            TransportError: no exit status within the timeout, or the channel closed without one.
        """
        if not self._chan.status_event.wait(self._timeout):
            raise TransportError(f"{self._label}: timed out after {self._timeout:g} s waiting for {what} to exit")
        self._drain_stderr()
        status = self._chan.exit_status
        if status < 0:
            raise TransportError(f"{self._label}: {what}: the connection closed before it reported an exit status")
        return status

    def stderr_text(self) -> str:
        """The start of stderr, safe to show."""
        return printable(bytes(self._stderr), 300)

    def close(self) -> None:
        """Stop feeding stdin and close the channel (a connection that is already gone is not an error here)."""
        self._closing.set()
        with contextlib.suppress(*_LOST):
            self._chan.close()


# -- SFTP -------------------------------------------------------------------------------------------------

_FXP_INIT, _FXP_VERSION = 1, 2
_FXP_OPEN, _FXP_CLOSE, _FXP_READ = 3, 4, 5
_FXP_OPENDIR, _FXP_READDIR = 11, 12
_FXP_STAT, _FXP_READLINK = 17, 19
_FXP_EXTENDED = 200
_FXP_STATUS, _FXP_HANDLE, _FXP_DATA, _FXP_NAME, _FXP_ATTRS = 101, 102, 103, 104, 105
_FXP_EXTENDED_REPLY = 201

_FX_OK, _FX_EOF = 0, 1
#: SFTP status codes, worded as the directory collector words the matching errno.
_FX_TEXT = {2: "No such file or directory", 3: "Permission denied", 8: "Operation not supported"}

_ATTR_SIZE, _ATTR_UIDGID, _ATTR_PERMISSIONS, _ATTR_ACMODTIME = 0x1, 0x2, 0x4, 0x8
_ATTR_EXTENDED = 0x80000000
_FXF_READ = 0x1

#: Largest SFTP packet accepted from the device (OpenSSH sends at most 256 KiB).
_MAX_PACKET = 4 * 1024 * 1024
#: Read length when the server does not announce its limit (the SFTP minimum).
_DEFAULT_READ = 32 * 1024
#: Largest read length asked for, even if the server allows more.
_MAX_READ = 256 * 1024
#: Queued request bytes sent at once. Requests are otherwise sent only when the
#: dock is about to wait for a reply: one SSH packet carries many requests.
_FLUSH_AT = 64 * 1024
#: Requests sent and unanswered below which queued requests are sent at once.
_LOW_WATER = 32
#: Length of the read past a file's listed size that confirms its end.
_PROBE = 4096


class SftpProtocolError(CollectionError):
    """The device sent something that is not SFTP v3."""


@dataclass(frozen=True)
class SftpAttrs:
    """The attributes of one SFTP ``ATTRS`` structure (``None`` where the server left one out)."""

    size: int | None
    uid: int | None
    gid: int | None
    mode: int | None


def _u32(buf: bytes, pos: int) -> tuple[int, int]:
    if pos + 4 > len(buf):
        raise SftpProtocolError("SFTP reply ends inside a number")
    return int.from_bytes(buf[pos : pos + 4], "big"), pos + 4


def _string(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _u32(buf, pos)
    if pos + n > len(buf):
        raise SftpProtocolError("SFTP reply ends inside a string")
    return buf[pos : pos + n], pos + n


def _attrs(buf: bytes, pos: int) -> tuple[SftpAttrs, int]:
    flags, pos = _u32(buf, pos)
    size = uid = gid = mode = None
    if flags & _ATTR_SIZE:
        if pos + 8 > len(buf):
            raise SftpProtocolError("SFTP attributes end inside the size")
        size, pos = int.from_bytes(buf[pos : pos + 8], "big"), pos + 8
    if flags & _ATTR_UIDGID:
        uid, pos = _u32(buf, pos)
        gid, pos = _u32(buf, pos)
    if flags & _ATTR_PERMISSIONS:
        mode, pos = _u32(buf, pos)
    if flags & _ATTR_ACMODTIME:
        _, pos = _u32(buf, pos)
        _, pos = _u32(buf, pos)
    if flags & _ATTR_EXTENDED:
        count, pos = _u32(buf, pos)
        for _ in range(count):
            _, pos = _string(buf, pos)
            _, pos = _string(buf, pos)
    return SftpAttrs(size, uid, gid, mode), pos


def _str(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


#: A reply handler: (reply type, body after the request id, data views of a DATA reply).
Handler = Callable[[int, bytes, Sequence[memoryview]], None]


@dataclass
class _Pending:
    handler: Handler
    op: str
    path: bytes


class _Reader:
    """Exact-length reads from a channel; DATA payloads are handed out as views, not copied."""

    def __init__(
        self,
        chan: paramiko.Channel,
        on_timeout: Callable[[TimeoutError], TransportError],
        before_wait: Callable[[], None],
    ) -> None:
        self._chan = chan
        self._on_timeout = on_timeout
        self._before_wait = before_wait
        self._chunks: deque[bytes] = deque()
        self._off = 0
        self._avail = 0
        self.eof = False

    def _fill(self, n: int) -> None:
        while self._avail < n:
            if not self._chan.recv_ready():
                self._before_wait()
            try:
                data = self._chan.recv(_RECV_ALL)
            except TimeoutError as e:
                raise self._on_timeout(e) from e
            except _LOST:  # recv() also sends window adjustments; a dead link is the end of the stream
                data = b""
            if not data:
                self.eof = True
                return
            self._chunks.append(data)
            self._avail += len(data)

    def views(self, n: int) -> list[memoryview] | None:
        """The next ``n`` bytes as views (``None`` at end of stream)."""
        self._fill(n)
        if self._avail < n:
            return None
        out: list[memoryview] = []
        self._avail -= n
        while n:
            head = self._chunks[0]
            take = min(n, len(head) - self._off)
            out.append(memoryview(head)[self._off : self._off + take])
            self._off += take
            n -= take
            if self._off == len(head):
                self._chunks.popleft()
                self._off = 0
        return out

    def take(self, n: int) -> bytes | None:
        """The next ``n`` bytes (``None`` at end of stream)."""
        views = self.views(n)
        if views is None:
            return None
        return views[0].tobytes() if len(views) == 1 else b"".join(views)


class SftpSession:
    """An SFTP v3 client that pipelines requests.

    Requests are queued with :meth:`request` and answered through their
    handler while :meth:`pump` reads replies; :meth:`walk` and
    :meth:`hash_files` keep many requests in flight. Every wait on the device
    is bounded by ``timeout``; a dropped connection or a timeout raises
    :class:`~attest.errors.TransportError` and a reply that is not SFTP raises
    :class:`SftpProtocolError`, so no operation ends early with a partial answer.
    """

    def __init__(self, chan: paramiko.Channel, *, label: str, timeout: float) -> None:
        self._chan = chan
        self._label = label
        self._timeout = timeout
        self._reader = _Reader(chan, self._timed_out, self.flush)
        self._out = bytearray()
        self._unsent = 0  # requests in _out
        self._pending: dict[int, _Pending] = {}
        self._next_id = 1
        self.max_read = _DEFAULT_READ
        self.max_handles = 64

    # -- plumbing --------------------------------------------------------------------------------------------

    def _awaited(self) -> str:
        if not self._pending:
            return "an SFTP reply"
        first = next(iter(self._pending.values()))
        return f"the SFTP reply to {first.op} {printable(first.path)!r}"

    def _timed_out(self, e: TimeoutError) -> TransportError:
        del e
        return TransportError(f"{self._label}: timed out after {self._timeout:g} s waiting for {self._awaited()}")

    def _closed(self) -> TransportError:
        return TransportError(f"{self._label}: the connection closed while waiting for {self._awaited()}")

    def start(self) -> None:
        """Negotiate version 3 and read the server's limits.

        Raises:
            TransportError: no answer within the timeout.
            SftpProtocolError: the server does not speak SFTP v3.
        """
        self._out += struct.pack(">IBI", 5, _FXP_INIT, 3)
        self.flush()
        head = self._reader.take(5)
        if head is None:
            raise TransportError(f"{self._label}: the SFTP subsystem closed before saying its version")
        length, kind = struct.unpack(">IB", head)
        if kind != _FXP_VERSION or not 5 <= length <= 65536:
            raise SftpProtocolError(f"{self._label}: the SFTP subsystem did not answer with its version")
        body = self._reader.take(length - 1)
        if body is None:
            raise self._closed()
        version, pos = _u32(body, 0)
        if version != 3:
            raise SftpProtocolError(f"{self._label}: SFTP version {version}, expected 3")
        extensions: dict[bytes, bytes] = {}
        while pos < len(body):
            name, pos = _string(body, pos)
            extensions[name], pos = _string(body, pos)
        if b"limits@openssh.com" in extensions:
            self._read_limits()

    def _read_limits(self) -> None:
        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            if kind == _FXP_EXTENDED_REPLY and len(body) >= 32:
                _, max_read, _, max_handles = struct.unpack(">QQQQ", body[:32])
                if max_read:
                    self.max_read = max(1024, min(int(max_read), _MAX_READ))
                if max_handles:
                    self.max_handles = max(1, min(int(max_handles) - 4, 64))

        self.request(_FXP_EXTENDED, _str(b"limits@openssh.com"), got, "limits", b"")
        self.drain()

    def request(self, kind: int, payload: bytes, handler: Handler, op: str, path: bytes) -> None:
        """Queue one request; ``handler`` gets its reply during :meth:`pump`."""
        rid = self._next_id
        self._next_id = (rid + 1) & 0xFFFFFFFF
        self._out += struct.pack(">IBI", len(payload) + 5, kind, rid)
        self._out += payload
        self._pending[rid] = _Pending(handler, op, path)
        self._unsent += 1
        if len(self._out) >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        """Send every queued request.

        Raises:
            TransportError: the device did not accept them within the timeout.
        """
        if not self._out:
            return
        data, self._out, self._unsent = bytes(self._out), bytearray(), 0
        try:
            self._chan.sendall(data)
        except TimeoutError as e:
            raise TransportError(
                f"{self._label}: timed out after {self._timeout:g} s sending SFTP requests (the device stopped reading)"
            ) from e
        except _LOST as e:
            raise TransportError(
                f"{self._label}: the connection closed while sending SFTP requests ({str(e) or type(e).__name__})"
            ) from e

    @property
    def in_flight(self) -> int:
        """Requests sent or queued and not yet answered."""
        return len(self._pending)

    def pump(self) -> None:
        """Read one reply and run its handler; queued requests are sent before waiting for it.

        Raises:
            TransportError: the connection dropped or the device stopped answering.
            SftpProtocolError: the reply is malformed or answers no request.
        """
        if self._out and len(self._pending) - self._unsent < _LOW_WATER:
            self.flush()  # keep the device busy while the dock works through replies
        head = self._reader.take(9)
        if head is None:
            raise self._closed()
        length, kind, rid = struct.unpack(">IBI", head)
        if not 5 <= length <= _MAX_PACKET:
            raise SftpProtocolError(f"{self._label}: SFTP reply of {length} bytes")
        pending = self._pending.pop(rid, None)
        if pending is None:
            raise SftpProtocolError(f"{self._label}: SFTP reply to request {rid}, which was never sent")
        if kind == _FXP_DATA:
            size = self._reader.take(4)
            if size is None:
                raise self._closed()
            (n,) = struct.unpack(">I", size)
            if n != length - 9:
                raise SftpProtocolError(f"{self._label}: SFTP DATA reply with a bad length")
            views = self._reader.views(n)
            if views is None:
                raise self._closed()
            pending.handler(kind, b"", views)
            return
        body = self._reader.take(length - 5)
        if body is None:
            raise self._closed()
        pending.handler(kind, body, ())

    def drain(self) -> None:
        """Pump until every request is answered."""
        while self._pending:
            self.pump()

    def close(self) -> None:
        """Close the channel (a connection that is already gone is not an error here)."""
        with contextlib.suppress(*_LOST):
            self._chan.close()

    def status(self, kind: int, body: bytes, op: str) -> tuple[int, str]:
        """Parse a STATUS reply into (code, message) or raise if ``kind`` is not STATUS.

        Raises:
            SftpProtocolError: the reply is of an unexpected type.
        """
        if kind != _FXP_STATUS:
            raise SftpProtocolError(f"{self._label}: unexpected SFTP reply type {kind} to {op}")
        code, pos = _u32(body, 0)
        text = _FX_TEXT.get(code)
        if text is None:
            msg, _ = _string(body, pos) if pos < len(body) else (b"", pos)
            text = printable(msg) or f"SFTP error {code}"
        return code, text

    # -- blocking conveniences ---------------------------------------------------------------------------------

    def stat(self, path: bytes) -> SftpAttrs | str:
        """``stat`` (following symlinks) of ``path``: its attributes, or an error message."""
        result: list[SftpAttrs | str] = []

        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            if kind == _FXP_ATTRS:
                result.append(_attrs(body, 0)[0])
            else:
                result.append(self.status(kind, body, "STAT")[1])

        self.request(_FXP_STAT, _str(path), got, "STAT of", path)
        self.drain()
        return result[0]

    # -- pipelined operations -------------------------------------------------------------------------------

    def walk(
        self, root: bytes, *, descend: Callable[[bytes], bool], window: int = 64
    ) -> Iterator[tuple[bytes, SftpAttrs | str]]:
        """List the tree below ``root`` without following symlinks, several directories at a time.

        Args:
            root: an absolute directory path.
            descend: called with a subdirectory's path relative to ``root``;
                it is listed only if this returns true.
            window: directories listed at once.

        Yields:
            ``(relative path, lstat attributes)`` for every entry, and
            ``(relative path of a directory, error message)`` for a directory
            that could not be (completely) listed (``b""`` is ``root``).
        """
        base = root.rstrip(b"/") + b"/" if root != b"/" else b"/"
        todo: deque[bytes] = deque([b""])
        active = 0
        out: deque[tuple[bytes, SftpAttrs | str]] = deque()

        def start(rel: bytes) -> None:
            nonlocal active
            active += 1
            path = base + rel if rel else root

            def opened(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
                nonlocal active
                del data
                if kind == _FXP_HANDLE:
                    handle, _ = _string(body, 0)
                    self.request(_FXP_READDIR, _str(handle), listing(handle), "READDIR of", path)
                    return
                active -= 1
                out.append((rel, f"cannot list directory: {self.status(kind, body, 'OPENDIR')[1]}"))

            def listing(handle: bytes) -> Handler:
                def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
                    nonlocal active
                    del data
                    if kind == _FXP_NAME:
                        count, pos = _u32(body, 0)
                        for _ in range(count):
                            name, pos = _string(body, pos)
                            _, pos = _string(body, pos)  # the 'ls -l' line: not used, not trusted
                            attrs, pos = _attrs(body, pos)
                            if name in (b".", b".."):
                                continue
                            if not name or b"/" in name:
                                raise SftpProtocolError(f"{self._label}: SFTP listing holds the name {name!r}")
                            child = rel + b"/" + name if rel else name
                            out.append((child, attrs))
                            if attrs.mode is not None and stat.S_ISDIR(attrs.mode) and descend(child):
                                todo.append(child)
                        self.request(_FXP_READDIR, _str(handle), got, "READDIR of", path)
                        return
                    code, text = self.status(kind, body, "READDIR")
                    active -= 1
                    self.request(_FXP_CLOSE, _str(handle), _ignore, "CLOSE of", path)
                    if code != _FX_EOF:
                        out.append((rel, f"cannot list directory: {text}"))

                return got

            self.request(_FXP_OPENDIR, _str(path), opened, "OPENDIR of", path)

        window = min(window, self.max_handles)
        while todo or active or out:
            while todo and active < window:
                start(todo.popleft())
            while out:
                yield out.popleft()
            if active:
                self.pump()
        self.drain()  # the last CLOSE replies

    def readlinks(self, paths: Sequence[bytes], *, window: int = 64) -> dict[bytes, bytes | str]:
        """The targets of many symlinks: path -> target bytes, or an error message."""
        result: dict[bytes, bytes | str] = {}
        queue = deque(paths)

        def handler(path: bytes) -> Handler:
            def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
                del data
                if kind == _FXP_NAME:
                    count, pos = _u32(body, 0)
                    if count != 1:
                        raise SftpProtocolError(f"{self._label}: READLINK answered with {count} names")
                    result[path], _ = _string(body, pos)
                else:
                    result[path] = f"cannot read link: {self.status(kind, body, 'READLINK')[1]}"

            return got

        while queue or self._pending:
            while queue and len(self._pending) < window:
                path = queue.popleft()
                self.request(_FXP_READLINK, _str(path), handler(path), "READLINK of", path)
            self.pump()
        return result

    def hash_files(
        self,
        jobs: Sequence[tuple[bytes, int | None]],
        *,
        on_bytes: Callable[[int], None] | None = None,
        max_inflight_bytes: int = 8 * 1024 * 1024,
    ) -> dict[bytes, str]:
        """SHA-256 of many files, read whole by the dock, with requests pipelined across files.

        Args:
            jobs: ``(absolute path, expected size or None)``; the size only
                sizes the reads, a file is always read to its end.
            on_bytes: called with each chunk's length.
            max_inflight_bytes: read bytes asked for and not yet received.

        Returns:
            path -> ``sha256:HEX``-less lowercase hex digest, or an error
            message starting with ``cannot read:`` (every job has an entry).

        Raises:
            TransportError: the connection dropped or the device stopped answering.
            SftpProtocolError: a reply is malformed.
        """
        reads = _FileReads(self, on_bytes, max_inflight_bytes)
        for path, size in jobs:
            reads.add(path, size)
        reads.run()
        return reads.results


def _ignore(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
    del kind, body, data


@dataclass
class _File:
    """One file being read: requests in flight, bytes hashed so far, where it ends."""

    path: bytes
    size: int | None
    handle: bytes | None = None
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    hashed: int = 0  # bytes hashed, in order, from offset 0
    next_offset: int = 0  # where the next read request starts
    outstanding: int = 0  # read requests in flight
    end: int | None = None  # the smallest offset the server said is end of file
    parked: dict[int, list[memoryview]] = field(default_factory=dict)  # data that arrived out of order
    failed: tuple[int, str] | None = None  # the lowest offset whose read failed, and why
    error: str | None = None


class _FileReads:
    """The read scheduler behind :meth:`SftpSession.hash_files`."""

    #: Files open at once, and read requests in flight per file.
    PER_FILE = 8

    def __init__(self, session: SftpSession, on_bytes: Callable[[int], None] | None, max_bytes: int) -> None:
        self.s = session
        self.on_bytes = on_bytes
        self.max_bytes = max_bytes
        self.inflight_bytes = 0
        self.queue: deque[_File] = deque()
        self.open: set[int] = set()  # id() of open files
        self.hungry: deque[_File] = deque()  # open files that stopped asking at the byte limit
        self.opening = 0
        self.results: dict[bytes, str] = {}

    def add(self, path: bytes, size: int | None) -> None:
        self.queue.append(_File(path, size))

    def run(self) -> None:
        s = self.s
        while self.queue or self.open or self.opening:
            while self.hungry and self.inflight_bytes < self.max_bytes:
                self._ask(self.hungry.popleft())
            # Open more files while there is room; a file's reads start when its handle arrives.
            while self.queue and len(self.open) + self.opening < s.max_handles and self.inflight_bytes < self.max_bytes:
                f = self.queue.popleft()
                self.opening += 1
                s.request(
                    _FXP_OPEN, _str(f.path) + struct.pack(">II", _FXF_READ, 0), self._opened(f), "OPEN of", f.path
                )
            if not s.in_flight:
                raise RuntimeError("SFTP read scheduler stalled with files still open")  # a bug, not bad data
            s.pump()
        s.drain()  # the last CLOSE replies

    def _opened(self, f: _File) -> Handler:
        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            del data
            self.opening -= 1
            if kind == _FXP_HANDLE:
                f.handle, _ = _string(body, 0)
                self.open.add(id(f))
                self._ask(f)
            else:
                self.results[f.path] = f"cannot read: {self.s.status(kind, body, 'OPEN')[1]}"

        return got

    def _ask(self, f: _File) -> None:
        """Issue reads for ``f`` up to its listed size, then one just past it to see the end, within limits."""
        chunk = self.s.max_read
        while f.end is None and f.error is None and f.failed is None and f.outstanding < self.PER_FILE:
            if f.size is not None and f.next_offset > f.size and f.outstanding:
                return  # the end-of-file probe is in flight; if the file grew, its answer asks again
            if self.inflight_bytes >= self.max_bytes:
                self.hungry.append(f)
                return
            offset = f.next_offset
            if f.size is None:
                length = chunk
            elif offset < f.size:
                length = min(chunk, f.size - offset)
            else:
                length = _PROBE if offset == f.size else chunk
            self._read(f, offset, length)
            f.next_offset = offset + length

    def _read(self, f: _File, offset: int, length: int) -> None:
        assert f.handle is not None  # noqa: S101
        f.outstanding += 1
        self.inflight_bytes += length
        self.s.request(
            _FXP_READ,
            _str(f.handle) + struct.pack(">QI", offset, length),
            self._got(f, offset, length),
            "READ of",
            f.path,
        )

    def _got(self, f: _File, offset: int, length: int) -> Handler:
        def got(kind: int, body: bytes, data: Sequence[memoryview]) -> None:
            f.outstanding -= 1
            self.inflight_bytes -= length
            if kind == _FXP_DATA:
                n = sum(len(v) for v in data)
                if n > length or n == 0:
                    raise SftpProtocolError(f"{self.s._label}: READ of {length} bytes answered with {n}")
                if f.end is not None and offset + n > f.end:
                    f.error = "cannot read: it changed while being read"
                elif f.error is None:
                    f.parked[offset] = list(data)
                    if n < length:  # a short read: ask again for the rest
                        self._read(f, offset + n, length - n)
                    self._hash_parked(f)
            else:
                code, text = self.s.status(kind, body, "READ")
                if code == _FX_EOF:
                    f.end = offset if f.end is None else min(f.end, offset)
                    if f.hashed > f.end or any(o + sum(map(len, v)) > f.end for o, v in f.parked.items()):
                        f.error = "cannot read: it changed while being read"
                elif f.failed is None or offset < f.failed[0]:
                    # Judged at the end: a block device refuses reads past its end
                    # (EINVAL) where a file answers EOF, so a failure beyond the
                    # end the server reports is not an error.
                    f.failed = (offset, text)
            if f.outstanding == 0 and (f.end is not None or f.error is not None or f.failed is not None):
                self._finish(f)
            else:
                self._ask(f)

        return got

    def _hash_parked(self, f: _File) -> None:
        while f.hashed in f.parked:
            views = f.parked.pop(f.hashed)
            for v in views:
                f.digest.update(v)
                f.hashed += len(v)
            if self.on_bytes is not None:
                self.on_bytes(sum(len(v) for v in views))

    def _finish(self, f: _File) -> None:
        if f.error is None and f.failed is not None and (f.end is None or f.failed[0] < f.end):
            f.error = f"cannot read: {f.failed[1]}"
        if f.error is None and (f.parked or f.end != f.hashed):
            f.error = "cannot read: it changed while being read"
        self.results[f.path] = f.error if f.error is not None else f.digest.hexdigest()
        self.open.discard(id(f))
        assert f.handle is not None  # noqa: S101 (only open files finish)
        self.s.request(_FXP_CLOSE, _str(f.handle), _ignore, "CLOSE of", f.path)
