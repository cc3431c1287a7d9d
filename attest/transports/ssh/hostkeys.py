"""Host key pinning: whether the key a server offers is one the dock expects.

A server's key is accepted only if every pin given agrees: the SHA-256
fingerprint a baseline records (:class:`HostKeyPins`) and the entries of an
OpenSSH known_hosts file (:func:`load_known_hosts`). The check runs before
authentication (see :meth:`attest.transports.ssh.connection.SshConnection.open`).

Hand-written here, and why: the known_hosts reader. paramiko's ``HostKeys``
silently skips ``@revoked`` lines and does not match wildcard patterns; a pin
check must not silently ignore either. It only needs (type, blob) pairs, no
key objects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from attest.errors import ConfigError, UntrustedBaselineError
from attest.fsutil import read_bounded
from attest.transports.ssh.target import SshTarget

__all__ = ["MAX_KNOWN_HOSTS", "HostKeyPins", "KnownHostKeys", "fingerprint", "load_known_hosts"]

#: Largest known_hosts file read.
MAX_KNOWN_HOSTS = 16 * 1024 * 1024


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
        ConfigError: the file cannot be read, or is larger than :data:`MAX_KNOWN_HOSTS`.
    """
    data = read_bounded(path, MAX_KNOWN_HOSTS, what="known_hosts file", error=ConfigError)
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
