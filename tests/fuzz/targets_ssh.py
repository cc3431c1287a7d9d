"""Targets for what a companion computer sends over SSH: SFTP replies (listings, names, attributes, data)."""

from __future__ import annotations

from attest.collectors.ssh.devicehash import parse_openssl_dgst
from attest.errors import CollectionError, ConfigError, TransportError
from attest.transports.ssh import SftpLimits, SftpSession, SshTarget, load_known_hosts

from .core import Target, attempt
from .devices import StreamChannel
from .fixtures import workspace
from .recording import sftp_ops, sftp_recording

__all__ = ["TARGETS"]

_SFTP = (TransportError, CollectionError)  # SftpProtocolError is a CollectionError
#: Limits small enough that a fuzz input can reach them, so their checks are fuzzed too.
_LIMITS = SftpLimits(max_file_bytes=1 << 20, max_entries=2000, max_depth=8, max_walk_bytes=64 * 1024)


def _sftp(data: bytes) -> None:
    """An SFTP server's whole output (version, listings, link targets, attributes, file data) to the dock's client.

    The dock's request ids are sequential, so a recorded server stream answers
    the same requests when it is played back.
    """
    session = SftpSession(StreamChannel(data), label="fuzz@device:22", timeout=10, limits=_LIMITS)  # type: ignore[arg-type]
    sftp_ops(session, b"/srv/tree", lambda fn, *args: attempt(_SFTP, fn, *args))


def _sftp_seeds() -> list[bytes]:
    recorded = sftp_recording(workspace().tree)
    # Without OpenSSH's sftp-server, a minimal server: VERSION 3, then end of stream.
    return [recorded] if recorded else [bytes.fromhex("00000005020000000300")]


def _known_hosts(data: bytes) -> None:
    path = workspace().scratch / "known_hosts"
    path.write_bytes(data)
    load_known_hosts(path, SshTarget.parse("ssh://root@drone.local:2222/"))


def _known_hosts_seeds() -> list[bytes]:
    return [
        (
            b"# pinned out of band\n"
            b"[drone.local]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
            b"@revoked * ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==\n"
            b"|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ssh-ed25519 AAAA\n"
        ),
    ]


#: Paths the dock asked the device's ``openssl dgst -sha256 -r`` to hash: a plain one, one with a
#: newline and one with a backslash (OpenSSL 3 escapes the first and not the second).
_DGST_PATHS = [b"usr/bin/px4", b"etc/a\nb", b"opt/x\\y"]


def _openssl_dgst(data: bytes) -> None:
    """The device's ``openssl dgst`` output for three paths, parsed by position (pull mode's cross-check)."""
    parse_openssl_dgst(data, _DGST_PATHS, label="fuzz@device:22")


def _openssl_dgst_seeds() -> list[bytes]:
    digest = b"ab" * 32
    plain = b"".join(digest + b" *" + p + b"\n" for p in _DGST_PATHS)
    openssl3 = b"".join(
        (b"\\" + digest + b" *" + p.replace(b"\n", b"\\n") if b"\n" in p else digest + b" *" + p) + b"\n"
        for p in _DGST_PATHS
    )
    return [plain, openssl3]


TARGETS = [
    Target(
        "sftp",
        "attest.transports.ssh.SftpSession: start, walk, readlinks, stat, hash_files",
        _sftp,
        _SFTP,
        _sftp_seeds,
        64 * 1024,
    ),
    Target(
        "openssl_dgst",
        "attest.collectors.ssh.devicehash.parse_openssl_dgst",
        _openssl_dgst,
        (CollectionError,),
        _openssl_dgst_seeds,
        4 * 1024,
    ),
    Target(
        "known_hosts",
        "attest.transports.ssh.load_known_hosts",
        _known_hosts,
        (ConfigError,),
        _known_hosts_seeds,
        16 * 1024,
    ),
]
